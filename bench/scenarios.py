"""The scenarios, in groups that share a database and servers.

Every scenario stores a dict in `Bench.results` under its name; report.py turns
them into ratios against the ceilings of the same run (echo, pg, smtp).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import psycopg

from bench import busy_read, calendar_backlog, ceilings, contention, data_layer, listing, watch
from bench.clients import invite
from bench.load import LoadSpec, run_load, split
from bench.seed import seed_history, seed_rooms
from bench.services import Postgres, Services
from tests.postgres import libpq_url

IN_FLIGHT = 32  # the unary throughput scenarios and their ceilings
LOAD_PROCESSES = 2
NOTIFY_IN_FLIGHT = 8
BOOKERS = 100
WATCHERS = 1000

SCENARIOS = (
    "echo",
    "pg",
    "get_room",
    "create_room",
    "book_room",
    "contention",
    "list_1k",
    "list_100k",
    "bookable_1k",
    "bookable_100k",
    "query_1k",
    "query_100k",
    "watch_fanout",
    "watch_replicas",
    "smtp",
    "notify",
    "data_layer",
    "book_growth",
    "invite_backlog",
    "calendar_backlog",
    "busy_read",
)
# BookRoom measured after the tables hold this many booked rooms (with what a booking
# leaves behind: slots, invites, reminders, change log), first few, then many.
GROWTH = (1500, 14000)
BACKLOG_LIMIT_S = 120.0


@dataclass
class Bench:
    pg: Postgres
    log_dir: Path
    quick: bool
    only: set[str]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: Callable[[str], None] = print
    # SCHEDULING_WORKERS for the room scenarios; the clients then open 4 connections
    # per worker so that the kernel's SO_REUSEPORT hashing reaches every worker.
    workers: int = 1

    @property
    def connections(self) -> int:
        return 1 if self.workers == 1 else 4 * self.workers

    @property
    def warmup_s(self) -> float:
        return 0.5 if self.quick else 2.0

    @property
    def measure_s(self) -> float:
        return 1.5 if self.quick else 6.0

    def wants(self, *names: str) -> bool:
        return any(n in self.only for n in names)

    def load(
        self,
        name: str,
        kind: str,
        target: str,
        in_flight: int,
        processes: int = 1,
        params: Callable[[int], dict[str, Any]] = lambda i: {},
    ) -> dict[str, Any]:
        specs = [
            LoadSpec(
                kind,
                target,
                in_flight // processes,
                self.warmup_s,
                self.measure_s,
                {"processes": processes, **params(i)},
                index=i,
            )
            for i in range(processes)
        ]
        started = time.monotonic()
        summary = {"in_flight": in_flight, **run_load(specs).summary()}
        self.results[name] = summary
        self.progress(
            f"  {name}: {summary['throughput']}/s p50 {summary['p50_ms']} ms"
            f" p99 {summary['p99_ms']} ms errors {summary['errors'] or 0}"
            f" ({time.monotonic() - started:.1f}s)"
        )
        return summary

    def run(self) -> None:
        groups = (
            (("echo",), self.echo),
            (("pg", "get_room", "create_room", "book_room", "contention"), self.rooms),
            (
                ("list_1k", "list_100k", "bookable_1k", "bookable_100k", "query_1k", "query_100k"),
                self.lists,
            ),
            (("watch_fanout", "watch_replicas"), self.watching),
            (("smtp", "notify"), self.notifications),
            (("data_layer",), self.data_layer),
            (("book_growth",), self.book_growth),
            (("invite_backlog",), self.invite_backlog),
            (("calendar_backlog",), self.calendar_backlog),
            (("busy_read",), self.busy_read),
        )
        for names, group in groups:
            if self.wants(*names):
                started = time.monotonic()
                self.progress(f"[{', '.join(n for n in names if n in self.only)}]")
                group()
                self.progress(f"  group done in {time.monotonic() - started:.1f}s")

    # --- groups ----------------------------------------------------------------------

    def echo(self) -> None:
        with ceilings.echo_server() as server:
            self.load("echo", "bench.ceilings:echo", server.address, IN_FLIGHT, LOAD_PROCESSES)

    def rooms(self) -> None:
        url = self.pg.database("rooms")
        dsn = libpq_url(url)
        # Fresh rooms for every booking in the run: at most this many per second.
        most = int(1500 * (self.warmup_s + self.measure_s)) + 1000
        book = seed_rooms(dsn, most if self.wants("book_room") else 1, prefix="book")
        get = seed_rooms(dsn, 1000, prefix="get")
        rounds = 3 if self.quick else 22  # 2 of them warm-up (1 in quick mode)
        contended = seed_rooms(dsn, rounds, prefix="contended", hosts=1)
        if self.wants("pg"):
            rows = 200_000 if not self.quick else 50_000
            ceilings.prepare_pg_table(dsn, rows)
            self.load(
                "pg",
                "bench.ceilings:pg_update",
                dsn,
                IN_FLIGHT,
                LOAD_PROCESSES,
                lambda i: {"rows": rows},
            )
        if not self.wants("get_room", "create_room", "book_room", "contention"):
            return
        with Services(self.log_dir) as services:
            server = services.scheduling(url, SCHEDULING_WORKERS=str(self.workers))
            target = server.address
            conns = self.connections
            if self.wants("get_room"):
                self.load(
                    "get_room",
                    "bench.clients:get_rooms",
                    target,
                    IN_FLIGHT,
                    LOAD_PROCESSES,
                    lambda i: {
                        "room_ids": get.room_ids,
                        "user_prefix": "reader",
                        "connections": conns,
                    },
                )
            if self.wants("create_room"):
                self.load(
                    "create_room",
                    "bench.clients:create_rooms",
                    target,
                    IN_FLIGHT,
                    LOAD_PROCESSES,
                    lambda i: {"user_prefix": "creator", "connections": conns},
                )
            if self.wants("book_room"):
                shares = split(book.room_ids, LOAD_PROCESSES)
                self.load(
                    "book_room",
                    "bench.clients:book_rooms",
                    target,
                    IN_FLIGHT,
                    LOAD_PROCESSES,
                    lambda i: {"room_ids": shares[i], "user_prefix": "guest", "connections": conns},
                )
            if self.wants("contention"):
                with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                    warmup = 1 if self.quick else 2
                    result = pool.submit(
                        contention.run_rounds, target, contended.room_ids, BOOKERS, warmup
                    ).result(timeout=300)
                self.results["contention"] = result
                self.progress(
                    f"  contention: {result['rounds']} rounds, winners"
                    f" {result['winners_per_round']}, p99 {result['p99_ms']} ms"
                )

    def lists(self) -> None:
        """ListRooms pages at 1k and 100k rooms: bench/listing.py."""
        listing.run(self)

    def watching(self) -> None:
        url = self.pg.database("watch")
        writes = 15 if self.quick else 60
        with Services(self.log_dir) as services:
            first = services.scheduling(url)
            if self.wants("watch_fanout"):
                assert first.process is not None
                result = watch.fanout(first.address, first.process.pid, WATCHERS, writes)
                self.results["watch_fanout"] = result
                self.progress(
                    f"  watch_fanout: p50 {result['p50_ms']} p99 {result['p99_ms']} ms,"
                    f" missed {result['missed']}, {result['kib_per_watcher']} KiB/watcher"
                )
            if self.wants("watch_replicas"):
                second = services.scheduling(url)
                result = watch.across(first.address, second.address, WATCHERS, writes)
                self.results["watch_replicas"] = result
                self.progress(
                    f"  watch_replicas: other replica p50 {result['p50_ms']}"
                    f" p99 {result['p99_ms']} ms (same replica p99"
                    f" {result['same_replica']['p99_ms']} ms), missed {result['missed']}"
                )

    def notifications(self) -> None:
        with ceilings.smtp_sink() as sink, Services(self.log_dir) as services:
            notifier = services.notification(sink.port, SMTP_POOL_SIZE=str(NOTIFY_IN_FLIGHT))
            message, mime = invite(notifier.address)
            if self.wants("smtp"):
                self.load(
                    "smtp",
                    "bench.ceilings:smtp_send",
                    sink.address,
                    NOTIFY_IN_FLIGHT,
                    params=lambda i: {
                        "sender": "rooms@example.test",
                        "recipient": "guest@example.test",
                        "mime": mime,
                    },
                )
                self.results["smtp"]["message_bytes"] = len(mime)
            if self.wants("notify"):
                self.load(
                    "notify",
                    "bench.clients:deliver_invites",
                    notifier.address,
                    NOTIFY_IN_FLIGHT,
                    params=lambda i: {"message": message},
                )

    def data_layer(self) -> None:
        url = self.pg.database("datalayer")
        rooms = seed_rooms(libpq_url(url), 500, prefix="read")
        calls = 600 if self.quick else data_layer.CALLS
        result = data_layer.measure(url, libpq_url(url), rooms.room_ids, calls)
        self.results["data_layer"] = result
        self.progress(
            f"  data_layer: {result['layer_us']} us of CPU per read, a bare prepared"
            f" statement {result['bare_us']} us ({result['ratio']}x)"
        )

    def book_growth(self) -> None:
        """BookRoom throughput with few and with many booked rooms behind it."""
        url = self.pg.database("growth")
        dsn = libpq_url(url)
        fresh = int(1500 * (self.warmup_s + self.measure_s)) + 1000
        growth = (150, 1400) if self.quick else GROWTH
        figures = {}
        with Services(self.log_dir) as services:
            target = services.scheduling(url).address
            seeded = 0
            for step, total in enumerate(growth):
                history = seed_rooms(dsn, total - seeded, prefix=f"past{step}")
                seed_history(dsn, history, prefix=f"past{step}")
                seeded = total
                book = seed_rooms(dsn, fresh, prefix=f"book{step}")
                shares = split(book.room_ids, LOAD_PROCESSES)
                summary = self.load(
                    f"book_at_{total}",
                    "bench.clients:book_rooms",
                    target,
                    IN_FLIGHT,
                    LOAD_PROCESSES,
                    lambda i, s=shares, n=step: {  # type: ignore[misc]
                        "room_ids": s[i],
                        "user_prefix": f"guest{n}",
                    },
                )
                figures[total] = summary["throughput"]
        few, many = growth
        self.results["book_growth"] = {
            "booked_rooms": list(growth),
            "throughput": [figures[few], figures[many]],
            "ratio": round(figures[many] / figures[few], 3) if figures[few] else None,
        }

    def invite_backlog(self) -> None:
        """Sustained booking load with invites delivered for real, then how long the
        outbox takes to have no invite left pending once the load stops."""
        url = self.pg.database("backlog")
        dsn = libpq_url(url)
        book = seed_rooms(dsn, int(1500 * (self.warmup_s + self.measure_s)) + 1000, prefix="bl")
        with ceilings.smtp_sink() as sink, Services(self.log_dir) as services:
            notifier = services.notification(sink.port, SMTP_POOL_SIZE=str(NOTIFY_IN_FLIGHT))
            target = services.scheduling(
                url,
                NOTIFICATION_TARGET=notifier.address,
                RELAY_BACKOFF_MIN_S="0.5",
                RELAY_BACKOFF_MAX_S="5",
            ).address
            shares = split(book.room_ids, LOAD_PROCESSES)
            summary = self.load(
                "invite_backlog",
                "bench.clients:book_rooms",
                target,
                IN_FLIGHT,
                LOAD_PROCESSES,
                lambda i: {"room_ids": shares[i], "user_prefix": "guest"},
            )
            ended = time.monotonic()
            pending = _pending_invites(dsn)
            while pending and time.monotonic() - ended < BACKLOG_LIMIT_S:
                time.sleep(0.1)
                pending = _pending_invites(dsn)
            drain_s = time.monotonic() - ended
        summary.update(
            drain_s=round(drain_s, 2) if not pending else None,
            left_pending=pending,
            invites_per_s=round(2 * summary["throughput"], 1),
        )
        self.progress(
            f"  invite_backlog: {summary['invites_per_s']} invites/s queued;"
            f" drained {summary['drain_s']} s after the load ended"
        )

    def calendar_backlog(self) -> None:
        """A booking burst, every participant connected: bench/calendar_backlog.py."""
        rooms, in_flight = (150 if self.quick else 600), 16
        guests = [f"calguest-p0-w{w}" for w in range(in_flight)]  # BookRooms' callers

        def load(target: str, params: dict[str, Any]) -> dict[str, Any]:
            return self.load(
                "calendar_backlog",
                "bench.clients:book_rooms",
                target,
                in_flight,
                1,
                lambda i: {**params, "user_prefix": "calguest"},
            )

        with ceilings.smtp_sink() as sink:
            self.results["calendar_backlog"] = calendar_backlog.run(
                self.pg.database("calendar"),
                self.log_dir,
                rooms=rooms,
                guests=guests,
                load=load,
                smtp_port=sink.port,
                progress=self.progress,
            )

    def busy_read(self) -> None:
        """A busy reader's refresh, full and unchanged: bench/busy_read.py."""
        self.results["busy_read"] = busy_read.run(self.log_dir, self.progress)


def _pending_invites(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM notification_outbox WHERE kind = 'invite' AND state = 'pending'"
        ).fetchone()
        return int(row[0]) if row else 0
