"""Room search (docs/design.md §15): ListRooms' `query` matches words of a room's title,
topics and description through PostgreSQL's text search, with the `simple`
configuration (whole words, any case, no stemming: a search finds what it names).

Two vectors, because a booked room's description is its participants' alone: everyone's
search matches `search_public` (title and topics), and `search_all` (with the
description) only where the caller may see the description. Rooms never change their
title, description or rounds, so the vectors are written once, at create.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- With a default, a replica still on the code before this migration (a rolling
        -- update) creates rooms as before; they are found by everything but `query`.
        ALTER TABLE rooms ADD COLUMN search_public tsvector NOT NULL DEFAULT ''::tsvector,
                          ADD COLUMN search_all tsvector NOT NULL DEFAULT ''::tsvector;
        UPDATE rooms r
           SET search_public = to_tsvector('simple', r.title || ' ' || coalesce(t.topics, '')),
               search_all = to_tsvector(
                   'simple', r.title || ' ' || coalesce(t.topics, '') || ' ' || r.description)
          FROM rooms x
          LEFT JOIN (SELECT room_id, string_agg(topic, ' ' ORDER BY number) AS topics
                       FROM rounds GROUP BY room_id) AS t ON t.room_id = x.room_id
         WHERE x.room_id = r.room_id;
        CREATE INDEX rooms_search_public ON rooms USING gin (search_public);
        CREATE INDEX rooms_search_all ON rooms USING gin (search_all);
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE rooms DROP COLUMN search_public, DROP COLUMN search_all")
