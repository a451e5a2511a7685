"""The monitoring notice, shown at every session start: Lantern never monitors covertly.

Each platform's own notification: libnotify (notify-send) on Linux, a toast through PowerShell's
WinRT bridge on Windows, osascript on macOS. If none can be shown the notice is logged, and
`lantern-agent status` always says what is monitored.
"""

import logging
import shutil
import subprocess
import sys
from collections.abc import Sequence

log = logging.getLogger(__name__)

TITLE = "This device is monitored"

_TOAST = r"""
$ErrorActionPreference = 'Stop'
[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] | Out-Null
$xml = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText02)
$text = $xml.GetElementsByTagName('text')
$text.Item(0).AppendChild($xml.CreateTextNode($env:LANTERN_TITLE)) | Out-Null
$text.Item(1).AppendChild($xml.CreateTextNode($env:LANTERN_TEXT)) | Out-Null
$toast = [Windows.UI.Notifications.ToastNotification]::new($xml)
[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('Lantern').Show($toast)
"""


def notification_command(
    text: str, platform: str = sys.platform
) -> tuple[Sequence[str], dict[str, str]] | None:
    """The command (and extra environment) that shows the notice here, or None if there is none.
    The text travels in the environment or as an argument, never pasted into a script."""
    if platform.startswith("linux") and shutil.which("notify-send"):
        return ["notify-send", "--app-name=Lantern", "--urgency=normal", TITLE, text], {}
    if platform == "win32":
        return (
            ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command", _TOAST],
            {"LANTERN_TITLE": TITLE, "LANTERN_TEXT": text},
        )
    if platform == "darwin":
        script = "on run argv\ndisplay notification (item 2 of argv) with title (item 1 of argv)\nend run"
        return ["osascript", "-e", script, TITLE, text], {}
    return None


def show_notice(text: str) -> str:
    """Show the notice through the platform's notifications; returns how it was shown."""
    import os

    command = notification_command(text)
    if command is not None:
        argv, extra_env = command
        try:
            subprocess.run(
                argv, timeout=10, check=True, capture_output=True, env={**os.environ, **extra_env}
            )
            return argv[0]
        except (subprocess.SubprocessError, OSError) as exc:
            log.info("notification failed (%s); notice logged instead", exc)
    log.warning("%s: %s", TITLE, text)
    return "log"
