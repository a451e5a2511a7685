"""TOTP second factor (RFC 6238) for dsl and it_admin, with pyotp.

A secret is created on first sign-in and shown once (key and otpauth URI for an authenticator
app); it is confirmed by the first valid code. A code is accepted for its 30-second step and
one step either side (clock drift), and never twice: the last step used is stored.
"""

from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from collector.web.models import totp_secrets

# Roles that hold student data or can change what is monitored need the second factor.
ROLES_NEEDING_TOTP = frozenset({"dsl", "it_admin"})
ISSUER = "Lantern"


def needs_totp(role: str) -> bool:
    return role in ROLES_NEEDING_TOTP


class TotpStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def confirmed(self, user_id: int) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(totp_secrets.c.confirmed_at).where(totp_secrets.c.user_id == user_id)
            ).first()
        return row is not None and row[0] is not None

    def pending_secret(self, user_id: int, now: datetime) -> str:
        """The unconfirmed secret for set-up, creating one if needed. Never for confirmed users."""
        t = totp_secrets
        with self.engine.begin() as conn:
            row = conn.execute(
                select(t.c.secret, t.c.confirmed_at).where(t.c.user_id == user_id)
            ).first()
            if row is not None:
                if row[1] is not None:
                    raise PermissionError("the second factor is already set up")
                return str(row[0])
            import pyotp  # imported on use: the console still loads if the package is missing

            secret = pyotp.random_base32()
            conn.execute(
                insert(t).values(
                    user_id=user_id, secret=secret, created_at=now, confirmed_at=None, last_step=0
                )
            )
            return secret

    def verify(self, user_id: int, code: str, now: datetime) -> bool:
        """Check a code; on success confirm the secret and burn the step."""
        code = "".join(ch for ch in code if ch.isdigit())
        if len(code) != 6:
            return False
        t = totp_secrets
        with self.engine.begin() as conn:
            row = conn.execute(
                select(t.c.secret, t.c.last_step, t.c.confirmed_at).where(t.c.user_id == user_id)
            ).first()
            if row is None:
                return False
            import pyotp

            totp = pyotp.TOTP(row[0])
            step_now = int(now.timestamp()) // totp.interval
            for step in (step_now, step_now - 1, step_now + 1):
                if step <= row[1]:
                    continue  # already used, or older than a used one: a replay
                if pyotp.utils.strings_equal(totp.generate_otp(step), code):
                    conn.execute(
                        update(t)
                        .where(t.c.user_id == user_id, t.c.last_step == row[1])
                        .values(last_step=step, confirmed_at=row[2] or now)
                    )
                    return True
        return False

    def reset(self, user_id: int) -> None:
        """IT resets a lost authenticator: the user sets up a new one at next sign-in."""
        from sqlalchemy import delete

        with self.engine.begin() as conn:
            conn.execute(delete(totp_secrets).where(totp_secrets.c.user_id == user_id))


def provisioning_uri(secret: str, email: str) -> str:
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
