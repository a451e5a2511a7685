"""Real-desktop fixtures for end-to-end runs: the desktop, and a real agent on it."""

from tests.desktop import desktop, desktop_apps  # noqa: F401 - re-exported pytest fixtures
from tests.e2e.agent import agent  # noqa: F401 - re-exported pytest fixture
