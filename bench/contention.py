"""Contention: `bookers` simultaneous BookRoom calls on one room, round after round.

Runs in a process of its own (see scenarios.py). Each round starts every call at once
(one gather, tokens made beforehand) on a fresh room and waits for all of them; the
next round starts after a short pause. Warm-up rounds (the guests' first calls record
them in the user directory) are not counted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import grpc

from bench.load import CHANNEL_OPTIONS, metadata, percentiles


def run_rounds(
    target: str, room_ids: list[str], bookers: int, warmup_rounds: int
) -> dict[str, Any]:
    return asyncio.run(_rounds(target, room_ids, bookers, warmup_rounds))


async def _rounds(
    target: str, room_ids: list[str], bookers: int, warmup_rounds: int
) -> dict[str, Any]:
    from scheduling.v1 import scheduling_pb2 as pb
    from scheduling.v1 import scheduling_pb2_grpc

    channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
    stub = scheduling_pb2_grpc.SchedulingServiceStub(channel)
    auths = [metadata(f"booker-{n}") for n in range(bookers)]
    latencies: list[float] = []
    round_ms: list[float] = []
    winners: list[int] = []
    outcomes: Counter[str] = Counter()

    async def book(room_id: str, n: int) -> tuple[str, float]:
        started = time.perf_counter()
        try:
            await stub.BookRoom(pb.BookRoomRequest(room_id=room_id), metadata=auths[n], timeout=30)
            code = "OK"
        except grpc.aio.AioRpcError as error:
            code = error.code().name
        return code, (time.perf_counter() - started) * 1000

    try:
        await channel.channel_ready()
        for number, room_id in enumerate(room_ids):
            started = time.perf_counter()
            results = await asyncio.gather(*(book(room_id, n) for n in range(bookers)))
            elapsed = (time.perf_counter() - started) * 1000
            if number >= warmup_rounds:
                codes = Counter(code for code, _ in results)
                outcomes.update(codes)
                winners.append(codes["OK"])
                latencies += [ms for _, ms in results]
                round_ms.append(elapsed)
            await asyncio.sleep(0.05)
    finally:
        await channel.close()
    return {
        "rounds": len(winners),
        "bookers": bookers,
        "winners_per_round": sorted(set(winners)),
        "exactly_one_winner": bool(winners) and all(w == 1 for w in winners),
        "outcomes": dict(outcomes),
        "round_p50_ms": percentiles(round_ms)["p50_ms"],
        **percentiles(latencies),
    }
