"""The relay's retry spacing: exponential, jittered, bounded."""

from __future__ import annotations

import random

from scheduling_service.service_layer.relay import backoff_s


def test_backoff_grows_and_stays_within_bounds() -> None:
    random.seed(7)
    for attempts in range(1, 30):
        ceiling = min(300.0, 1.0 * 2 ** (attempts - 1))
        samples = [backoff_s(attempts, 1.0, 300.0) for _ in range(200)]
        assert all(0.5 <= s <= max(ceiling, 0.5) for s in samples)
    late = [backoff_s(12, 1.0, 300.0) for _ in range(200)]
    early = [backoff_s(2, 1.0, 300.0) for _ in range(200)]
    assert sum(late) / len(late) > 20 * sum(early) / len(early)  # exponential growth
    assert len({round(s, 3) for s in late}) > 100  # jitter spreads the retries
