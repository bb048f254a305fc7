"""Calendar feeds (docs/design.md §14): a secret URL per user that calendar applications
subscribe to.

- calendar_feeds: one live feed per user, the token only as its SHA-256 (a token is 256
  random bits: a plain hash is enough, nothing to guess). `allowance` and
  `allowance_time` are the token's rate-limit bucket, shared by every replica.
- calendar_feed_tombstones: a session the user was in until it was cancelled or they
  left it (the room row is gone, or no longer theirs), kept 30 days so that subscribed
  clients see it as STATUS:CANCELLED. Written only for users with a feed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE calendar_feeds (
            user_id        text PRIMARY KEY REFERENCES users (user_id),
            token_hash     bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
            allowance      double precision NOT NULL,
            allowance_time timestamptz NOT NULL,
            create_time    timestamptz NOT NULL
        );

        CREATE TABLE calendar_feed_tombstones (
            user_id     text NOT NULL REFERENCES calendar_feeds (user_id) ON DELETE CASCADE,
            room_id     uuid NOT NULL,
            ics_uid     text NOT NULL,
            sequence    integer NOT NULL,
            title       text NOT NULL,
            starts      timestamptz NOT NULL,
            ends        timestamptz NOT NULL,
            cancel_time timestamptz NOT NULL,
            PRIMARY KEY (user_id, room_id)
        );
        CREATE INDEX calendar_feed_tombstones_by_time
            ON calendar_feed_tombstones (cancel_time);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE calendar_feed_tombstones;
        DROP TABLE calendar_feeds;
        """
    )
