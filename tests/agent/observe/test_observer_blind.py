"""Desktops where the observer is partly or wholly blind: it says so, and never hangs."""

from __future__ import annotations

import time

import pytest

from agent.observe.observer import ObservePolicy, Observer
from tests.agent.observe.fakes import FakeEngine, ListSink
from tests.desktop import DesktopUnavailable, start_desktop

pytestmark = pytest.mark.desktop


def test_no_record_extension_means_keyboard_unavailable_and_no_hang() -> None:
    try:
        cm = start_desktop(disable_extensions=["RECORD"])
        desk = cm.__enter__()
    except DesktopUnavailable as exc:
        pytest.skip(str(exc))
    try:
        sink = ListSink()
        obs = Observer(FakeEngine(), sink, ObservePolicy(), display=desk.display)
        t0 = time.monotonic()
        obs.start()
        assert time.monotonic() - t0 < 2.0
        caps = obs.capabilities()
        assert caps.keyboard == "unavailable: X server lacks the RECORD extension"
        assert caps.windows == "ok"
        # Windows are still followed.
        desk.xterm("Still seen")
        assert sink.wait_for(lambda e: e.window_focus.title == "Still seen", 3.0) is not None

        # The X server goes away (logout, crash): reported, and stop() still returns at once.
        assert desk.server is not None
        desk.server.kill()
        deadline = time.monotonic() + 3
        while obs.capabilities().windows == "ok" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert obs.capabilities().windows.startswith("unavailable: X connection lost")
        t0 = time.monotonic()
        obs.stop()
        assert time.monotonic() - t0 < 1.0
    finally:
        cm.__exit__(None, None, None)


def test_without_a_window_manager_focus_is_polled() -> None:
    try:
        cm = start_desktop(window_manager=False)
        desk = cm.__enter__()
    except DesktopUnavailable as exc:
        pytest.skip(str(exc))
    try:
        sink = ListSink()
        obs = Observer(FakeEngine(), sink, ObservePolicy(), display=desk.display)
        obs.start()
        try:
            term = desk.xterm("No WM here")
            ev = sink.wait_for(lambda e: e.window_focus.title == "No WM here", 3.0)
            assert ev is not None and ev.window_focus.pid == term.pid
        finally:
            obs.stop()
    finally:
        cm.__exit__(None, None, None)


def test_window_manager_started_after_the_agent() -> None:
    try:
        cm = start_desktop(window_manager=False)
        desk = cm.__enter__()
    except DesktopUnavailable as exc:
        pytest.skip(str(exc))
    import shutil
    import subprocess

    if shutil.which("openbox") is None:
        cm.__exit__(None, None, None)
        pytest.skip("openbox not installed")
    wm = None
    try:
        sink = ListSink()
        obs = Observer(FakeEngine(), sink, ObservePolicy(), display=desk.display)
        obs.start()
        try:
            wm = subprocess.Popen(
                ["openbox"], env=desk.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 5
            while "window id" not in desk.run("xprop", "-root", "_NET_SUPPORTING_WM_CHECK"):
                assert time.monotonic() < deadline, "openbox did not start"
                time.sleep(0.05)
            desk.window_manager = "openbox"
            term = desk.xterm("After the WM")
            ev = sink.wait_for(lambda e: e.window_focus.title == "After the WM", 3.0)
            assert ev is not None and ev.window_focus.pid == term.pid
        finally:
            obs.stop()
    finally:
        if wm is not None:
            wm.terminate()
            wm.wait(5)
        cm.__exit__(None, None, None)
