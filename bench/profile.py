"""`python -m bench.profile SCENARIO [--seconds S]`: where a server's CPU goes under load.

Starts PostgreSQL and the server the scenario needs, drives the same load as `make
bench`, and samples the server process with py-spy meanwhile. Prints the share of
samples by layer (gRPC's own machinery, the event loop, the database driver, protobuf,
logging and metrics, our code) and the functions with the most samples of their own.
Scenarios: get_room, create_room, book_room, watch (1,000 watchers, a write a second),
notify (the notification service delivering invites to an SMTP sink).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench import ceilings, watch
from bench.clients import invite
from bench.load import LoadSpec, run_load
from bench.seed import seed_rooms
from bench.services import Services, postgres
from tests.postgres import libpq_url
from tests.processes import ServiceProcess

IN_FLIGHT = 32

# How a frame's file names its layer; the first match wins.
LAYERS = (
    ("grpc (its own machinery)", ("grpc/", "grpc_status", "grpc_health", "grpc_reflection")),
    ("event loop (asyncio)", ("asyncio/", "selectors.py")),
    ("database driver (psycopg, pool)", ("psycopg", "psycopg_pool")),
    ("protobuf", ("google/protobuf", "_pb2")),
    ("logging and metrics", ("logging/", "json/", "prometheus_client", "servicekit/logs.py")),
    ("mail (email, icalendar, aiosmtplib)", ("email/", "icalendar", "aiosmtplib")),
    ("ours", ("scheduling_service/", "notification_service/", "servicekit/")),
)


def layer_of(frame: str) -> str:
    for name, markers in LAYERS:
        if any(m in frame for m in markers):
            return name
    return "other (stdlib, interpreter)"


def summarize(raw: Path, top: int = 25) -> str:
    """Layers by samples of their own (the innermost frame), and the busiest functions."""
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        leaf = frames[-1]
        total += count
        own[leaf] += count
        layers[layer_of(leaf)] += count
    lines = [f"{total} samples"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in layers.most_common()]
    lines.append("busiest functions (own samples):")
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def sample(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument(
        "scenario", choices=["get_room", "create_room", "book_room", "watch", "notify"]
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rooms-profile-") as tmp, postgres() as pg:
        logs, raw = Path(tmp), Path(tmp) / "profile.txt"
        with Services(logs) as services:
            if args.scenario == "notify":
                with ceilings.smtp_sink() as sink:
                    notifier = services.notification(sink.port, SMTP_POOL_SIZE="8")
                    message, _ = invite(notifier.address)
                    notify: dict[str, object] = {"message": message}
                    kind = "bench.clients:deliver_invites"
                    _drive(_pid(notifier), kind, notifier.address, 8, notify, args.seconds, raw)
            else:
                url = pg.database("profile")
                server = services.scheduling(url)
                target = server.address
                if args.scenario == "watch":
                    _watch(server, args.seconds, raw)
                else:
                    kind, params = _unary(args.scenario, libpq_url(url), args.seconds)
                    _drive(_pid(server), kind, target, IN_FLIGHT, params, args.seconds, raw)
        print(f"{args.scenario}:")
        print(summarize(raw))
    return 0


def _pid(server: ServiceProcess) -> int:
    assert server.process is not None
    return int(server.process.pid)


def _unary(scenario: str, dsn: str, seconds: float) -> tuple[str, dict[str, object]]:
    if scenario == "get_room":
        rooms = seed_rooms(dsn, 1000, prefix="get")
        return "bench.clients:get_rooms", {"room_ids": rooms.room_ids, "user_prefix": "reader"}
    if scenario == "book_room":
        rooms = seed_rooms(dsn, int(800 * (seconds + 3)), prefix="book")
        return "bench.clients:book_rooms", {"room_ids": rooms.room_ids, "user_prefix": "guest"}
    return "bench.clients:create_rooms", {"user_prefix": "creator"}


def _drive(
    pid: int,
    kind: str,
    target: str,
    in_flight: int,
    params: dict[str, object],
    seconds: float,
    raw: Path,
) -> None:
    spec = LoadSpec(kind, target, in_flight, 1.5, seconds + 1.0, params)
    started = threading.Event()

    def profile_after_warmup() -> None:
        started.wait()
        time.sleep(1.5)
        sample(pid, seconds, raw).wait()

    profiler = threading.Thread(target=profile_after_warmup)
    profiler.start()
    started.set()
    result = run_load([spec])
    profiler.join()
    print(f"{result.throughput:.0f} calls/s while profiled (py-spy samples slow it a little)")


def _watch(server: ServiceProcess, seconds: float, raw: Path) -> None:
    def profile_once_synced() -> None:
        time.sleep(6)  # 1,000 snapshots first; then the live fan-out is what is sampled
        sample(_pid(server), seconds, raw).wait()

    profiler = threading.Thread(target=profile_once_synced)
    profiler.start()
    result = watch.fanout(server.address, _pid(server), 1000, int(seconds) + 8)
    profiler.join()
    print(f"1,000 watchers: delivery p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")


if __name__ == "__main__":
    sys.exit(main())
