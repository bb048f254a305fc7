"""Notification outbox and the record of who holds each room's event.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Who was sent a REQUEST for the room's UID and no CANCEL since: the people
        -- whose calendars hold the event, so a cancel reaches exactly them.
        CREATE TABLE room_invitees (
            room_id uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
            user_id text NOT NULL,
            PRIMARY KEY (room_id, user_id)
        );

        -- One row per recipient message, written in the transaction of the change.
        -- `message` is the notification.v1.CalendarMessage to deliver, DTSTAMP
        -- included, so every attempt renders the same bytes.
        CREATE TABLE notification_outbox (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            room_id         uuid NOT NULL,
            ics_uid         text NOT NULL,
            sequence        integer NOT NULL,
            method          text NOT NULL CHECK (method IN ('REQUEST', 'CANCEL')),
            recipient_id    text NOT NULL,
            message         bytea NOT NULL,
            state           text NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'delivered', 'failed', 'superseded')),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            lease_token     uuid,
            lease_until     timestamptz,
            last_error      text,
            message_id      text,
            create_time     timestamptz NOT NULL DEFAULT now(),
            update_time     timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at, id)
            WHERE state = 'pending';
        CREATE INDEX notification_outbox_order
            ON notification_outbox (ics_uid, recipient_id, sequence) WHERE state = 'pending';
        CREATE INDEX notification_outbox_by_state ON notification_outbox (state, update_time);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE notification_outbox; DROP TABLE room_invitees;")
