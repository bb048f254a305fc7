"""Calendar connections (docs/design.md §13): each user's connected CalDAV calendar, and
the copy of each session in it.

- calendar_connections: one per user; the credentials only as the notification
  service sealed them (it alone opens them). `generation` is new with every connect
  (a sequence, never reused), so the result of a write made with older credentials
  breaks or reseals nothing.
- calendar_copies: one row per (room, user) whose calendar should hold the session or
  have it removed. A change marks the rows of the people it concerns pending (and
  bumps `version`); the relay writes the room as it stands when it claims the row, so a
  later change supersedes an earlier one by construction and order cannot be lost. No
  foreign key to rooms: a cancelled room's copies must outlive it until deleted.
- notification_outbox: `notice` rows (method NOTICE), the one e-mail telling a user
  that their calendar connection broke.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Never reused, so a write still in flight with a disconnected connection's
        -- credentials cannot break, or reseal, the next connection of the same user.
        CREATE SEQUENCE calendar_connection_generation;
        CREATE TABLE calendar_connections (
            user_id            text PRIMARY KEY REFERENCES users (user_id),
            calendar_url       text NOT NULL,
            provider           text NOT NULL
                               CHECK (provider IN ('caldav', 'google')),
            sealed_credentials bytea NOT NULL,
            state              text NOT NULL DEFAULT 'active'
                               CHECK (state IN ('active', 'broken', 'removing')),
            broken_reason      text,
            email_invites      boolean NOT NULL DEFAULT false,
            generation         bigint NOT NULL
                               DEFAULT nextval('calendar_connection_generation'),
            create_time        timestamptz NOT NULL DEFAULT now(),
            update_time        timestamptz NOT NULL DEFAULT now(),
            last_write_time    timestamptz
        );

        CREATE TABLE calendar_copies (
            room_id         uuid NOT NULL,
            user_id         text NOT NULL,
            ics_uid         text NOT NULL,
            state           text NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'written', 'removed', 'failed')),
            version         bigint NOT NULL DEFAULT 1,
            href            text,
            etag            text,
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            lease_token     uuid,
            lease_until     timestamptz,
            last_error      text,
            create_time     timestamptz NOT NULL DEFAULT now(),
            update_time     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (room_id, user_id)
        );
        CREATE INDEX calendar_copies_due ON calendar_copies (next_attempt_at)
            WHERE state = 'pending';
        CREATE INDEX calendar_copies_by_user ON calendar_copies (user_id);
        -- The copies in flight, by user: the claim takes one per user at a time.
        CREATE INDEX calendar_copies_leased ON calendar_copies (user_id)
            WHERE lease_token IS NOT NULL;
        CREATE INDEX calendar_copies_by_state ON calendar_copies (state, update_time);

        ALTER TABLE notification_outbox
            DROP CONSTRAINT notification_outbox_method_check,
            DROP CONSTRAINT notification_outbox_kind_check,
            ADD CONSTRAINT notification_outbox_method_check
                CHECK (method IN ('REQUEST', 'CANCEL', 'REMINDER', 'NOTICE')),
            ADD CONSTRAINT notification_outbox_kind_check
                CHECK (kind IN ('invite', 'reminder', 'notice'));
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DELETE FROM notification_outbox WHERE kind = 'notice';
        ALTER TABLE notification_outbox
            DROP CONSTRAINT notification_outbox_method_check,
            DROP CONSTRAINT notification_outbox_kind_check,
            ADD CONSTRAINT notification_outbox_method_check
                CHECK (method IN ('REQUEST', 'CANCEL', 'REMINDER')),
            ADD CONSTRAINT notification_outbox_kind_check
                CHECK (kind IN ('invite', 'reminder'));
        DROP TABLE calendar_copies;
        DROP TABLE calendar_connections;
        DROP SEQUENCE calendar_connection_generation;
        """
    )
