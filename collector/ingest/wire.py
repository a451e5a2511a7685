"""Wire messages to store rows: validation and conversion, no I/O.

This runs for every event on the collector's event loop, so it is written for speed (docs/scale.md,
"Where one event's time goes"): event ids are checked with a regex on the canonical form (other
spellings fall back to `uuid.UUID`), times are checked as numbers against bounds computed once per
batch, and a window-focus event's detail is encoded to JSON directly (the store writes that text
instead of running `json.dumps` over the dict again)."""

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _json_str  # type: ignore[attr-defined]
from typing import Any

from collector.store.interface import EventRow
from lantern.v1 import lantern_pb2 as pb

# String limits: anything longer is truncated, never stored whole (titles can be attacker-chosen).
MAX_TITLE = 1024
MAX_SHORT = 255
MAX_SNIPPET = 256

SOURCE_NAMES = {pb.SOURCE_TYPED: "typed", pb.SOURCE_TITLE: "title"}


class InvalidEvent(ValueError):
    """An event that cannot be stored; the reason names the field, never the content."""


@dataclass(frozen=True, slots=True)
class Converted:
    rows: list[EventRow]
    rejected: list[tuple[str, str]]  # (event_id as given, reason)


# Observed times outside this range are a broken clock or a hostile message, not an event.
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
_EARLIEST_S = EARLIEST.timestamp()
_SLACK_S = FUTURE_SLACK.total_seconds()

# The canonical spelling `str(uuid.UUID(x))` gives; anything else goes through uuid.UUID.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _event_id(raw: str) -> str:
    if len(raw) == 36 and _CANONICAL_UUID.fullmatch(raw):
        return raw
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidEvent("event_id is not a UUID") from None


def _ts(ts: Any, latest: float, field: str = "time") -> tuple[datetime, str]:
    """A protobuf Timestamp, if it lies in [EARLIEST, latest], as an aware UTC datetime and as
    the naive-UTC text the store writes ('YYYY-MM-DD HH:MM:SS.ffffff'); microseconds are
    rounded half up."""
    second = ts.seconds
    micro = (ts.nanos + 500) // 1000
    if not 0 <= micro < 1_000_000:  # nanos outside 0..999,999,499: carry into the seconds
        second, micro = divmod(second * 1_000_000 + micro, 1_000_000)
    if not _EARLIEST_S <= second + micro * 1e-6 <= latest:
        raise InvalidEvent(f"{field} out of range")
    prefix = _SECONDS.get(second)
    if prefix is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        prefix = _SECONDS[second] = f"{datetime.fromtimestamp(second, UTC):%Y-%m-%d %H:%M:%S}."
    # Exact: below 2^32 s a float is within 1e-6/4 of second + micro/1e6, and this rounds to µs.
    return datetime.fromtimestamp(second + micro * 1e-6, UTC), f"{prefix}{micro:06d}"


# Whole seconds → 'YYYY-MM-DD HH:MM:SS.' (events of a batch share a few).
_SECONDS: dict[int, str] = {}


def _finite(value: float) -> float:
    """NaN and infinities are not JSON: store 0 rather than poison the batch."""
    return round(value, 2) if math.isfinite(value) else 0.0


