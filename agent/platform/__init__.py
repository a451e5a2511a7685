"""Platform backends (X11, Windows, macOS) behind one small interface (see :mod:`.base`)."""

from agent.platform.base import (
    OK,
    PlatformBackend,
    WindowInfo,
    WindowSource,
    select_backend,
    unavailable,
)

__all__ = ["OK", "PlatformBackend", "WindowInfo", "WindowSource", "select_backend", "unavailable"]
