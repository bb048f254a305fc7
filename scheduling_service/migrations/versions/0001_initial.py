"""Users directory, rooms, rounds, participant slots, change log, create requests.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE users (
            user_no     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id     text NOT NULL UNIQUE,
            email       text,
            name        text,
            zoneinfo    text,
            update_time timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE rooms (
            room_id     uuid PRIMARY KEY,
            host_id     text NOT NULL REFERENCES users (user_id),
            guest_id    text REFERENCES users (user_id),
            title       text NOT NULL,
            description text NOT NULL,
            starts      timestamptz NOT NULL,
            ends        timestamptz NOT NULL,
            ics_uid     text NOT NULL UNIQUE,
            sequence    integer NOT NULL DEFAULT 0,
            revision    bigint NOT NULL DEFAULT 0,
            create_time timestamptz NOT NULL,
            update_time timestamptz NOT NULL,
            CONSTRAINT rooms_time_order CHECK (ends > starts),
            CONSTRAINT rooms_guest_not_host CHECK (guest_id IS DISTINCT FROM host_id)
        );
        -- ListRooms pages by (starts, room_id); open_only reads the partial index.
        CREATE INDEX rooms_by_start ON rooms (starts, room_id);
        CREATE INDEX rooms_open_by_start ON rooms (starts, room_id) WHERE guest_id IS NULL;
        CREATE INDEX rooms_by_host ON rooms (host_id, starts, room_id);
        CREATE INDEX rooms_by_guest ON rooms (guest_id, starts, room_id) WHERE guest_id IS NOT NULL;

        -- No foreign-key cascade: CancelRoom deletes the rounds, then the room.
        CREATE TABLE rounds (
            round_id    uuid PRIMARY KEY,
            room_id     uuid NOT NULL REFERENCES rooms (room_id),
            number      integer NOT NULL CHECK (number >= 1),
            topic       text NOT NULL,
            create_time timestamptz NOT NULL,
            UNIQUE (room_id, number)
        );

        -- One row per (participant, room). The exclusion constraint is what keeps one
        -- person's sessions apart when replicas race. Two ranges instead of
        -- `user_no WITH =`, which needs btree_gist (absent from pgserver's build).
        CREATE TABLE room_slots (
            room_id uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
            user_no bigint NOT NULL REFERENCES users (user_no),
            role    text NOT NULL CHECK (role IN ('host', 'guest')),
            starts  timestamptz NOT NULL,
            ends    timestamptz NOT NULL,
            PRIMARY KEY (room_id, user_no),
            CONSTRAINT room_slots_no_overlap EXCLUDE USING gist (
                int8range(user_no, user_no, '[]') WITH &&,
                tstzrange(starts, ends) WITH &&
            )
        );
        CREATE INDEX room_slots_by_user ON room_slots (user_no, starts);

        -- AIP-155: a repeated CreateRoom with the same request_id returns this room.
        CREATE TABLE room_requests (
            host_id     text NOT NULL,
            request_id  uuid NOT NULL,
            room_id     uuid NOT NULL,
            create_time timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (host_id, request_id)
        );
        CREATE INDEX room_requests_by_time ON room_requests (create_time);

        -- One row, updated by every change as its last statement: its row lock orders
        -- the commits, so revisions become visible in order and without gaps.
        CREATE TABLE revision_counter (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            value     bigint NOT NULL
        );
        INSERT INTO revision_counter (value) VALUES (0);

        -- The change log behind WatchRooms. `room` is the scheduling.v1.Room message
        -- (without revision and etag, which come from this row); participants and
        -- the open flags before/after let filtered watchers see a room leave.
        CREATE TABLE room_events (
            revision     bigint PRIMARY KEY,
            room_id      uuid NOT NULL,
            change       text NOT NULL,
            room         bytea NOT NULL,
            participants text[] NOT NULL,
            open_before  boolean NOT NULL,
            open_after   boolean NOT NULL,
            event_time   timestamptz NOT NULL
        );
        CREATE INDEX room_events_by_time ON room_events (event_time);

        -- Revisions up to `compacted` have been pruned: resuming from an older one is
        -- OUT_OF_RANGE. Its own row, so pruning never waits on the revision counter.
        CREATE TABLE room_events_horizon (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            compacted bigint NOT NULL
        );
        INSERT INTO room_events_horizon (compacted) VALUES (0);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE room_events_horizon;
        DROP TABLE room_events;
        DROP TABLE revision_counter;
        DROP TABLE room_requests;
        DROP TABLE room_slots;
        DROP TABLE rounds;
        DROP TABLE rooms;
        DROP TABLE users;
        """
    )
