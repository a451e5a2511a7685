"""Browser titles from a real Chromium on the test desktop."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.parse

import pytest

from agent.observe.observer import ObservePolicy, Observer
from tests.agent.observe.fakes import FakeEngine, ListSink
from tests.desktop import Desktop

pytestmark = [pytest.mark.desktop, pytest.mark.browser]

# FINDINGS.md: flags that work as root here; one browser per test run (~1 GB RSS).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--new-window",
]

PAGE = """<title>Homework help</title><p>hello</p>
<script>setTimeout(() => { document.title = "Revision notes"; }, 1500);</script>"""


def test_chromium_page_titles(desktop_apps: Desktop) -> None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("Debian's chromium is not installed")
    sink = ListSink()
    obs = Observer(FakeEngine(), sink, ObservePolicy(), display=desktop_apps.display)
    obs.start()
    profile = tempfile.mkdtemp(prefix="lantern-chromium-")
    url = "data:text/html," + urllib.parse.quote(PAGE)
    browser = subprocess.Popen(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
        env=desktop_apps.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ev = sink.wait_for(lambda e: e.window_focus.page_title == "Homework help", 30.0)
        assert ev is not None, [e.window_focus.title for e in sink.of_kind("window_focus")]
        wf = ev.window_focus
        assert (wf.browser, wf.title, wf.process) == (
            "Chromium",
            "Homework help - Chromium",
            "chromium",
        )
        assert wf.pid > 0 and not wf.private_window
        # A title changed by the page's script is a new focus event.
        ev = sink.wait_for(lambda e: e.window_focus.page_title == "Revision notes", 5.0)
        assert ev is not None
        assert obs.capabilities().browser == "ok"
    finally:
        obs.stop()
        browser.terminate()
        try:
            browser.wait(5)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait(5)
        shutil.rmtree(profile, ignore_errors=True)
    titles = [e.window_focus.title for e in sink.of_kind("window_focus")]
    print("\nchromium focus titles:", titles, f"at {time.strftime('%H:%M:%S')}")
