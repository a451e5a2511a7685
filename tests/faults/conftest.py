"""Fault tests: real collector processes killed, networks cut, PostgreSQL restarted."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long-running fault or scale test")
