"""A real X desktop for tests: Xvfb + openbox on a free display, and helpers to drive it.

Use the ``desktop`` fixture (session scoped: one X server per test run) and its helpers::

    def test_something(desktop: Desktop) -> None:
        term = desktop.xterm("Essay draft")      # a real xterm, focused, with a known title
        desktop.type("hello", delay_ms=20)         # real key events through XTEST
        tk = desktop.tk_window("Notes ✓")         # a Tk window with a focused text entry

Tests that use it should be marked ``@pytest.mark.desktop``. Without Xvfb (or xdotool) the fixture
skips with the reason, so the suite still runs on a machine without a display stack.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest

REQUIRED = ("Xvfb", "xdotool")
INSTALL_HINT = "apt-get install -y --no-install-recommends xvfb openbox xdotool xterm x11-utils"

# A Tk window with a single focused text field: keys typed into it are real text input.
_TK_SCRIPT = r"""
import sys, tkinter as tk
root = tk.Tk()
root.title(sys.argv[1])
root.geometry("400x120+40+40")
entry = tk.Text(root, height=4, width=40)
entry.pack(fill="both", expand=True)
entry.focus_set()
root.mainloop()
"""


# A stand-in for a screen locker (i3lock, xscreensaver): a full-screen override-redirect window
# that grabs the keyboard, so it never becomes the window manager's active window.
_LOCKER_SCRIPT = r"""
import sys, tkinter as tk
root = tk.Tk()
root.title(sys.argv[1])
root.overrideredirect(True)
root.geometry("%dx%d+0+0" % (root.winfo_screenwidth(), root.winfo_screenheight()))
entry = tk.Entry(root, show="*")
entry.pack()
root.update()
root.after(100, lambda: (entry.focus_force(), root.grab_set_global()))
root.mainloop()
"""


class DesktopError(RuntimeError):
    """The test desktop did not do what was asked in time."""


@dataclass
class AppWindow:
    """A window a test opened: its process and X window id."""

    proc: subprocess.Popen[bytes]
    window: int
    title: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3)


@dataclass
class Desktop:
    """A running Xvfb (+ window manager) and helpers that act on it."""

    display: str
    window_manager: str | None
    server: subprocess.Popen[bytes] | None = None  # the Xvfb process (tests may kill it)
    _apps: list[AppWindow] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """The environment for a process on this display."""
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY",)}
        env["DISPLAY"] = self.display
        return env

    def run(self, *args: str, timeout: float = 10.0) -> str:
        """Run an X client (xdotool, xprop…) on this display; returns stdout."""
        out = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if out.returncode != 0:
            raise DesktopError(f"{args[0]} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    # ---------------------------------------------------------------- windows

    def xterm(self, title: str, *, command: str = "cat >/dev/null") -> AppWindow:
        """Open an xterm titled ``title`` running ``command`` (default: swallow input, so typed
        text is never executed), wait until it is visible and focused."""
        if shutil.which("xterm") is None:
            pytest.skip(f"xterm not installed ({INSTALL_HINT})")
        proc = subprocess.Popen(
            ["xterm", "-T", title, "-geometry", "80x10+20+20", "-e", "sh", "-c", command],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self._adopt(proc, title)

    def tk_window(self, title: str) -> AppWindow:
        """Open a Tk window (no ``_NET_WM_PID``: exercises the X-Resource PID fallback)."""
        proc = subprocess.Popen(
            [sys.executable, "-c", _TK_SCRIPT, title],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self._adopt(proc, title)

    def screen_locker(self, title: str = "locker") -> AppWindow:
        """Cover the screen with a fake locker that grabs the keyboard; ``close()`` unlocks."""
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOCKER_SCRIPT, title],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            window = self._window_by_xres_wait(proc.pid, timeout=10.0)
        except BaseException:
            proc.kill()
            raise
        app = AppWindow(proc=proc, window=window, title=title)
        self._apps.append(app)
        time.sleep(0.3)  # the grab is taken 100 ms after mapping
        return app

    def _window_by_xres_wait(self, pid: int, *, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            window = self._window_by_xres(pid)
            if window:
                return window
            time.sleep(0.05)
        raise DesktopError(f"no window for pid {pid} within {timeout}s")

    def _adopt(self, proc: subprocess.Popen[bytes], title: str) -> AppWindow:
        try:
            window = self.wait_for_window(proc.pid, timeout=10.0)
            self.activate(window)
        except BaseException:
            proc.kill()
            raise
        app = AppWindow(proc=proc, window=window, title=title)
        self._apps.append(app)
        return app

    def wait_for_window(self, pid: int, *, timeout: float = 10.0) -> int:
        """The visible top-level window of ``pid`` (``--onlyvisible``: Tk and xterm also own
        hidden helper windows)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--pid", str(pid)],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
            ids = [int(x) for x in out.stdout.split()]
            if ids:
                return ids[-1]
            # Tk sets no _NET_WM_PID, which xdotool's --pid needs: fall back to X-Resource.
            window = self._window_by_xres(pid)
            if window:
                return window
            time.sleep(0.05)
        raise DesktopError(f"no visible window for pid {pid} within {timeout}s")

    def _window_by_xres(self, pid: int) -> int:
        from Xlib import X
        from Xlib import display as xdisplay
        from Xlib import error as xerror
        from Xlib.ext import res

        d = xdisplay.Display(self.display)
        try:
            root = d.screen().root
            for frame in root.query_tree().children:
                try:
                    candidates = [frame, *frame.query_tree().children]
                    for win in candidates:
                        attrs = win.get_attributes()
                        if attrs.map_state != X.IsViewable or win.get_wm_name() is None:
                            continue
                        reply = d.res_query_client_ids(
                            [{"client": win.id, "mask": res.LocalClientPIDMask}]
                        )
                        if any(e.value and e.value[0] == pid for e in reply.ids):
                            return int(win.id)
                except (xerror.BadWindow, xerror.BadDrawable):
                    continue  # closed while we looked
        finally:
            d.close()
        return 0

    def activate(self, window: int, *, timeout: float = 5.0) -> None:
        """Give ``window`` the focus and wait until the window manager says it has it."""
        # Without a window manager there is no _NET_ACTIVE_WINDOW: set the input focus directly.
        action, query = (
            ("windowactivate", "getactivewindow")
            if self.window_manager
            else ("windowfocus", "getwindowfocus")
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            subprocess.run(
                ["xdotool", action, str(window)],
                env=self.env,
                capture_output=True,
                timeout=5,
                check=False,
            )
            if self.active_window(query) == window:
                return
            time.sleep(0.05)
        raise DesktopError(f"window {window:#x} did not get focus within {timeout}s")

    def active_window(self, query: str = "getactivewindow") -> int:
        out = subprocess.run(
            ["xdotool", query],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else 0

    def set_title(self, window: int, title: str) -> None:
        """Change a window's title (WM_NAME and _NET_WM_NAME) as the application would."""
        self.run("xdotool", "set_window", "--name", title, str(window))

    # ---------------------------------------------------------------- keyboard

    def type(self, text: str, *, delay_ms: int = 20) -> None:
        """Type ``text`` into the focused window with real key events (XTEST)."""
        timeout = 10.0 + len(text) * delay_ms / 1000 * 3
        self.run("xdotool", "type", "--delay", str(delay_ms), "--", text, timeout=timeout)

    def key(self, *keys: str) -> None:
        """Press key combinations by keysym name: ``desktop.key("BackSpace", "ctrl+a")``."""
        self.run("xdotool", "key", "--delay", "20", "--", *keys)

    def close_apps(self) -> None:
        """Close every window a test opened (the desktop itself stays up)."""
        while self._apps:
            self._apps.pop().close()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so a killed run (``timeout``,
    Ctrl+C twice) leaves no Xvfb or window manager behind."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_xvfb(extra_args: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], str]:
    # -displayfd: Xvfb picks a free display number itself and writes it to us once it is
    # listening, so parallel runs never collide and nothing sleeps and hopes.
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
            "-noreset",
            *extra_args,
        ],
        pass_fds=(write_fd,),
        preexec_fn=_die_with_parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 15
    try:
        import select

        while time.monotonic() < deadline and not number.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], 0.5)
            if ready:
                chunk = os.read(read_fd, 16)
                if not chunk:
                    break
                number += chunk
            elif proc.poll() is not None:
                break
    finally:
        os.close(read_fd)
    if not number.strip():
        proc.kill()
        raise DesktopError("Xvfb did not report a display number")
    return proc, f":{number.strip().decode()}"


