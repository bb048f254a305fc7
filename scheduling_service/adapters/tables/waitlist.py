"""Who waits for a taken room, and its hold (docs/design.md §16)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    text,
)

from scheduling_service.adapters.tables.base import TIME, metadata

# Who waits for a taken room, in `place` order; the first in line's row carries
# `hold_until` while the room is held for them, one hold per room (design §16).
room_waitlist = Table(
    "room_waitlist",
    metadata,
    Column("room_id", Uuid, ForeignKey("rooms.room_id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Text, ForeignKey("users.user_id"), nullable=False),
    Column("place", BigInteger, Identity(always=True), nullable=False),
    Column("join_time", TIME, nullable=False),
    Column("hold_until", TIME),
    PrimaryKeyConstraint("room_id", "user_id"),
    Index("room_waitlist_by_place", "room_id", "place"),
    Index(
        "room_waitlist_one_hold",
        "room_id",
        unique=True,
        postgresql_where=text("hold_until IS NOT NULL"),
    ),
    Index(
        "room_waitlist_holds_due",
        "hold_until",
        postgresql_where=text("hold_until IS NOT NULL"),
    ),
)
