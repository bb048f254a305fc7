"""The notification outbox: one row per recipient message, written in the change's
transaction."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    Uuid,
    func,
    text,
)

from scheduling_service.adapters.tables.base import TIME, metadata

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
