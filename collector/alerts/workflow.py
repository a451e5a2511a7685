"""The alert lifecycle: new → acknowledged → in_progress → closed, with a required outcome.

These are the rules; collector.alerts.store.AlertStore applies them atomically (a conditional
UPDATE plus an audit row in one transaction), so two staff acting at once cannot both win.

| action       | from                           | to          | notes                                    |
|--------------|--------------------------------|-------------|------------------------------------------|
| acknowledge  | new                            | acknowledged| stops escalation                         |
| assign       | new, acknowledged, in_progress | in_progress | assigning acknowledges a new alert       |
| start        | acknowledged                   | in_progress |                                          |
| note         | any (closed too)               | unchanged   | the record must stay writable            |
| close        | new, acknowledged, in_progress | closed      | outcome required; notes on FP encouraged |
"""

from typing import Final

STATUSES: Final = ("new", "acknowledged", "in_progress", "closed")
OPEN_STATUSES: Final = ("new", "acknowledged", "in_progress")

# The outcomes the DfE standard expects a DSL to record (KCSIE: action taken and outcome).
OUTCOMES: Final = {
    "no_further_action": "No further action",
    "spoke_with_student": "Spoke with the student",
    "early_help": "Early help",
    "social_care_referral": "Referral to children's social care",
    "prevent_referral": "Prevent / Channel referral",
    "police": "Police",
    "false_positive": "False positive",
}

TRANSITIONS: Final[dict[str, tuple[tuple[str, ...], str | None]]] = {
    "acknowledge": (("new",), "acknowledged"),
    "assign": (OPEN_STATUSES, "in_progress"),
    "start": (("acknowledged",), "in_progress"),
    "close": (OPEN_STATUSES, "closed"),
}

MAX_NOTE = 10_000


class WorkflowError(Exception):
    """An action the lifecycle does not allow; `code` is an HTTP-friendly reason."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


def check_outcome(outcome: str) -> str:
    if outcome not in OUTCOMES:
        raise WorkflowError(
            f"unknown outcome {outcome!r}; use one of: {', '.join(OUTCOMES)}", code="invalid"
        )
    return outcome


def check_note(text: str) -> str:
    text = text.strip()
    if not text:
        raise WorkflowError("a note cannot be empty", code="invalid")
    if len(text) > MAX_NOTE:
        raise WorkflowError(f"a note is at most {MAX_NOTE} characters", code="invalid")
    return text


def is_true_positive(outcome: str) -> bool:
    """Every outcome except false_positive means the alert was right to fire."""
    return outcome != "false_positive"
