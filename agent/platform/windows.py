"""Windows backend (planned: ctypes ``SetWinEventHook`` for foreground and name changes,
``GetForegroundWindow``, psutil for the process, UI Automation for password fields).

Until it is written the platform reports itself blind rather than failing silently.
"""

from __future__ import annotations

from agent.platform.base import UnavailableBackend


class WindowsBackend(UnavailableBackend):
    """Placeholder: every capability is ``unavailable: Windows backend not implemented``."""

    def __init__(self) -> None:
        super().__init__("windows", "Windows backend not implemented")
