"""Login forms: how the OS user an agent reports becomes keys to look up in the logins table.

Agents report whatever the operating system calls the session user: `s204817` (Linux, macOS,
Windows local or cached domain accounts), `COLLEGE\\s204817` (Windows domain), `LAPTOP-0193\\admin`
(Windows local account), `s204817@college.ac.uk` (Entra-joined Windows). Lookups are
case-insensitive: every stored login and every key is lower-cased here, once.
"""

from fnmatch import fnmatchcase
from typing import Literal

# sam: sAMAccountName / network username; upn: userPrincipalName; email: primary email;
# alias: added by hand (a local account, a renamed profile).
LoginKind = Literal["sam", "upn", "email", "alias"]
LOGIN_KINDS: tuple[LoginKind, ...] = ("sam", "upn", "email", "alias")

SpecialKind = Literal["guest", "shared"]
SPECIAL_KINDS: tuple[SpecialKind, ...] = ("guest", "shared")

# Treated as a guest even before IT configures anything: Windows' and most kiosks' guest account.
BUILTIN_GUEST_LOGINS = ("guest",)


def normalise(login: str) -> str:
    """The stored form of a login: trimmed and lower-cased (`casefold` would turn ß into ss,
    which Windows does not)."""
    return login.strip().lower()


def strip_domain(login: str) -> str:
    """`DOMAIN\\user` -> `user`; `user@domain` -> `user`; anything else unchanged."""
    login = normalise(login)
    if "\\" in login:
        login = login.rsplit("\\", 1)[1]
    if "@" in login:
        login = login.split("@", 1)[0]
    return login


def lookup_keys(os_user: str) -> list[str]:
    """Keys to try, most specific first: the full form, then the bare user name."""
    full = normalise(os_user)
    if not full:
        return []
    keys = [full]
    if "\\" in full:
        keys.append(full.rsplit("\\", 1)[1])
    bare = strip_domain(full)
    if bare and bare not in keys:
        keys.append(bare)
    return keys


def import_logins(
    sam: str | None, upn: str | None, email: str | None
) -> tuple[tuple[str, LoginKind], ...]:
    """The login forms an export row gives (sAMAccountName may itself carry a domain)."""
    forms: list[tuple[str, LoginKind]] = []
    if sam and (value := strip_domain(sam)):
        forms.append((value, "sam"))
    if upn and "@" in upn:
        forms.append((normalise(upn), "upn"))
    if email and "@" in email:
        forms.append((normalise(email), "email"))
    seen: set[str] = set()
    unique = []
    for value, kind in forms:
        if value not in seen:
            seen.add(value)
            unique.append((value, kind))
    return tuple(unique)


def matches_pattern(keys: list[str], pattern: str) -> bool:
    """Special logins may be globs (`exam*`, `library-??`); matched against every key."""
    return any(fnmatchcase(key, pattern) for key in keys)