def _cut(text: str, limit: int) -> str:
    """Bound a string and drop NUL characters (PostgreSQL text cannot hold them, and no real
    title contains one)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text if len(text) <= limit else text[:limit]


def event_row(
    event: pb.Event, device_id: str, received_at: datetime, latest: float | None = None
) -> EventRow:
    """Validate one wire event and turn it into a store row. `latest`: the newest acceptable
    observed time (epoch seconds; default received_at + FUTURE_SLACK)."""
    if latest is None:
        latest = received_at.timestamp() + _SLACK_S
    event_id = _event_id(event.event_id)
    seq = event.seq
    if not 0 < seq < 2**63:
        raise InvalidEvent("seq must be positive and below 2^63")
    if not event.HasField("observed_at"):
        raise InvalidEvent("observed_at missing")
    observed_at, observed_text = _ts(event.observed_at, latest, "observed_at")
    kind = event.WhichOneof("kind")
    detail: dict[str, Any]
    app = title = detail_json = ""
    if kind == "window_focus":
        # A laptop returns to the same few windows all day: the converted fields of a window
        # are kept, keyed by its wire bytes (rows are read-only, so they may share a detail).
        w = event.window_focus
        key = w.SerializeToString()
        focus = _FOCUS.get(key)
        if focus is None:
            if len(_FOCUS) >= FOCUS_CACHE_SIZE:
                _FOCUS.clear()
            focus = _FOCUS[key] = _window_focus(w)
        app, title, detail, detail_json = focus
    elif kind is None:
        raise InvalidEvent("event has no kind")
    elif kind == "risk_match":
        r = event.risk_match
        if not 1 <= r.severity <= 5:
            raise InvalidEvent("risk_match severity outside 1-5")
        if not r.category or not r.rule:
            raise InvalidEvent("risk_match without category or rule")
        app, title = _cut(r.app, MAX_SHORT), _cut(r.title, MAX_TITLE)
        detail = {
            "category": _cut(r.category, 32),
            "severity": r.severity,
            "rule": _cut(r.rule, 128),
            "matched": _cut(r.matched, 128),
            "snippet": _cut(r.snippet, MAX_SNIPPET),
            "source": SOURCE_NAMES.get(r.source, "typed"),
            "process": _cut(r.process, MAX_SHORT),
            "lexicon_version": _cut(r.lexicon_version, 64),
        }
    elif kind == "circumvention":
        c = event.circumvention
        detail = {"kind": _cut(c.kind, 64), "detail": _cut(c.detail, MAX_TITLE)}
    elif kind == "agent_state":
        s = event.agent_state
        detail = {
            "capabilities": {
                "windows": s.capabilities.windows,
                "keyboard": s.capabilities.keyboard,
                "browser": s.capabilities.browser,
            },
            "agent_version": _cut(s.agent_version, 32),
            "lexicon_version": _cut(s.lexicon_version, 64),
            "rss_bytes": s.rss_bytes,
            "cpu_percent": _finite(s.cpu_percent),
            "platform": _cut(s.platform, 64),
        }
    elif kind == "gap":
        g = event.gap
        detail = {
            "reason": _cut(g.reason, 64),
            "dropped": g.dropped,
            "first_dropped_at": _ts(g.first_dropped_at, latest, "gap time")[0].isoformat(),
            "last_dropped_at": _ts(g.last_dropped_at, latest, "gap time")[0].isoformat(),
        }
    elif kind == "limit_tripped":
        t = event.limit_tripped
        detail = {
            "resource": _cut(t.resource, 16),
            "value": _finite(t.value),
            "limit": _finite(t.limit),
            "component": _cut(t.component, 64),
            "action": _cut(t.action, 64),
        }
    else:  # a newer agent's event kind: refuse clearly rather than store it wrongly
        raise InvalidEvent(f"unknown event kind {kind}")
    return EventRow(
        event_id,
        device_id,
        seq,
        kind,
        observed_at,
        received_at,
        _cut(event.os_user, MAX_SHORT),
        app,
        title,
        detail,
        detail_json or json.dumps(detail),
        observed_text,
    )


# Converted window-focus messages: wire bytes → (app, title, detail, detail as JSON).
FOCUS_CACHE_SIZE = 8192
_FOCUS: dict[bytes, tuple[str, str, dict[str, Any], str]] = {}


def _window_focus(w: pb.WindowFocus) -> tuple[str, str, dict[str, Any], str]:
    process = _cut(w.process, MAX_SHORT)
    browser = _cut(w.browser, MAX_SHORT)
    page_title = _cut(w.page_title, MAX_TITLE)
    url = _cut(w.url, MAX_TITLE)
    pid = w.pid
    private = w.private_window
    detail = {
        "process": process,
        "pid": pid,
        "browser": browser,
        "page_title": page_title,
        "url": url,
        "private_window": private,
    }
    # Exactly json.dumps(detail), without walking the dict again.
    detail_json = (
        f'{{"process": {_json_str(process)}, "pid": {pid:d}, "browser": {_json_str(browser)},'
        f' "page_title": {_json_str(page_title)}, "url": {_json_str(url)},'
        f' "private_window": {"true" if private else "false"}}}'
    )
    return _cut(w.app, MAX_SHORT), _cut(w.title, MAX_TITLE), detail, detail_json


def convert_batch(batch: pb.EventBatch, device_id: str, received_at: datetime) -> Converted:
    latest = received_at.timestamp() + _SLACK_S  # "ahead" means ahead of when it arrived
    rows: list[EventRow] = []
    rejected: list[tuple[str, str]] = []
    append = rows.append
    for event in batch.events:
        try:
            append(event_row(event, device_id, received_at, latest))
        except InvalidEvent as exc:
            rejected.append((event.event_id[:64], str(exc)))
    return Converted(rows, rejected)