def _start_window_manager(display: str) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    for wm in ("openbox", "fluxbox"):
        if shutil.which(wm) is None:
            continue
        env = {**os.environ, "DISPLAY": display}
        proc = subprocess.Popen(
            [wm],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            out = (
                subprocess.run(
                    ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=5,
                    check=False,
                )
                if shutil.which("xprop")
                else None
            )
            if out is None or "window id" in out.stdout:
                return proc, wm
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.kill()
    return None, None


class DesktopUnavailable(RuntimeError):
    """The machine lacks what a test desktop needs (the message says what to install)."""


@contextlib.contextmanager
def start_desktop(
    *, disable_extensions: Sequence[str] = (), window_manager: bool = True
) -> Iterator[Desktop]:
    """Start Xvfb + a window manager on a free display; stop them on exit.

    For benchmarks, scripts and tests that need an unusual X server (``disable_extensions=
    ["RECORD"]`` for a desktop where keyboard capture is impossible); ordinary tests use the
    ``desktop`` fixture. Raises :class:`DesktopUnavailable` when Xvfb, xdotool or python-xlib is
    missing.
    """
    missing = [tool for tool in REQUIRED if shutil.which(tool) is None]
    if missing:
        raise DesktopUnavailable(f"{', '.join(missing)} not installed ({INSTALL_HINT})")
    try:
        import Xlib  # noqa: F401 - the helpers and the agent both need it
    except ImportError as exc:
        raise DesktopUnavailable("python-xlib not installed") from exc
    xvfb, display = _start_xvfb([a for ext in disable_extensions for a in ("-extension", ext)])
    wm_proc, wm = _start_window_manager(display) if window_manager else (None, None)
    saved_display = os.environ.get("DISPLAY")
    desk = Desktop(display=display, window_manager=wm, server=xvfb)
    try:
        yield desk
    finally:
        desk.close_apps()
        for proc in (wm_proc, xvfb):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
        # The agent's X11 backend sets $DISPLAY for pynput; do not leak it into later code.
        if saved_display is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = saved_display


@pytest.fixture(scope="session")
def desktop() -> Iterator[Desktop]:
    """Xvfb + openbox on a free display for the whole session; skips if the stack is missing."""
    try:
        cm = start_desktop()
        desk = cm.__enter__()
    except DesktopUnavailable as exc:
        pytest.skip(f"no test desktop: {exc}")
    try:
        yield desk
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture
def desktop_apps(desktop: Desktop) -> Iterator[Desktop]:
    """The session desktop, with every window the test opened closed afterwards."""
    try:
        yield desktop
    finally:
        desktop.close_apps()


__all__ = [
    "AppWindow",
    "Desktop",
    "DesktopError",
    "DesktopUnavailable",
    "desktop",
    "desktop_apps",
    "start_desktop",
]
