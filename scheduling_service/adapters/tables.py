"""The schema as SQLAlchemy Table metadata: what the migrations build, in one place to
read. The service's own statements are plain SQL on psycopg (adapters/*_sql.py); this
metadata is for Alembic, and a test checks that the migrations and it agree."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR, ExcludeConstraint

metadata = MetaData()

TIME = DateTime(timezone=True)

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

# One row per recipient message, written in the transaction of the change.
notification_outbox = Table(
    "notification_outbox",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("room_id", Uuid, nullable=False),
    Column("ics_uid", Text, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("method", Text, nullable=False),
    Column("recipient_id", Text, nullable=False),
    Column("message", LargeBinary, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", TIME, nullable=False, server_default=func.now()),
    Column("lease_token", Uuid),
    Column("lease_until", TIME),
    Column("last_error", Text),
    Column("message_id", Text),
    Column("create_time", TIME, nullable=False, server_default=func.now()),
    Column("update_time", TIME, nullable=False, server_default=func.now()),
    # 'invite' (an iTIP message), 'reminder' (due at session_start - offset_s),
    # 'notice' (a user's calendar connection broke) or 'waitlist' (an offer to the
    # holder of a room, or a cancel told to those waiting for it).
    Column("kind", Text, nullable=False, server_default=text("'invite'")),
    # The change the message tells of (domain Change), and how its last attempt ended.
    Column("change", Text),
    Column("outcome", Text),
    Column("session_start", TIME),
    Column("offset_s", Integer),
    CheckConstraint(
        "method IN ('REQUEST', 'CANCEL', 'REMINDER', 'NOTICE', 'WAITLIST')",
        name="notification_outbox_method_check",
    ),
    CheckConstraint(
        "state IN ('pending', 'delivered', 'failed', 'superseded', 'skipped', 'dropped')",
        name="notification_outbox_state_check",
    ),
    CheckConstraint(
        "kind IN ('invite', 'reminder', 'notice', 'waitlist')",
        name="notification_outbox_kind_check",
    ),
    CheckConstraint(
        "(kind = 'reminder') = (session_start IS NOT NULL AND offset_s IS NOT NULL)",
        name="notification_outbox_reminder_fields",
    ),
    Index(
        "notification_outbox_due",
        "next_attempt_at",
        "id",
        postgresql_where=text("state = 'pending'"),
    ),
    Index(
        "notification_outbox_order",
        "ics_uid",
        "recipient_id",
        "sequence",
        postgresql_where=text("state = 'pending' AND kind = 'invite'"),
    ),
    Index("notification_outbox_by_state", "state", "update_time"),
    Index("notification_outbox_by_room", "room_id", "recipient_id", "id"),
)

# Never reused: a write in flight with older credentials cannot touch a newer connection.
calendar_connection_generation = Sequence("calendar_connection_generation", metadata=metadata)

# One per user: the connected calendar, its credentials sealed by the notification
# service (which alone opens them). `generation` is new with every connect.
calendar_connections = Table(
    "calendar_connections",
    metadata,
    Column("user_id", Text, ForeignKey("users.user_id"), primary_key=True),
    Column("calendar_url", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("sealed_credentials", LargeBinary, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'active'")),
    Column("broken_reason", Text),
    Column("email_invites", Boolean, nullable=False, server_default=text("false")),
    Column(
        "generation",
        BigInteger,
        nullable=False,
        server_default=text("nextval('calendar_connection_generation'::regclass)"),
    ),
    Column("create_time", TIME, nullable=False, server_default=func.now()),
    Column("update_time", TIME, nullable=False, server_default=func.now()),
    Column("last_write_time", TIME),
    # Busy time's own read (docs/design.md §17): due time, lease, attempts, last read.
    Column("busy_due_at", TIME, nullable=False, server_default=func.now()),
    Column("busy_lease_token", Uuid),
    Column("busy_lease_until", TIME),
    Column("busy_attempts", Integer, nullable=False, server_default=text("0")),
    Column("busy_read_time", TIME),
    CheckConstraint("provider IN ('caldav', 'google')", name="calendar_connections_provider_check"),
    CheckConstraint(
        "state IN ('active', 'broken', 'removing')", name="calendar_connections_state_check"
    ),
    Index(
        "calendar_connections_busy_due",
        "busy_due_at",
        postgresql_where=text("state = 'active'"),
    ),
)

# One row per (room, user) whose calendar should hold the session or have it removed;
# the relay writes the room as it stands when it claims the row. No foreign key to
# rooms: a cancelled room's copies outlive it until they are deleted.
calendar_copies = Table(
    "calendar_copies",
    metadata,
    Column("room_id", Uuid, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("ics_uid", Text, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'pending'")),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    Column("href", Text),
    Column("etag", Text),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", TIME, nullable=False, server_default=func.now()),
    Column("lease_token", Uuid),
    Column("lease_until", TIME),
    Column("last_error", Text),
    Column("create_time", TIME, nullable=False, server_default=func.now()),
    Column("update_time", TIME, nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("room_id", "user_id"),
    CheckConstraint(
        "state IN ('pending', 'written', 'removed', 'failed')", name="calendar_copies_state_check"
    ),
    Index("calendar_copies_due", "next_attempt_at", postgresql_where=text("state = 'pending'")),
    Index("calendar_copies_by_user", "user_id"),
    # The copies in flight, by user: the claim takes one per user at a time.
    Index("calendar_copies_leased", "user_id", postgresql_where=text("lease_token IS NOT NULL")),
    Index("calendar_copies_by_state", "state", "update_time"),
)

# One live feed per user: the token only as its SHA-256; `allowance`/`allowance_time`
# are its rate-limit bucket, shared by every replica.
calendar_feeds = Table(
    "calendar_feeds",
    metadata,
    Column("user_id", Text, ForeignKey("users.user_id"), primary_key=True),
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("allowance", Double, nullable=False),
    Column("allowance_time", TIME, nullable=False),
    Column("create_time", TIME, nullable=False),
    CheckConstraint("octet_length(token_hash) = 32", name="calendar_feeds_token_hash_check"),
)

# A session a feed's owner was in until it was cancelled or they left: shown as
# STATUS:CANCELLED for 30 days. Only for users with a feed.
calendar_feed_tombstones = Table(
    "calendar_feed_tombstones",
    metadata,
    Column(
        "user_id",
        Text,
        ForeignKey("calendar_feeds.user_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("room_id", Uuid, nullable=False),
    Column("ics_uid", Text, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("starts", TIME, nullable=False),
    Column("ends", TIME, nullable=False),
    Column("cancel_time", TIME, nullable=False),
    PrimaryKeyConstraint("user_id", "room_id"),
    Index("calendar_feed_tombstones_by_time", "cancel_time"),
)

# The intervals last read from a user's connected calendar: nothing else of its events.
# Keyed by user_no for the same GiST ranges as room_slots (one probe per room).
calendar_busy = Table(
    "calendar_busy",
    metadata,
    Column(
        "user_id",
        Text,
        ForeignKey("calendar_connections.user_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("user_no", BigInteger, nullable=False),
    Column("starts", TIME, nullable=False),
    Column("ends", TIME, nullable=False),
    CheckConstraint("ends > starts", name="calendar_busy_order"),
    Index("calendar_busy_by_user", "user_id"),
    Index(
        "calendar_busy_overlap",
        text("int8range(user_no, user_no, '[]')"),
        text("tstzrange(starts, ends)"),
        postgresql_using="gist",
    ),
)

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
