"""The X11 window watcher against a real Xvfb + openbox desktop."""

from __future__ import annotations

import queue
import time

import pytest

from agent.platform.base import WindowInfo
from agent.platform.x11 import X11Backend
from tests.desktop import Desktop

pytestmark = pytest.mark.desktop


def next_info(q: queue.Queue[WindowInfo | None], pred, timeout: float = 3.0) -> WindowInfo:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            info = q.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(info)
        if info is not None and pred(info):
            return info
    raise AssertionError(f"no matching window event; saw {seen}")


def test_focus_titles_pids_and_encodings(desktop_apps: Desktop) -> None:
    desk = desktop_apps
    backend = X11Backend(desk.display)
    assert backend.windows_status() == "ok"
    assert backend.keyboard_status() == "ok"  # Xvfb has RECORD
    events: queue.Queue[WindowInfo | None] = queue.Queue()
    source = backend.window_source()
    source.start(events.put)
    try:
        term = desk.xterm("Essay draft")
        info = next_info(events, lambda i: i.title == "Essay draft")
        assert (info.pid, info.process, info.app_class) == (term.pid, "xterm", "XTerm")

        # xterm writes non-ASCII titles as COMPOUND_TEXT WM_NAME with an embedded UTF-8 segment.
        desk.xterm("Café ✓")
        next_info(events, lambda i: i.title == "Café ✓")

        # Tk sets no _NET_WM_PID: the PID comes from the X-Resource extension.
        tk = desk.tk_window("Tk notes ✓")
        info = next_info(events, lambda i: i.title == "Tk notes ✓")
        assert info.pid == tk.pid and info.app_class == "Tk"

        # A title change on the focused window is reported once (X sends it twice).
        desk.set_title(tk.window, "Renamed")
        next_info(events, lambda i: i.title == "Renamed")
        time.sleep(0.3)
        assert all(i is None or i.title != "Renamed" for i in list(events.queue))

        # Back to the first window.
        desk.activate(term.window)
        next_info(events, lambda i: i.handle == term.window)
        assert source.status() == "ok"
    finally:
        t0 = time.monotonic()
        source.stop()
        assert time.monotonic() - t0 < 1.0
    assert source.status().startswith("unavailable")
