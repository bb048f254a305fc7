"""Busy time from connected calendars (docs/design.md §17).

- calendar_busy: the intervals last read from a user's connected calendar (nothing else
  of its events), keyed by user_no for the same GiST ranges as room_slots, so that
  "overlaps my busy time" is one index probe per room. They go with the connection.
- calendar_connections gains the read's own due time and lease (a read is claimed once
  across replicas, like a calendar copy) and when busy time was last read.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE calendar_connections
            ADD COLUMN busy_due_at      timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN busy_lease_token uuid,
            ADD COLUMN busy_lease_until timestamptz,
            ADD COLUMN busy_attempts    integer NOT NULL DEFAULT 0,
            ADD COLUMN busy_read_time   timestamptz;
        CREATE INDEX calendar_connections_busy_due ON calendar_connections (busy_due_at)
            WHERE state = 'active';

        CREATE TABLE calendar_busy (
            user_id text NOT NULL REFERENCES calendar_connections (user_id) ON DELETE CASCADE,
            user_no bigint NOT NULL,
            starts  timestamptz NOT NULL,
            ends    timestamptz NOT NULL,
            CONSTRAINT calendar_busy_order CHECK (ends > starts)
        );
        CREATE INDEX calendar_busy_by_user ON calendar_busy (user_id);
        CREATE INDEX calendar_busy_overlap ON calendar_busy USING gist (
            int8range(user_no, user_no, '[]'), tstzrange(starts, ends)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE calendar_busy;
        DROP INDEX calendar_connections_busy_due;
        ALTER TABLE calendar_connections
            DROP COLUMN busy_due_at, DROP COLUMN busy_lease_token,
            DROP COLUMN busy_lease_until, DROP COLUMN busy_attempts,
            DROP COLUMN busy_read_time;
        """
    )
