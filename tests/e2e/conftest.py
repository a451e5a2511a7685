"""Real-desktop fixtures for end-to-end runs."""

from tests.desktop import desktop, desktop_apps  # noqa: F401 - re-exported pytest fixtures
