"""The console's tables (migration 0004), on the collector's one `metadata`.

Sign-in state (sessions, attempts, TOTP secrets) and the policy editor's keywords, settings and
change log. (The devices coverage expects are the directory's device inventory.)
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from collector.store.models import UTCDateTime, metadata

web_sessions = Table(
    "web_sessions",
    metadata,
    # SHA-256 of the cookie value: a database leak does not hand out live sessions.
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # Per-session synchroniser token, sent back in every form and unsafe API call.
    Column("csrf_token", String(64), nullable=False),
    # False until the TOTP step is passed (dsl and it_admin); such a session reaches nothing.
    Column("mfa_passed", Boolean, nullable=False, default=False),
    # Purpose: the user's own list of where they are signed in. Retention: with the session.
    Column("ip", String(64), nullable=False, default=""),
    Column("revoked", Boolean, nullable=False, default=False),
)
Index("ix_web_sessions_user", web_sessions.c.user_id)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    # Purpose: throttling, lockout and the sign-in audit. Retention: 90 days (retention.py).
    Column("email", String(320), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("stage", String(8), nullable=False),  # password | totp | done (signed in)
    Column("ok", Boolean, nullable=False),
)
Index("ix_login_attempts_email_at", login_attempts.c.email, login_attempts.c.at)
Index("ix_login_attempts_ip_at", login_attempts.c.ip, login_attempts.c.at)

totp_secrets = Table(
    "totp_secrets",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("secret", String(64), nullable=False),  # base32, RFC 6238
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime, nullable=True),  # None until a first code proves set-up
    # The last 30-second step accepted: a code cannot be replayed within its window.
    Column("last_step", BigInteger, nullable=False, default=0),
)

policy_keywords = Table(
    "policy_keywords",
    metadata,
    Column("id", Integer, primary_key=True),
    # add: watch for a phrase the shipped lexicon lacks; remove: stop alerting on one it has.
    Column("action", String(8), nullable=False),
    Column("phrase", String(128), nullable=False),
    Column("category", String(32), nullable=False),
    Column("severity", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("added_by", String(320), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("withdrawn_by", String(320), nullable=True),
    Column("withdrawn_at", UTCDateTime, nullable=True),
)

policy_settings = Table(
    "policy_settings",
    metadata,
    # excluded_apps (list of process names), notice_text (str).
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_by", String(320), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

policy_changes = Table(
    "policy_changes",
    metadata,
    # Append-only: every keyword, excluded-app and notice change, who made it and why.
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(320), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("reason", Text, nullable=False),
)

CONSOLE_TABLES = (
    web_sessions,
    login_attempts,
    totp_secrets,
    policy_keywords,
    policy_settings,
    policy_changes,
)
