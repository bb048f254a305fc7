"""Load-generator processes: a fixed number of calls in flight, warm-up, measured window.

The parent starts one process per `LoadSpec` (multiprocessing, spawn), waits until
every one has set up its clients, then gives them all the same wall-clock start. Each
process runs `in_flight` workers that call back to back: calls finishing during the
warm-up are not counted; calls finishing in the window are counted and timed.

A load "kind" is `module:function` (see bench.clients and bench.ceilings), an async
factory `setup(spec) -> Client` whose `caller(worker)` returns the coroutine function
one worker repeats. gRPC errors are counted by status code; other exceptions by class
name.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing as mp
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, Protocol

import grpc
import jwt
from google.protobuf.timestamp_pb2 import Timestamp

from tests.processes import JWT_SECRET

Call = Callable[[], Awaitable[object]]

# Separate connections for separate channels in one process (otherwise grpc shares
# one subchannel per target), and no message size surprises.
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]


class Exhausted(Exception):
    """A worker used up its share of rows (e.g. the rooms left to book)."""


class Client(Protocol):
    def caller(self, worker: int) -> Call: ...

    async def close(self) -> None: ...


@dataclass
class LoadSpec:
    kind: str  # "module:function", see the module docstring
    target: str
    in_flight: int
    warmup_s: float
    measure_s: float
    params: dict[str, Any] = field(default_factory=dict)
    index: int = 0  # this process among the scenario's load processes


@dataclass
class LoadResult:
    count: int = 0
    window_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.count / self.window_s if self.window_s else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "window_s": round(self.window_s, 3),
            "throughput": round(self.throughput, 1),
            "errors": dict(self.errors),
            **percentiles(self.latencies_ms),
        }


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": at(1.0)}


def token(user_id: str, ttl_s: int = 3600) -> str:
    body = {"sub": user_id, "exp": int(time.time()) + ttl_s, "email": f"{user_id}@example.test"}
    return jwt.encode(body, JWT_SECRET, algorithm="HS256")


def metadata(user_id: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token(user_id)}"),)


def ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def channels(target: str, count: int) -> list[grpc.aio.Channel]:
    return [grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) for _ in range(count)]


# --- the process ---------------------------------------------------------------------


def _error_name(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code().name
    return type(error).__name__


async def drive(spec: LoadSpec, client: Client, start_wall: float) -> LoadResult:
    """Run the workers from `start_wall` (time.time()) through warm-up and window."""
    offset = time.perf_counter() - time.time()
    begin = start_wall + offset
    measure_from = begin + spec.warmup_s
    measure_to = measure_from + spec.measure_s
    result = LoadResult(window_s=spec.measure_s)
    errors: Counter[str] = Counter()
    await asyncio.sleep(max(0.0, begin - time.perf_counter()))

    async def worker(n: int) -> None:
        call = client.caller(n)
        while (started := time.perf_counter()) < measure_to:
            try:
                await call()
                failed = None
            except Exhausted:
                errors["rows exhausted"] += 1
                return
            except Exception as error:  # counted, the load goes on
                failed = _error_name(error)
            ended = time.perf_counter()
            if measure_from <= ended < measure_to:
                if failed is None:
                    result.count += 1
                    result.latencies_ms.append((ended - started) * 1000)
                else:
                    errors[failed] += 1

    await asyncio.gather(*(worker(n) for n in range(spec.in_flight)))
    result.errors = dict(errors)
    return result


def resolve(kind: str) -> Callable[[LoadSpec], Awaitable[Client]]:
    module, _, name = kind.partition(":")
    factory: Callable[[LoadSpec], Awaitable[Client]] = getattr(
        importlib.import_module(module), name
    )
    return factory


def _child(conn: Connection, spec: LoadSpec) -> None:
    async def main() -> LoadResult:
        client = await resolve(spec.kind)(spec)
        conn.send("ready")
        start_wall = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        try:
            return await drive(spec, client, start_wall)
        finally:
            await client.close()

    try:
        conn.send(asyncio.run(main()))
    except BaseException as error:
        conn.send(RuntimeError(f"load process {spec.kind} failed: {error!r}"))
        raise


def run_load(specs: list[LoadSpec], *, start_delay_s: float = 0.2) -> LoadResult:
    """Run the specs in parallel processes; the merged result."""
    ctx = mp.get_context("spawn")
    pipes: list[Connection] = []
    processes = []
    for spec in specs:
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_child, args=(child, spec), daemon=True)
        process.start()
        pipes.append(parent)
        processes.append(process)
    try:
        for pipe in pipes:
            _expect(pipe, "ready", 60)
        start = time.time() + start_delay_s
        for pipe in pipes:
            pipe.send(start)
        budget = start_delay_s + max(s.warmup_s + s.measure_s for s in specs) + 60
        results = [_expect(pipe, LoadResult, budget) for pipe in pipes]
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    merged = LoadResult(window_s=specs[0].measure_s)
    errors: Counter[str] = Counter()
    for r in results:
        merged.count += r.count
        merged.latencies_ms += r.latencies_ms
        errors.update(r.errors)
    merged.errors = dict(errors)
    return merged


def _expect(pipe: Connection, what: object, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise TimeoutError(f"load process silent for {timeout}s")
    message = pipe.recv()
    if isinstance(message, BaseException):
        raise message
    if isinstance(what, type) and not isinstance(message, what):
        raise RuntimeError(f"load process sent {message!r}")
    if not isinstance(what, type) and message != what:
        raise RuntimeError(f"load process sent {message!r}, expected {what!r}")
    return message


def split(values: list[Any], parts: int) -> list[list[Any]]:
    return [values[i::parts] for i in range(parts)]
