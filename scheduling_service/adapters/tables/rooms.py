"""Users, rooms and their rounds, the slots that keep sessions apart, and the change
log behind WatchRooms."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR, ExcludeConstraint

from scheduling_service.adapters.tables.base import TIME, metadata

users = Table(
    "users",
    metadata,
    Column("user_no", BigInteger, Identity(always=True), primary_key=True),
    Column("user_id", Text, nullable=False),
    UniqueConstraint("user_id", name="users_user_id_key"),
    Column("email", Text),
    Column("name", Text),
    Column("zoneinfo", Text),
    Column("update_time", TIME, nullable=False, server_default=func.now()),
)

rooms = Table(
    "rooms",
    metadata,
    Column("room_id", Uuid, primary_key=True),
    Column("host_id", Text, ForeignKey("users.user_id"), nullable=False),
    Column("guest_id", Text, ForeignKey("users.user_id")),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("starts", TIME, nullable=False),
    Column("ends", TIME, nullable=False),
    Column("ics_uid", Text, nullable=False),
    UniqueConstraint("ics_uid", name="rooms_ics_uid_key"),
    Column("sequence", Integer, nullable=False, server_default=text("0")),
    Column("revision", BigInteger, nullable=False, server_default=text("0")),
    Column("create_time", TIME, nullable=False),
    Column("update_time", TIME, nullable=False),
    # Seconds before the start at which each participant of a booked room is reminded.
    Column("reminder_offsets", ARRAY(Integer), nullable=False, server_default=text("'{}'")),
    # ListRooms' `query` (text search, `simple`): title and topics for everyone; with
    # the description for those who may see it. Written at create.
    Column("search_public", TSVECTOR, nullable=False, server_default=text("''::tsvector")),
    Column("search_all", TSVECTOR, nullable=False, server_default=text("''::tsvector")),
    CheckConstraint("ends > starts", name="rooms_time_order"),
    CheckConstraint("guest_id IS DISTINCT FROM host_id", name="rooms_guest_not_host"),
    # ListRooms pages by (starts, room_id); open_only reads the partial index.
    Index("rooms_by_start", "starts", "room_id"),
    Index(
        "rooms_open_by_start",
        "starts",
        "room_id",
        postgresql_where=text("guest_id IS NULL"),
    ),
    Index("rooms_by_host", "host_id", "starts", "room_id"),
    Index(
        "rooms_by_guest",
        "guest_id",
        "starts",
        "room_id",
        postgresql_where=text("guest_id IS NOT NULL"),
    ),
    Index("rooms_search_public", "search_public", postgresql_using="gin"),
    Index("rooms_search_all", "search_all", postgresql_using="gin"),
)

# No foreign-key cascade: CancelRoom deletes the rounds, then the room.
rounds = Table(
    "rounds",
    metadata,
    Column("round_id", Uuid, primary_key=True),
    Column("room_id", Uuid, ForeignKey("rooms.room_id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("topic", Text, nullable=False),
    Column("create_time", TIME, nullable=False),
    CheckConstraint("number >= 1", name="rounds_number_check"),
    UniqueConstraint("room_id", "number", name="rounds_room_id_number_key"),
)

# One row per (participant, room) under an exclusion constraint: what keeps one person's
# sessions apart when replicas race. Two ranges instead of `user_no WITH =`, which needs
# btree_gist (absent from pgserver's build).
room_slots = Table(
    "room_slots",
    metadata,
    Column("room_id", Uuid, ForeignKey("rooms.room_id", ondelete="CASCADE"), nullable=False),
    Column("user_no", BigInteger, ForeignKey("users.user_no"), nullable=False),
    Column("role", Text, nullable=False),
    Column("starts", TIME, nullable=False),
    Column("ends", TIME, nullable=False),
    PrimaryKeyConstraint("room_id", "user_no"),
    CheckConstraint("role IN ('host', 'guest')", name="room_slots_role_check"),
    ExcludeConstraint(
        (text("int8range(user_no, user_no, '[]')"), "&&"),
        (text("tstzrange(starts, ends)"), "&&"),
        name="room_slots_no_overlap",
        using="gist",
    ),
    Index("room_slots_by_user", "user_no", "starts"),
)

# AIP-155: a repeated CreateRoom with the same request_id returns this room.
room_requests = Table(
    "room_requests",
    metadata,
    Column("host_id", Text, nullable=False),
    Column("request_id", Uuid, nullable=False),
    Column("room_id", Uuid, nullable=False),
    Column("create_time", TIME, nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("host_id", "request_id"),
    Index("room_requests_by_time", "create_time"),
)

# One row, updated by every change as its last statement: its row lock orders the
# commits, so revisions become visible in order and without gaps.
revision_counter = Table(
    "revision_counter",
    metadata,
    Column("singleton", Boolean, primary_key=True, server_default=text("true")),
    Column("value", BigInteger, nullable=False),
    CheckConstraint("singleton", name="revision_counter_singleton_check"),
)

# The change log behind WatchRooms: `room` is the scheduling.v1.Room message (without
# revision and etag, which come from this row).
room_events = Table(
    "room_events",
    metadata,
    Column("revision", BigInteger, primary_key=True, autoincrement=False),
    Column("room_id", Uuid, nullable=False),
    Column("change", Text, nullable=False),
    Column("room", LargeBinary, nullable=False),
    # As non-participants see it (docs/design.md §8); NULL when nothing is hidden.
    Column("room_public", LargeBinary),
    Column("participants", ARRAY(Text), nullable=False),
    Column("open_before", Boolean, nullable=False),
    Column("open_after", Boolean, nullable=False),
    Column("event_time", TIME, nullable=False),
    Index("room_events_by_time", "event_time"),
)

# Revisions up to `compacted` have been pruned: resuming from an older one is OUT_OF_RANGE.
room_events_horizon = Table(
    "room_events_horizon",
    metadata,
    Column("singleton", Boolean, primary_key=True, server_default=text("true")),
    Column("compacted", BigInteger, nullable=False),
    CheckConstraint("singleton", name="room_events_horizon_singleton_check"),
)

# Who was sent a REQUEST for the room's UID and no CANCEL since.
room_invitees = Table(
    "room_invitees",
    metadata,
    Column("room_id", Uuid, ForeignKey("rooms.room_id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Text, nullable=False),
    PrimaryKeyConstraint("room_id", "user_id"),
)
