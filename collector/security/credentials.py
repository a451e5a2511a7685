"""Secrets: generated tokens (kept only as SHA-256) and passwords (argon2id)."""

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

# Token prefixes make a leaked secret recognisable in logs and secret scanners.
ENROLMENT_PREFIX = "lte_"
API_PREFIX = "lta_"
DEVICE_PREFIX = "ltd_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens have 256 bits of entropy, so a plain SHA-256 is enough (no salt or stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def parse_duration(text: str) -> timedelta:
    """'7d', '12h', '30m', '45s' → timedelta. Raises ValueError with the accepted forms."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds", "w": "weeks"}
    text = text.strip().lower()
    if len(text) >= 2 and text[-1] in units and text[:-1].isdigit():
        return timedelta(**{units[text[-1]]: int(text[:-1])})
    raise ValueError(f"cannot read duration {text!r}: use a number and one of w d h m s, e.g. 7d")
