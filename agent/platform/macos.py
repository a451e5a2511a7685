"""macOS backend (planned: pyobjc NSWorkspace notifications and the Quartz window list, Secure
Event Input respected, Accessibility / Input Monitoring permission state read).

Until it is written the platform reports itself blind rather than failing silently.
"""

from __future__ import annotations

from agent.platform.base import UnavailableBackend


class MacOSBackend(UnavailableBackend):
    """Placeholder: every capability is ``unavailable: macOS backend not implemented``."""

    def __init__(self) -> None:
        super().__init__("macos", "macOS backend not implemented")
