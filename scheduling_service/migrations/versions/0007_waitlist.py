"""Waitlists (docs/design.md §16): people waiting for a taken room, and the first in
line's hold.

- room_waitlist: one row per (room, user) waiting, in `place` order. The first in line's
  row carries `hold_until` while the room is held for them: the hold is a row, written
  in the transaction of the change that starts it (a guest's leave, a lapse, a holder
  giving up), and at most one per room (room_waitlist_one_hold). Its expiry is a due
  row: room_waitlist_holds_due is what each replica's hold keeper reads, and the lapse
  is one guarded transaction, so it happens once whichever replica gets there.
  Deleted with the room (a cancel).
- notification_outbox takes a fourth kind, 'waitlist' (method 'WAITLIST'): the offer
  to a new holder and the cancellation notice to everyone waiting.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE room_waitlist (
            room_id    uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
            user_id    text NOT NULL REFERENCES users (user_id),
            place      bigint GENERATED ALWAYS AS IDENTITY,
            join_time  timestamptz NOT NULL,
            hold_until timestamptz,
            PRIMARY KEY (room_id, user_id)
        );
        CREATE INDEX room_waitlist_by_place ON room_waitlist (room_id, place);
        CREATE UNIQUE INDEX room_waitlist_one_hold ON room_waitlist (room_id)
            WHERE hold_until IS NOT NULL;
        CREATE INDEX room_waitlist_holds_due ON room_waitlist (hold_until)
            WHERE hold_until IS NOT NULL;

        ALTER TABLE notification_outbox
            DROP CONSTRAINT notification_outbox_method_check,
            ADD CONSTRAINT notification_outbox_method_check
                CHECK (method IN ('REQUEST', 'CANCEL', 'REMINDER', 'NOTICE', 'WAITLIST')),
            DROP CONSTRAINT notification_outbox_kind_check,
            ADD CONSTRAINT notification_outbox_kind_check
                CHECK (kind IN ('invite', 'reminder', 'notice', 'waitlist'));
        """
    )


def downgrade() -> None:
    op.execute(
        """
        -- Code before 0007 cannot read a WAITLIST event: it would stop every watcher
        -- at the first one (they only carried the waitlist, which goes too).
        DELETE FROM room_events WHERE change = 'WAITLIST';
        DELETE FROM notification_outbox WHERE kind = 'waitlist';
        ALTER TABLE notification_outbox
            DROP CONSTRAINT notification_outbox_method_check,
            ADD CONSTRAINT notification_outbox_method_check
                CHECK (method IN ('REQUEST', 'CANCEL', 'REMINDER', 'NOTICE')),
            DROP CONSTRAINT notification_outbox_kind_check,
            ADD CONSTRAINT notification_outbox_kind_check
                CHECK (kind IN ('invite', 'reminder', 'notice'));
        DROP TABLE room_waitlist;
        """
    )
