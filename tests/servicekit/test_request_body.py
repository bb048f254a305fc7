"""The bounds on awaiting a call's request message, as pure logic (the system test is
tests/scheduling_service/test_half_open_requests.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from servicekit.request_body import NoRequest, RequestBodies, RequestNotSent, TooManyPending


async def _never(asked: asyncio.Event | None = None) -> AsyncIterator[str]:
    if asked is not None:
        asked.set()  # the message is being awaited: the call is counted
    await asyncio.Event().wait()
    yield "never"


async def _one(message: str) -> AsyncIterator[str]:
    yield message


async def _none() -> AsyncIterator[str]:
    return
    yield ""


async def test_the_message_is_what_the_call_sent() -> None:
    bodies = RequestBodies(timeout_s=5, max_per_connection=1)
    assert await bodies.receive(_one("hello"), "a") == "hello"
    assert bodies.waiting == 0


async def test_a_message_that_never_comes_times_out_and_frees_its_place() -> None:
    bodies = RequestBodies(timeout_s=0.05, max_per_connection=1)
    with pytest.raises(RequestNotSent):
        await bodies.receive(_never(), "a")
    assert bodies.waiting == 0


async def test_a_call_ended_without_a_message_is_told_so() -> None:
    with pytest.raises(NoRequest):
        await RequestBodies(timeout_s=5, max_per_connection=1).receive(_none(), "a")


async def test_each_connection_has_its_own_count_and_a_cancel_frees_its_place() -> None:
    bodies = RequestBodies(timeout_s=60, max_per_connection=2)
    asked = [asyncio.Event() for _ in range(3)]
    waiting = [asyncio.ensure_future(bodies.receive(_never(asked[i]), "a")) for i in range(2)]
    other = asyncio.ensure_future(bodies.receive(_never(asked[2]), "b"))
    async with asyncio.timeout(5):
        for event in asked:
            await event.wait()
    with pytest.raises(TooManyPending):
        await bodies.receive(_one("x"), "a")
    waiting[0].cancel()
    await asyncio.gather(waiting[0], return_exceptions=True)
    assert await bodies.receive(_one("x"), "a") == "x"
    for task in (waiting[1], other):
        task.cancel()
    await asyncio.gather(waiting[1], other, return_exceptions=True)
    assert bodies.waiting == 0
