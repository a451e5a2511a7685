"""Entry point of lantern-agent.exe in the Windows bundle (see lantern-agent.spec)."""

import sys

from agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
