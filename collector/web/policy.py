"""The policy editor's data: keyword changes, excluded apps and the monitoring notice.

The DfE expects a school to adjust its monitoring list to its own context, and to be able to
show who changed what and why. So every change carries a reason and is written twice, in one
transaction: to `policy_changes` (the editor's own history) and to the hash-chained audit log.

`PolicyOverrides` is what ingest and the trigger engine read to apply the edits (see
docs/console.md for the wiring).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert, select, update

from collector.clock import utcnow
from collector.store import Store, policy_generation
from collector.web.audit import append, write
from collector.web.models import policy_changes, policy_keywords, policy_settings
from lantern.detection.lexicon import CATEGORIES

if TYPE_CHECKING:
    from lantern.v1 import lantern_pb2 as pb

MAX_PHRASE = 128
MAX_NOTICE = 2000
MAX_APPS = 200
DEFAULT_NOTICE = (
    "This college device is monitored for safeguarding. Window titles and risk terms you "
    "type are checked to keep students safe; typed text never leaves this device. "
    "Questions: ask your college's Designated Safeguarding Lead."
)
DEFAULT_EXCLUDED_APPS = ("keepassxc", "keepass", "1password", "bitwarden", "lastpass")


class PolicyEditError(ValueError):
    """A change the editor refuses, with a message for the page."""


@dataclass(frozen=True, slots=True)
class Keyword:
    id: int
    action: str  # add | remove
    phrase: str
    category: str
    severity: int
    reason: str
    added_by: str
    added_at: datetime
    active: bool


@dataclass(frozen=True, slots=True)
class PolicyOverrides:
    """The console's edits on top of the shipped lexicon and base policy."""

    added: tuple[Keyword, ...]
    removed: tuple[Keyword, ...]
    excluded_apps: tuple[str, ...]
    notice_text: str


def _engine(store: Store) -> Engine:
    engine: Engine = store.engine  # type: ignore[attr-defined]
    return engine


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) < 3:
        raise PolicyEditError("give a reason for the change (it is kept with the change)")
    return reason[:1000]


def _log(conn: Any, actor: str, kind: str, detail: dict[str, Any], reason: str) -> None:
    conn.execute(
        insert(policy_changes).values(
            at=utcnow(), actor=actor, kind=kind, detail=detail, reason=reason
        )
    )
    append(conn, actor, f"policy.{kind}", "policy", kind, {**detail, "reason": reason})
    # Every editor change is in agents' policies (notice, exclusions, keywords): connected agents
    # get it at their next heartbeat. Last in the transaction, after the audit chain's lock.
    policy_generation.bump(conn)


def keywords(store: Store, include_withdrawn: bool = False) -> list[Keyword]:
    k = policy_keywords
    query = select(
        k.c.id,
        k.c.action,
        k.c.phrase,
        k.c.category,
        k.c.severity,
        k.c.reason,
        k.c.added_by,
        k.c.added_at,
        k.c.active,
    ).order_by(k.c.category, k.c.phrase)
    if not include_withdrawn:
        query = query.where(k.c.active.is_(True))
    with _engine(store).connect() as conn:
        return [Keyword(*r) for r in conn.execute(query)]


def add_keyword(
    store: Store, actor: str, action: str, phrase: str, category: str, severity: int, reason: str
) -> None:
    """action "add": watch for a new phrase; "remove": stop alerting on a shipped one."""
    if action not in ("add", "remove"):
        raise PolicyEditError("choose add or remove")
    phrase = " ".join(phrase.lower().split())
    if not 2 <= len(phrase) <= MAX_PHRASE:
        raise PolicyEditError(f"a keyword is 2 to {MAX_PHRASE} characters")
    if category not in CATEGORIES:
        raise PolicyEditError(f"unknown category {category!r}")
    if not 1 <= severity <= 5:
        raise PolicyEditError("severity is 1 to 5")
    reason = _reason(reason)
    k = policy_keywords
    with write(store) as conn:
        clash = conn.execute(
            select(k.c.id).where(
                k.c.phrase == phrase, k.c.category == category, k.c.active.is_(True)
            )
        ).first()
        if clash is not None:
            raise PolicyEditError("that keyword already has an active change; withdraw it first")
        conn.execute(
            insert(k).values(
                action=action,
                phrase=phrase,
                category=category,
                severity=severity,
                reason=reason,
                added_by=actor,
                added_at=utcnow(),
                active=True,
            )
        )
        _log(
            conn,
            actor,
            f"keyword_{action}",
            {"phrase": phrase, "category": category, "severity": severity},
            reason,
        )


def withdraw_keyword(store: Store, actor: str, keyword_id: int, reason: str) -> None:
    """Undo a keyword change (the row stays, marked withdrawn)."""
    reason = _reason(reason)
    k = policy_keywords
    with write(store) as conn:
        row = conn.execute(
            select(k.c.phrase, k.c.category, k.c.action).where(
                k.c.id == keyword_id, k.c.active.is_(True)
            )
        ).first()
        if row is None:
            raise PolicyEditError("no such active keyword change")
        conn.execute(
            update(k)
            .where(k.c.id == keyword_id)
            .values(active=False, withdrawn_by=actor, withdrawn_at=utcnow())
        )
        _log(
            conn,
            actor,
            "keyword_withdraw",
            {"id": keyword_id, "phrase": row[0], "category": row[1], "was": row[2]},
            reason,
        )


