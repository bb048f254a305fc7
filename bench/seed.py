"""Seed rooms with COPY, straight into the tables, so the run's time goes to measuring.

Rows satisfy the schema (migrations 0001, 0002): users first (rooms reference user_id,
slots user_no); each room gets its first round and its host's slot. Room i starts at
`first_start + i * step` and lasts `length <= step`, so no two seeded rooms overlap and
any user may book any set of them without a SCHEDULE_CONFLICT. No room_events rows:
seeded rooms have revision 0, as if created before the change log's horizon.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

UID_DOMAIN = "rooms.localhost"


@dataclass(frozen=True)
class RoomSet:
    room_ids: list[str]
    host_ids: list[str]
    first_start: datetime
    step: timedelta

    @property
    def span_s(self) -> int:
        return int(self.step.total_seconds() * len(self.room_ids))


def next_day() -> datetime:
    return datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(days=1)


def seed_users(conn: psycopg.Connection[tuple[Any, ...]], user_ids: list[str]) -> dict[str, int]:
    """Insert the users (COPY) and return their user_no keys."""
    with conn.cursor() as cur:
        with cur.copy("COPY users (user_id, email, name, zoneinfo) FROM STDIN") as copy:
            for user_id in user_ids:
                copy.write_row((user_id, f"{user_id}@example.test", user_id, "UTC"))
        cur.execute("SELECT user_id, user_no FROM users WHERE user_id = ANY(%s)", (user_ids,))
        return {str(user_id): int(user_no) for user_id, user_no in cur.fetchall()}


def seed_rooms(
    dsn: str,
    count: int,
    *,
    prefix: str,
    hosts: int = 100,
    first_start: datetime | None = None,
    step: timedelta = timedelta(minutes=5),
    length: timedelta = timedelta(minutes=5),
) -> RoomSet:
    """`count` open rooms hosted round-robin by `hosts` new users named `<prefix>-host-N`."""
    if length > step:
        raise ValueError("rooms of one host would overlap: length > step")
    first = first_start or next_day()
    host_ids = [f"{prefix}-host-{n}" for n in range(hosts)]
    room_ids = [uuid.uuid4() for _ in range(count)]
    now = datetime.now(UTC)
    with psycopg.connect(dsn) as conn:
        host_nos = seed_users(conn, host_ids)
        with conn.cursor() as cur:
            with cur.copy(
                "COPY rooms (room_id, host_id, guest_id, title, description, starts, ends,"
                " ics_uid, sequence, revision, create_time, update_time) FROM STDIN"
            ) as copy:
                for i, room_id in enumerate(room_ids):
                    starts = first + i * step
                    copy.write_row(
                        (
                            room_id,
                            host_ids[i % hosts],
                            None,
                            f"Mock interview {i}",
                            "Seeded by the bench.\nBring a pen.",
                            starts,
                            starts + length,
                            f"{room_id}@{UID_DOMAIN}",
                            0,
                            0,
                            now,
                            now,
                        )
                    )
            with cur.copy(
                "COPY rounds (round_id, room_id, number, topic, create_time) FROM STDIN"
            ) as copy:
                for room_id in room_ids:
                    copy.write_row((uuid.uuid4(), room_id, 1, "Warm-up", now))
            with cur.copy(
                "COPY room_slots (room_id, user_no, role, starts, ends) FROM STDIN"
            ) as copy:
                for i, room_id in enumerate(room_ids):
                    starts = first + i * step
                    host_no = host_nos[host_ids[i % hosts]]
                    copy.write_row((room_id, host_no, "host", starts, starts + length))
        conn.commit()
        conn.autocommit = True
        for table in ("users", "rooms", "rounds", "room_slots"):
            conn.execute(f"VACUUM ANALYZE {table}")
    return RoomSet([str(r) for r in room_ids], host_ids, first, step)
