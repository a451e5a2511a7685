import pytest

from agent.platform.base import is_wayland_session, select_backend


def test_unsupported_platform_is_unavailable() -> None:
    backend = select_backend(platform="plan9")
    assert backend.windows_status().startswith("unavailable: ")
    assert backend.window_source().status().startswith("unavailable: ")


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_stub_backends_report_blind(platform: str) -> None:
    backend = select_backend(platform=platform)
    assert backend.keyboard_status().startswith("unavailable: ")


def test_wayland_detection() -> None:
    assert is_wayland_session({"XDG_SESSION_TYPE": "wayland"})
    assert is_wayland_session({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"})
    assert not is_wayland_session({"XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"})


def test_bad_display_is_unavailable_quickly() -> None:
    backend = select_backend(":4711", platform="linux")
    assert backend.windows_status().startswith("unavailable: cannot open X display")
    assert backend.keyboard_status().startswith("unavailable: ")
