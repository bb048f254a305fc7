"""`python -m bench.explain [--rooms 1500,14000]`: the plans of a booking's statements
and of the relay's, on databases holding that many booked rooms.

Each size gets a fresh database (as `make bench` makes them), `seed_history` rooms
(two delivered invites and four waiting reminders each) and one open room to book;
every statement then runs under `EXPLAIN (ANALYZE, BUFFERS)` with the parameters the
service would send, in a transaction that is rolled back, after `ANALYZE` (as
autovacuum leaves a table that has lived a while). What to read: the buffers each
statement touches should not grow with the number of rooms.
"""

from __future__ import annotations

import argparse
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench.seed import UID_DOMAIN, seed_history, seed_rooms, seed_users
from bench.services import postgres
from scheduling_service.adapters import calendar_sql, outbox_sql, rooms_sql
from scheduling_service.adapters.statements import GUARD_HELD
from tests.postgres import libpq_url

# The finish statement's results must hold leases: four invites get one first, in
# the same (rolled back) transaction.
_LEASE = """
    UPDATE notification_outbox SET lease_token = gen_random_uuid()
     WHERE id IN (SELECT id FROM notification_outbox WHERE kind = 'invite' LIMIT 4)
    RETURNING id, lease_token
"""
_BUFFERS = re.compile(r"Buffers: shared hit=(\d+)(?: read=(\d+))?")


def _statements(room_id: uuid.UUID, guest: str, guest_no: int) -> list[tuple[str, str, Any]]:
    now = datetime.now(UTC)
    starts = now + timedelta(days=2)
    uid = f"{room_id}@{UID_DOMAIN}"
    return [
        (
            "book: guard, slot",
            rooms_sql._BOOK,
            {
                "room_id": room_id,
                "guest_id": guest,
                "guest_no": guest_no,
                "sequence": 1,
                "seen_sequence": 0,
                "seen_revision": 0,  # seeded rooms: before the change log's horizon
                "update_time": now,
            },
        ),
        (
            "book: room for the change",
            rooms_sql._GET_FOR_CHANGE,
            {"room_id": room_id, "caller": guest},
        ),
        (
            "book: outbox (invites, reminders)",
            outbox_sql._RECORD,
            {
                "room_id": room_id,
                "uid": uid,
                "sequence": 1,
                "starts": starts,
                "change": "BOOKED",
                "added": [guest],
                "removed": [],
                "superseding": [guest, "explain-host-0"],
                "methods": ["REQUEST", "REQUEST"],
                "recipients": [guest, "explain-host-0"],
                "messages": [b"x" * 600, b"x" * 600],
                "states": ["pending", "pending"],
                "reasons": [None, None],
                "remove_reminders": False,
                "reminded": [guest, guest],
                "reminders": [b"r" * 300, b"r" * 300],
                "dues": [starts - timedelta(hours=24), starts - timedelta(hours=1)],
                "offsets": [86400, 3600],
            },
        ),
        (
            "book: calendar copies",
            calendar_sql._MARK,
            {"room_id": room_id, "uid": uid, "users": [guest, "explain-host-0"]},
        ),
        ("relay: claim", outbox_sql._CLAIM, {"token": uuid.uuid4(), "limit": 64, "lease_s": 60}),
        (
            # Four invites under a lease, all to be tried again: the result that checks
            # whether a newer invite supersedes each.
            "relay: finish (4 retries)",
            outbox_sql._FINISH,
            {
                "states": ["pending"] * 4,
                "outcomes": ["RETRY"] * 4,
                "errors": [None] * 4,
                "message_ids": [None] * 4,
                "next": [now + timedelta(minutes=1)] * 4,
            },
        ),
        ("reader: room with its mail", rooms_sql._GET, {"room_id": room_id, "viewer": guest}),
        (
            "calendar relay: claim",
            calendar_sql._LEASE,
            {"token": uuid.uuid4(), "limit": 64, "lease_s": 60},
        ),
    ]


def explain(dsn: str) -> list[tuple[str, float, int, str]]:
    """(statement, execution ms, shared buffers touched, plan) for each statement."""
    out = []
    with psycopg.connect(dsn) as conn:
        guest_no = seed_users(conn, ["explain-guest"])["explain-guest"]
        room_id = uuid.UUID(seed_rooms(dsn, 1, prefix="explain", hosts=1).room_ids[0])
        conn.execute("ANALYZE")
        conn.commit()
        for name, sql, params in _statements(room_id, "explain-guest", guest_no):
            conn.execute(GUARD_HELD)
            if sql is outbox_sql._FINISH:
                leased = conn.execute(_LEASE).fetchall()
                params = {**params, "ids": [r[0] for r in leased], "tokens": [r[1] for r in leased]}
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params).fetchall()
            conn.rollback()
            plan = "\n".join(str(r[0]) for r in rows)
            total_ms = float(re.findall(r"Execution Time: ([\d.]+) ms", plan)[-1])
            top = _BUFFERS.search(plan)
            buffers = int(top.group(1)) + int(top.group(2) or 0) if top else 0
            out.append((name, total_ms, buffers, plan))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.explain", description=__doc__)
    parser.add_argument("--rooms", default="1500,14000", help="booked rooms, comma-separated")
    parser.add_argument("--plans", action="store_true", help="print every plan in full")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.rooms.split(",")]
    figures: dict[int, list[tuple[str, float, int, str]]] = {}
    with postgres() as pg:
        for size in sizes:
            dsn = libpq_url(pg.database(f"explain{size}"))
            seed_history(dsn, seed_rooms(dsn, size, prefix="past"), prefix="past")
            figures[size] = explain(dsn)
    print(f"{'statement':36}" + "".join(f"{f'{n} rooms: ms':>18}{'buffers':>9}" for n in sizes))
    for i, (name, *_) in enumerate(figures[sizes[0]]):
        cells = "".join(f"{figures[n][i][1]:>18.3f}{figures[n][i][2]:>9}" for n in sizes)
        print(f"{name:36}{cells}")
    if args.plans:
        for size in sizes:
            for name, _, _, plan in figures[size]:
                print(f"\n== {name}, {size} booked rooms\n{plan}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
