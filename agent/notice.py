"""The monitoring notice, shown at every session start: Lantern never monitors covertly."""

import logging
import shutil
import subprocess
import sys

log = logging.getLogger(__name__)

TITLE = "This device is monitored"


def show_notice(text: str) -> str:
    """Show the notice through the platform's notifications; returns how it was shown."""
    if sys.platform.startswith("linux") and shutil.which("notify-send"):
        try:
            subprocess.run(
                ["notify-send", "--app-name=Lantern", "--urgency=normal", TITLE, text],
                timeout=5,
                check=True,
                capture_output=True,
            )
            return "notify-send"
        except (subprocess.SubprocessError, OSError) as exc:
            log.info("notify-send failed (%s); notice logged instead", exc)
    # Windows toast and macOS notification backends live with their platform code (issue 5).
    log.warning("%s: %s", TITLE, text)
    return "log"
