"""Seed rooms with COPY, straight into the tables, so the run's time goes to measuring.

Rows satisfy the schema (migrations 0001-0006): users first (rooms reference user_id,
slots user_no); each room gets its first round, its host's slot, and the service's
default reminder offsets (24 h, 1 h), as CreateRoom gives it. Room i starts at
`first_start + i * step` and lasts `length <= step`, so no two seeded rooms overlap and
any user may book any set of them without a SCHEDULE_CONFLICT. No room_events rows:
seeded rooms have revision 0, as if created before the change log's horizon.

`seed_history` makes rooms look as a booking leaves them (a guest, the guest's slot,
who holds the invites, the two invites delivered, the four reminders waiting, the change
log's entries), for figures that depend on how much a deployment has accumulated.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

UID_DOMAIN = "rooms.localhost"
SEEDED_TOPIC = "Warm-up"


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
            # Staged first: the search vectors are PostgreSQL's own to_tsvector, as
            # CreateRoom writes them (migration 0006), made in one INSERT … SELECT.
            cur.execute(
                "CREATE TEMP TABLE staged_rooms ON COMMIT DROP AS"
                " SELECT room_id, host_id, guest_id, title, description, starts, ends, ics_uid,"
                " sequence, revision, create_time, update_time, reminder_offsets"
                " FROM rooms WITH NO DATA"
            )
            with cur.copy(
                "COPY staged_rooms (room_id, host_id, guest_id, title, description, starts,"
                " ends, ics_uid, sequence, revision, create_time, update_time,"
                " reminder_offsets) FROM STDIN"
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
                            [86400, 3600],
                        )
                    )
            cur.execute(
                "INSERT INTO rooms (room_id, host_id, guest_id, title, description, starts,"
                " ends, ics_uid, sequence, revision, create_time, update_time,"
                " reminder_offsets, search_public, search_all)"
                " SELECT room_id, host_id, guest_id, title, description, starts, ends,"
                " ics_uid, sequence, revision, create_time, update_time, reminder_offsets,"
                " to_tsvector('simple', title || ' ' || %(topic)s),"
                " to_tsvector('simple', title || ' ' || %(topic)s || ' ' || description)"
                " FROM staged_rooms",
                {"topic": SEEDED_TOPIC},
            )
            with cur.copy(
                "COPY rounds (round_id, room_id, number, topic, create_time) FROM STDIN"
            ) as copy:
                for room_id in room_ids:
                    copy.write_row((uuid.uuid4(), room_id, 1, SEEDED_TOPIC, now))
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


def seed_history(dsn: str, rooms: RoomSet, *, prefix: str) -> None:
    """Book every room of `rooms` (a guest each, `<prefix>-guest-N`), as the service
    would have: slot, invite holders, two delivered invites, four waiting reminders,
    and CREATED and BOOKED in the change log."""
    now = datetime.now(UTC)
    guests = [f"{prefix}-guest-{i}" for i in range(len(rooms.room_ids))]
    with psycopg.connect(dsn) as conn:
        guest_nos = seed_users(conn, guests)
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE rooms r SET guest_id = g.guest, sequence = 1"
                " FROM unnest(%s::uuid[], %s::text[]) AS g(room_id, guest)"
                " WHERE r.room_id = g.room_id",
                (rooms.room_ids, guests),
            )
            cur.execute(
                "SELECT room_id, host_id, starts, ends FROM rooms WHERE room_id = ANY(%s::uuid[])",
                (rooms.room_ids,),
            )
            by_room = {str(r[0]): r for r in cur.fetchall()}
            with cur.copy(
                "COPY room_slots (room_id, user_no, role, starts, ends) FROM STDIN"
            ) as copy:
                for room_id, guest in zip(rooms.room_ids, guests, strict=True):
                    _, _, starts, ends = by_room[room_id]
                    copy.write_row((room_id, guest_nos[guest], "guest", starts, ends))
            with cur.copy("COPY room_invitees (room_id, user_id) FROM STDIN") as copy:
                for room_id, guest in zip(rooms.room_ids, guests, strict=True):
                    copy.write_row((room_id, by_room[room_id][1]))
                    copy.write_row((room_id, guest))
            with cur.copy(
                "COPY notification_outbox (room_id, ics_uid, sequence, method, recipient_id,"
                " message, state, change, outcome, kind, next_attempt_at, session_start,"
                " offset_s) FROM STDIN"
            ) as copy:
                for room_id, guest in zip(rooms.room_ids, guests, strict=True):
                    _, host, starts, _ = by_room[room_id]
                    uid = f"{room_id}@{UID_DOMAIN}"
                    for who in (host, guest):
                        copy.write_row(
                            (
                                room_id,
                                uid,
                                1,
                                "REQUEST",
                                who,
                                b"invite",
                                "delivered",
                                "BOOKED",
                                "DELIVERED",
                                "invite",
                                now,
                                None,
                                None,
                            )
                        )
                        for offset in (86400, 3600):
                            copy.write_row(
                                (
                                    room_id,
                                    uid,
                                    1,
                                    "REMINDER",
                                    who,
                                    b"reminder",
                                    "pending",
                                    None,
                                    None,
                                    "reminder",
                                    starts - timedelta(seconds=offset),
                                    starts,
                                    offset,
                                )
                            )
            cur.execute("SELECT value FROM revision_counter")
            row = cur.fetchone()
            revision = int(row[0]) if row else 0
            with cur.copy(
                "COPY room_events (revision, room_id, change, room, participants,"
                " open_before, open_after, event_time) FROM STDIN"
            ) as copy:
                for room_id, guest in zip(rooms.room_ids, guests, strict=True):
                    host = by_room[room_id][1]
                    for change, was_open, is_open in (
                        ("CREATED", True, True),
                        ("BOOKED", True, False),
                    ):
                        revision += 1
                        copy.write_row(
                            (revision, room_id, change, b"", [host, guest], was_open, is_open, now)
                        )
            cur.execute("UPDATE revision_counter SET value = %s", (revision,))
        conn.commit()
        conn.autocommit = True
        for table in ("rooms", "room_slots", "room_invitees", "notification_outbox", "room_events"):
            conn.execute(f"VACUUM ANALYZE {table}")
