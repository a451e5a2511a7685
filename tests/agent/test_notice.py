"""The monitoring notice on each platform."""

import pytest

from agent.notice import TITLE, notification_command


def test_linux_uses_libnotify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/notify-send")
    argv, _env = notification_command("monitored by the college", "linux")  # type: ignore[misc]
    assert argv[0] == "notify-send" and argv[-2:] == [TITLE, "monitored by the college"]


def test_windows_passes_the_text_in_the_environment_not_the_script() -> None:
    hostile = "'; Remove-Item C:\\ -Recurse; '"
    argv, env = notification_command(hostile, "win32")  # type: ignore[misc]
    assert argv[0] == "powershell.exe" and hostile not in " ".join(argv)
    assert env["LANTERN_TEXT"] == hostile


def test_macos_passes_the_text_as_an_argument() -> None:
    hostile = '" & do shell script "rm -rf ~" & "'
    argv, _ = notification_command(hostile, "darwin")  # type: ignore[misc]
    assert argv[0] == "osascript" and argv[-1] == hostile and hostile not in argv[2]


def test_no_notifier_means_none() -> None:
    assert notification_command("x", "sunos5") is None
