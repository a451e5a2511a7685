"""Spooled events survive SIGKILL of the sending agent and arrive exactly once (issue 5)."""

import pytest

from bench.agent.offline import run


@pytest.mark.slow
def test_spooled_events_arrive_exactly_once_despite_sigkill_mid_send() -> None:
    result = run(events=5_000, kills=2)
    assert result["stored"] == result["distinct_seq"] == result["max_seq"] == 5_000
