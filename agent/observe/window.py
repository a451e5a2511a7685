"""What the focused window is, in the agent's terms, and when to report it.

:func:`describe` turns a platform :class:`~agent.platform.base.WindowInfo` into a
:class:`FocusState`: a human app name, browser and page title, and the two flags that stop typed
text being captured — an app excluded by policy (password managers by default) or a secure
context (password prompts, lock screens). :class:`FocusTracker` decides when a focus event is due:
on every change of window or title, except that a browser's loading placeholders ("New Tab",
"Untitled") wait ~300 ms in case the real title follows.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.observe.browser import parse_browser_title
from agent.platform.base import WindowInfo

DEBOUNCE_S = 0.3

# Programs whose windows only ever take secrets: prompts for passwords/passphrases and screen
# lockers. Typing in them is never captured, whatever the policy says.
_SECURE_PROGRAMS = frozenset(
    {
        "gcr-prompter",
        "ssh-askpass",
        "ksshaskpass",
        "x11-ssh-askpass",
        "lxqt-openssh-askpass",
        "polkit-gnome-authentication-agent-1",
        "polkit-kde-authentication-agent-1",
        "lxpolkit",
        "polkit-mate-authentication-agent-1",
        "xscreensaver",
        "i3lock",
        "slock",
        "xsecurelock",
        "light-locker",
        "gnome-screensaver",
        "xlock",
        "xtrlock",
        "physlock",
        "kscreenlocker_greet",
        "lockapp",
        "logonui",
        "credentialuibroker",
        "consent",
        "loginwindow",
        "screensaverengine",
        "securityagent",
    }
)
_SECURE_PREFIXES = ("pinentry",)
# Window titles of password prompts. A false positive costs a little recall on one window; a
# false negative would capture a password, so this errs wide.
_SECURE_TITLE = re.compile(
    r"\b(?:password|passphrase|passcode|enter\s+pin|authentication\s+required|unlock\s+keyring)\b",
    re.IGNORECASE,
)


def normalise_app_name(name: str) -> str:
    """Lower case, without a Windows ``.exe`` or macOS ``.app`` suffix, for policy comparisons."""
    return name.strip().lower().removesuffix(".exe").removesuffix(".app")


@dataclass(frozen=True)
class FocusState:
    """The focused window as reported in a WindowFocus event, plus capture flags."""

    handle: int
    title: str
    app: str
    process: str
    pid: int | None
    browser: str = ""
    page_title: str = ""
    private: bool = False
    excluded: bool = False  # the app is excluded by policy: no typed text, no title
    secure: bool = False  # a password prompt or lock screen: no typed text
    placeholder: bool = False  # a browser loading/new-tab title, debounced

    @property
    def captures_typing(self) -> bool:
        return not (self.excluded or self.secure)


def describe(info: WindowInfo, excluded_apps: Iterable[str]) -> FocusState:
    """Classify a platform window: app name, browser title, excluded or secure."""
    names = [n for n in (info.process, info.app_instance, info.app_class) if n]
    parsed = parse_browser_title(info.title, *names)
    app = parsed.browser if parsed else (info.app_class or info.process or info.app_instance)
    normalised = {normalise_app_name(n) for n in [*names, app] if n}
    excluded = bool(normalised & {normalise_app_name(a) for a in excluded_apps})
    secure = info.secure or bool(
        normalised & _SECURE_PROGRAMS
        or any(n.startswith(_SECURE_PREFIXES) for n in normalised)
        or _SECURE_TITLE.search(info.title)
    )
    return FocusState(
        handle=info.handle,
        title=info.title,
        app=app,
        process=info.process,
        pid=info.pid,
        browser=parsed.browser if parsed else "",
        page_title=parsed.page_title if parsed else "",
        private=parsed.private if parsed else False,
        excluded=excluded,
        secure=secure,
        placeholder=parsed.is_placeholder if parsed else False,
    )


class FocusTracker:
    """Decides when a focus change is reported: at once, deduplicated, placeholders debounced.

    ``emit`` is called from :meth:`update` or :meth:`poll`, on the caller's thread.
    """

    def __init__(
        self,
        emit: Callable[[FocusState], None],
        *,
        debounce_s: float = DEBOUNCE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._debounce_s = debounce_s
        self._clock = clock
        self._last: tuple[int, str] | None = None
        self._pending: FocusState | None = None
        self._deadline = 0.0

    def update(self, state: FocusState | None) -> None:
        """A new focused window (or title, or nothing focused)."""
        if state is None:
            self._pending = None
            self._last = None  # coming back to the same window is a new focus event
            return
        key = (state.handle, state.title)
        if key == self._last:
            self._pending = None  # back to what was last reported before a placeholder settled
            return
        if state.placeholder:
            if self._pending is None or self._pending.handle != state.handle:
                self._deadline = self._clock() + self._debounce_s
            self._pending = state
            return
        self._pending = None
        self._report(state)

    def deadline(self) -> float | None:
        """When :meth:`poll` next has something to do (monotonic seconds), or None."""
        return self._deadline if self._pending is not None else None

    def poll(self) -> None:
        """Report a placeholder title that has stayed for the debounce interval."""
        if self._pending is not None and self._clock() >= self._deadline:
            state, self._pending = self._pending, None
            self._report(state)

    def _report(self, state: FocusState) -> None:
        self._last = (state.handle, state.title)
        self._emit(state)
