"""What others see of an event, reminders, and the state of each participant's mail.

- room_events.room_public: the event's room as non-participants see it (docs/design.md §8),
  serialized once when written; NULL when nothing is hidden (an open room).
- rooms.reminder_offsets: seconds before the start at which each participant of a
  booked room is reminded (the room's own, or the default when it was created).
- notification_outbox: reminders are rows of their own kind, due at start - offset,
  with the start they were written for (re-checked when sent); every row says which
  change it tells of and how its last attempt ended, so a participant's latest mail
  can be shown as pending / sent / failed / not sent; a participant without an address
  gets a `skipped` row; a reminder that no longer fits is `dropped`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE room_events ADD COLUMN room_public bytea;

        ALTER TABLE rooms ADD COLUMN reminder_offsets integer[] NOT NULL DEFAULT '{}';

        ALTER TABLE notification_outbox
            ADD COLUMN kind text NOT NULL DEFAULT 'invite',
            ADD COLUMN change text,
            ADD COLUMN outcome text,
            ADD COLUMN session_start timestamptz,
            ADD COLUMN offset_s integer,
            DROP CONSTRAINT notification_outbox_method_check,
            DROP CONSTRAINT notification_outbox_state_check;
        ALTER TABLE notification_outbox
            ADD CONSTRAINT notification_outbox_method_check
                CHECK (method IN ('REQUEST', 'CANCEL', 'REMINDER')),
            ADD CONSTRAINT notification_outbox_state_check
                CHECK (state IN ('pending', 'delivered', 'failed', 'superseded',
                                 'skipped', 'dropped')),
            ADD CONSTRAINT notification_outbox_kind_check
                CHECK (kind IN ('invite', 'reminder')),
            ADD CONSTRAINT notification_outbox_reminder_fields
                CHECK ((kind = 'reminder') = (session_start IS NOT NULL AND offset_s IS NOT NULL));

        -- SEQUENCE order and supersession concern invites only.
        DROP INDEX notification_outbox_order;
        CREATE INDEX notification_outbox_order ON notification_outbox
            (ics_uid, recipient_id, sequence) WHERE state = 'pending' AND kind = 'invite';
        -- A room's mail, per participant, latest last (Room.mail; reminders removed
        -- by a leave or a cancel).
        CREATE INDEX notification_outbox_by_room ON notification_outbox
            (room_id, recipient_id, id);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX notification_outbox_by_room;
        DROP INDEX notification_outbox_order;
        DELETE FROM notification_outbox WHERE kind = 'reminder' OR state IN ('skipped', 'dropped');
        ALTER TABLE notification_outbox
            DROP CONSTRAINT notification_outbox_reminder_fields,
            DROP CONSTRAINT notification_outbox_kind_check,
            DROP CONSTRAINT notification_outbox_state_check,
            DROP CONSTRAINT notification_outbox_method_check,
            DROP COLUMN offset_s, DROP COLUMN session_start, DROP COLUMN outcome,
            DROP COLUMN change, DROP COLUMN kind;
        ALTER TABLE notification_outbox
            ADD CONSTRAINT notification_outbox_method_check
                CHECK (method IN ('REQUEST', 'CANCEL')),
            ADD CONSTRAINT notification_outbox_state_check
                CHECK (state IN ('pending', 'delivered', 'failed', 'superseded'));
        CREATE INDEX notification_outbox_order
            ON notification_outbox (ics_uid, recipient_id, sequence) WHERE state = 'pending';
        ALTER TABLE rooms DROP COLUMN reminder_offsets;
        ALTER TABLE room_events DROP COLUMN room_public;
        """
    )
