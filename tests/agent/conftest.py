"""Fixtures for the agent's tests: the real X desktop from :mod:`tests.desktop`."""

from tests.desktop import desktop, desktop_apps  # noqa: F401 - re-exported pytest fixtures
