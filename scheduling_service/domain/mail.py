"""Where the e-mails about a room stand, for its participants (Room.mail), and the copy
in each one's connected calendar (Room.calendar). Pure.

Each participant's latest mail that is due (reminders written ahead count from their
due time) says what it was and how it went: pending (recorded, retries included),
sent, failed (given up on), or not sent (no address known; or the deployment sends no
mail, NOTIFICATIONS_ENABLED=false). What a newer message replaced, and reminders that
no longer fit when due, do not count.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from scheduling_service.domain.changes import Change
from scheduling_service.domain.outbox import Outcome, State


class MailKind(enum.Enum):
    INVITATION = "INVITATION"
    UPDATE = "UPDATE"
    CANCELLATION = "CANCELLATION"
    REMINDER = "REMINDER"


class MailStatus(enum.Enum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"
    NOT_SENT = "NOT_SENT"


NO_ADDRESS = "NO_ADDRESS"
NOTIFICATIONS_DISABLED = "NOTIFICATIONS_DISABLED"
# The recipient's connected calendar gets the session instead (`email_invites` off).
CALENDAR_CONNECTED = "CALENDAR_CONNECTED"
_NOT_SENT_REASONS = frozenset({NO_ADDRESS, CALENDAR_CONNECTED})


@dataclass(frozen=True)
class MailState:
    user_id: str
    status: MailStatus
    kind: MailKind
    # With NOT_SENT: NO_ADDRESS, NOTIFICATIONS_DISABLED or CALENDAR_CONNECTED; else "".
    not_sent_reason: str
    update_time: datetime


def mail_state(
    user_id: str,
    *,
    reminder: bool,
    method: str,
    change: str | None,
    state: str,
    outcome: str | None,
    update_time: datetime,
    last_error: str | None = None,
) -> MailState:
    """The state one outbox row stands for."""
    if reminder:
        kind = MailKind.REMINDER
    elif method == "CANCEL":
        kind = MailKind.CANCELLATION
    elif change == Change.BOOKED.value:
        kind = MailKind.INVITATION
    else:
        kind = MailKind.UPDATE
    row = State(state)
    reason = ""
    if row is State.SKIPPED:
        # A skipped row's last_error says why (rows from before it did: no address).
        why = last_error if last_error in _NOT_SENT_REASONS else NO_ADDRESS
        status, reason = MailStatus.NOT_SENT, why
    elif row is State.DELIVERED and outcome == Outcome.DRY_RUN.value:
        status, reason = MailStatus.NOT_SENT, NOTIFICATIONS_DISABLED
    elif row is State.DELIVERED:
        status = MailStatus.SENT
    elif row is State.FAILED:
        status = MailStatus.FAILED
    else:
        status = MailStatus.PENDING
    return MailState(user_id, status, kind, reason, update_time)


class CopyStatus(enum.Enum):
    """What a participant sees of their copy (Room.mail[].calendar)."""

    PENDING = "PENDING"
    WRITTEN = "WRITTEN"
    REMOVED = "REMOVED"
    WAITING = "WAITING"  # pending, but the connection is broken
    FAILED = "FAILED"


@dataclass(frozen=True)
class CopyView:
    user_id: str
    status: CopyStatus
    update_time: datetime


def copy_view(
    user_id: str, state: str, connection_state: str | None, update_time: datetime
) -> CopyView:
    # calendar_copies.state: pending, written, removed or failed.
    if state == "pending" and connection_state == "broken":
        status = CopyStatus.WAITING
    else:
        status = CopyStatus(state.upper())
    return CopyView(user_id, status, update_time)
