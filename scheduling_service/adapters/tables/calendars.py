"""Calendar connections (docs/design.md §13), the copies of sessions in them, calendar
feeds (§14) and busy time (§17)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Sequence,
    Table,
    Text,
    Uuid,
    func,
    text,
)

from scheduling_service.adapters.tables.base import TIME, metadata

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
    # Busy time's own read (docs/design.md §17): due time, lease, attempts, last read;
    # the sync token of the last full read, its connection generation, when it was
    # recorded, how far that read reached.
    Column("busy_due_at", TIME, nullable=False, server_default=func.now()),
    Column("busy_lease_token", Uuid),
    Column("busy_lease_until", TIME),
    Column("busy_attempts", Integer, nullable=False, server_default=text("0")),
    Column("busy_read_time", TIME),
    Column("busy_sync_token", Text),
    Column("busy_sync_generation", BigInteger),
    Column("busy_sync_read_time", TIME),
    Column("busy_covered_until", TIME),
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
