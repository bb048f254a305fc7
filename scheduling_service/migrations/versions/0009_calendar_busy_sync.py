"""Busy reads that ask only what changed (docs/design.md §17): calendar_connections
keeps the calendar's sync token as of the last full read (RFC 6578), the connection
generation it was read with, when it was recorded, and how far that read reached.

A replica of the release before knows nothing of these columns and leaves them as they
were: the generation ends a token when it connects a calendar anew, and the recording
time (equal to `busy_read_time` only while no other read was recorded since) ends it
when it records a read of its own.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE calendar_connections
            ADD COLUMN busy_sync_token       text,
            ADD COLUMN busy_sync_generation  bigint,
            ADD COLUMN busy_sync_read_time   timestamptz,
            ADD COLUMN busy_covered_until    timestamptz;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE calendar_connections
            DROP COLUMN busy_sync_token, DROP COLUMN busy_sync_generation,
            DROP COLUMN busy_sync_read_time, DROP COLUMN busy_covered_until;
        """
    )
