"""Login throttling and lockout, from the recorded attempts.

* An account with `ACCOUNT_FAILURES` failed attempts (password or TOTP) inside `WINDOW` is
  locked until the oldest of them leaves the window. The same generic message is shown whether
  or not the account exists, so lockout does not reveal which emails are real.
* One address with `ADDRESS_FAILURES` failures inside `WINDOW` is refused (429) whatever
  account it tries: password spraying across many accounts is caught here.

Every attempt is kept (the sign-in audit); retention purges them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, insert, select

from collector.web.models import login_attempts

WINDOW = timedelta(minutes=15)
ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 20


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str = ""  # "locked" | "throttled"
    retry_after: int = 0  # seconds


class LoginThrottle:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, email: str, ip: str, stage: str, ok: bool, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(login_attempts).values(
                    at=now, email=email.lower()[:320], ip=ip[:64], stage=stage, ok=ok
                )
            )

    def check(self, email: str, ip: str, now: datetime) -> Verdict:
        """May this address try this account now?"""
        a = login_attempts
        since = now - WINDOW
        with self.engine.connect() as conn:
            by_ip = conn.execute(
                select(func.count(), func.min(a.c.at)).where(
                    and_(a.c.ip == ip[:64], a.c.at > since, a.c.ok.is_(False))
                )
            ).one()
            # Failures since the last complete sign-in ("done"): success clears the count.
            last_ok = conn.execute(
                select(func.max(a.c.at)).where(
                    and_(a.c.email == email.lower(), a.c.ok.is_(True), a.c.stage == "done")
                )
            ).scalar()
            floor = max(since, last_ok) if last_ok is not None else since
            fails = (
                conn.execute(
                    select(a.c.at)
                    .where(and_(a.c.email == email.lower(), a.c.at > floor, a.c.ok.is_(False)))
                    .order_by(a.c.at.desc())
                    .limit(ACCOUNT_FAILURES)
                )
                .scalars()
                .all()
            )
        if by_ip[0] >= ADDRESS_FAILURES:
            wait = int((by_ip[1] + WINDOW - now).total_seconds()) + 1
            return Verdict(False, "throttled", max(wait, 1))
        if len(fails) >= ACCOUNT_FAILURES:
            oldest = min(fails)
            wait = int((oldest + WINDOW - now).total_seconds()) + 1
            return Verdict(False, "locked", max(wait, 1))
        return Verdict(True)
