"""Event rate limits: per device and global token buckets (pure logic, a fake clock)."""

import pytest

from collector.ingest.ratelimit import EventRateLimit, TokenBucket


def test_a_bucket_starts_full_refills_at_its_rate_and_never_beyond_its_burst() -> None:
    b = TokenBucket(rate=10, burst=50, updated=0.0)
    assert b.wait_for(50, 0.0) == 0.0
    b.take(50)
    assert b.wait_for(10, 0.0) == pytest.approx(1.0)
    assert b.wait_for(10, 1.0) == 0.0
    assert b.wait_for(51, 100.0) == pytest.approx(0.1)  # capped at 50 however long it waited


def test_a_device_over_its_rate_is_told_to_wait_and_other_devices_are_not() -> None:
    limit = EventRateLimit(device_rate=100, device_burst=500)
    assert limit.admit("a", 500, 0.0).ok
    refused = limit.admit("a", 100, 0.0)
    assert not refused.ok and refused.scope == "device"
    assert refused.retry_after_s == pytest.approx(1.0)
    assert refused.max_events_per_second == 100
    assert limit.admit("b", 500, 0.0).ok, "one device's flood does not starve another"
    assert limit.admit("a", 100, 1.0).ok, "after the wait the same batch is admitted"


def test_a_refused_batch_takes_nothing_from_either_bucket() -> None:
    limit = EventRateLimit(device_rate=1000, device_burst=1000, global_rate=100, global_burst=300)
    assert limit.admit("a", 300, 0.0).ok
    refused = limit.admit("b", 300, 0.0)
    assert not refused.ok and refused.scope == "global"
    assert refused.max_events_per_second == 50, "the global rate shared by the two devices seen"
    # b's own bucket was not charged for the refused batch: it is still full at t=3.
    assert limit.admit("b", 300, 3.0).ok
    assert limit.admit("b", 1, 3.0).scope == "global"


def test_a_burst_is_never_smaller_than_the_largest_batch() -> None:
    limit = EventRateLimit(device_rate=10, device_burst=5, min_burst=1000)
    assert limit.admit("a", 1000, 0.0).ok
    assert limit.admit("a", 1000, 100.0).ok


def test_zero_switches_a_limit_off() -> None:
    limit = EventRateLimit(device_rate=0, device_burst=0)
    assert all(limit.admit("a", 1000, 0.0).ok for _ in range(100))


def test_idle_devices_are_forgotten_once_their_buckets_are_full_again() -> None:
    limit = EventRateLimit(device_rate=100, device_burst=100)
    limit.admit("a", 100, 0.0)
    limit.admit("b", 80, 0.0)
    limit.forget_idle(0.5)  # a has 50 of 100 back, b 70
    assert set(limit._devices) == {"a", "b"}
    limit.forget_idle(2.0)
    assert limit._devices == {}
