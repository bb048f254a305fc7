"""Merging busy occurrences into intervals (domain/busy.py merge_busy), against a model
that needs no cleverness: on a grid of minutes, a minute is busy when some occurrence
covers it inside the range. Whatever the occurrences (overlapping, touching, empty,
reversed, outside the range), the merged intervals must cover exactly those minutes,
in order, neither overlapping nor touching; and a cap keeps the earliest ones."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from notification_service.domain.busy import Interval, merge_busy

ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)
GRID = 300  # minutes


def at(minute: int) -> datetime:
    return ORIGIN + timedelta(minutes=minute)


occurrences = st.lists(
    st.builds(
        lambda start, length: Interval(at(start), at(start + length)),
        st.integers(-20, GRID + 20),
        st.integers(-5, 60),
    ),
    max_size=40,
)
ranges = st.tuples(st.integers(0, GRID), st.integers(1, GRID)).map(
    lambda pair: (pair[0], pair[0] + pair[1])
)


def busy_minutes(found: list[Interval], start: int, end: int) -> set[int]:
    return {
        minute
        for minute in range(start, end)
        if any(o.start <= at(minute) and at(minute + 1) <= o.end for o in found)
    }


def minutes_of(intervals: tuple[Interval, ...]) -> set[int]:
    covered: set[int] = set()
    for interval in intervals:
        first = int((interval.start - ORIGIN).total_seconds() // 60)
        last = int((interval.end - ORIGIN).total_seconds() // 60)
        covered |= set(range(first, last))
    return covered


@given(occurrences, ranges)
def test_merged_intervals_cover_exactly_the_busy_minutes(
    found: list[Interval], window: tuple[int, int]
) -> None:
    start, end = window
    merged, cut = merge_busy(found, at(start), at(end))

    assert not cut
    assert minutes_of(merged) == busy_minutes(found, start, end)
    for interval in merged:
        assert at(start) <= interval.start < interval.end <= at(end)
    for before, after in itertools.pairwise(merged):
        assert before.end < after.start  # touching ones were merged


@given(occurrences, ranges, st.integers(1, 5))
def test_the_cap_keeps_the_earliest_intervals(
    found: list[Interval], window: tuple[int, int], limit: int
) -> None:
    start, end = window
    everything, _ = merge_busy(found, at(start), at(end))

    kept, cut = merge_busy(found, at(start), at(end), limit=limit)

    assert kept == everything[:limit]
    assert cut == (len(everything) > limit)


def test_touching_and_nested_occurrences_merge() -> None:
    found = [
        Interval(at(10), at(20)),
        Interval(at(20), at(30)),  # touches
        Interval(at(12), at(15)),  # inside
        Interval(at(40), at(40)),  # empty
        Interval(at(50), at(45)),  # reversed
        Interval(at(-30), at(5)),  # clipped at the start
        Interval(at(90), at(200)),  # clipped at the end
    ]
    merged, cut = merge_busy(found, at(0), at(100))
    assert merged == (
        Interval(at(0), at(5)),
        Interval(at(10), at(30)),
        Interval(at(90), at(100)),
    )
    assert not cut