def _setting(conn: Any, key: str, default: Any) -> Any:
    value = conn.execute(
        select(policy_settings.c.value).where(policy_settings.c.key == key)
    ).scalar()
    return default if value is None else value


def _put_setting(conn: Any, key: str, value: Any, actor: str) -> None:
    s = policy_settings
    res = conn.execute(
        update(s).where(s.c.key == key).values(value=value, updated_by=actor, updated_at=utcnow())
    )
    if res.rowcount == 0:
        conn.execute(insert(s).values(key=key, value=value, updated_by=actor, updated_at=utcnow()))


def excluded_apps(store: Store) -> list[str]:
    with _engine(store).connect() as conn:
        return list(_setting(conn, "excluded_apps", list(DEFAULT_EXCLUDED_APPS)))


def notice_text(store: Store) -> str:
    with _engine(store).connect() as conn:
        return str(_setting(conn, "notice_text", DEFAULT_NOTICE))


def change_excluded_app(store: Store, actor: str, app: str, add: bool, reason: str) -> None:
    app = app.strip().lower()
    if not app or len(app) > 255 or any(ch in app for ch in "\r\n\t"):
        raise PolicyEditError("give the application's process name, e.g. keepassxc")
    reason = _reason(reason)
    with write(store) as conn:
        apps = list(_setting(conn, "excluded_apps", list(DEFAULT_EXCLUDED_APPS)))
        if add:
            if app in apps:
                raise PolicyEditError(f"{app} is already excluded")
            if len(apps) >= MAX_APPS:
                raise PolicyEditError(f"at most {MAX_APPS} excluded applications")
            apps.append(app)
        else:
            if app not in apps:
                raise PolicyEditError(f"{app} is not excluded")
            apps.remove(app)
        _put_setting(conn, "excluded_apps", sorted(apps), actor)
        _log(
            conn, actor, "excluded_app_add" if add else "excluded_app_remove", {"app": app}, reason
        )


def set_notice_text(store: Store, actor: str, text: str, reason: str) -> None:
    text = text.strip().replace("\r\n", "\n")
    if not 20 <= len(text) <= MAX_NOTICE:
        raise PolicyEditError(f"the notice is 20 to {MAX_NOTICE} characters")
    reason = _reason(reason)
    with write(store) as conn:
        before = str(_setting(conn, "notice_text", DEFAULT_NOTICE))
        if before == text:
            raise PolicyEditError("the notice is unchanged")
        _put_setting(conn, "notice_text", text, actor)
        _log(conn, actor, "notice_text", {"chars": len(text)}, reason)


def change_log(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    c = policy_changes
    with _engine(store).connect() as conn:
        rows = conn.execute(select(c).order_by(c.c.id.desc()).limit(limit)).mappings()
        return [dict(r) for r in rows]


def apply_to_base(base: "pb.Policy", engine: Engine) -> "pb.Policy":
    """The collector's base policy with the editor's notice and exclusions (where set).

    Ingest calls this before group policies refine it, so the editor's settings are the
    fleet-wide defaults and a group can still add exclusions of its own.
    """
    from lantern.v1 import lantern_pb2 as pb

    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                select(policy_settings.c.key, policy_settings.c.value).where(
                    policy_settings.c.key.in_(("notice_text", "excluded_apps"))
                )
            ).all()
        )
    if not rows:
        return base
    out = pb.Policy()
    out.CopyFrom(base)
    if "notice_text" in rows:
        out.notice_text = str(rows["notice_text"])
    if "excluded_apps" in rows:
        del out.excluded_apps[:]
        out.excluded_apps.extend(str(app) for app in rows["excluded_apps"])
    return out


def overrides(engine: Engine) -> PolicyOverrides:
    """Everything the editor has set, for ingest (notice, exclusions) and triggers (keywords)."""
    k = policy_keywords
    with engine.connect() as conn:
        rows = [
            Keyword(*r)
            for r in conn.execute(
                select(
                    k.c.id,
                    k.c.action,
                    k.c.phrase,
                    k.c.category,
                    k.c.severity,
                    k.c.reason,
                    k.c.added_by,
                    k.c.added_at,
                    k.c.active,
                ).where(k.c.active.is_(True))
            )
        ]
        apps = tuple(_setting(conn, "excluded_apps", list(DEFAULT_EXCLUDED_APPS)))
        notice = str(_setting(conn, "notice_text", DEFAULT_NOTICE))
    return PolicyOverrides(
        added=tuple(r for r in rows if r.action == "add"),
        removed=tuple(r for r in rows if r.action == "remove"),
        excluded_apps=apps,
        notice_text=notice,
    )


def local_keywords(store: Store) -> list["pb.LocalKeyword"]:
    """The editor's active keyword changes, as pushed to agents and used for titles."""
    from lantern.v1 import lantern_pb2 as pb

    return [
        pb.LocalKeyword(
            id=k.id, action=k.action, phrase=k.phrase, category=k.category, severity=k.severity
        )
        for k in keywords(store)
        if k.active
    ]
