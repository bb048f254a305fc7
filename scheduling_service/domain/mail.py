"""Where the e-mails about a room stand, for its participants (Room.mail). Pure.

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


@dataclass(frozen=True)
class MailState:
    user_id: str
    status: MailStatus
    kind: MailKind
    not_sent_reason: str  # NO_ADDRESS or NOTIFICATIONS_DISABLED with NOT_SENT, else ""
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
        status, reason = MailStatus.NOT_SENT, NO_ADDRESS
    elif row is State.DELIVERED and outcome == Outcome.DRY_RUN.value:
        status, reason = MailStatus.NOT_SENT, NOTIFICATIONS_DISABLED
    elif row is State.DELIVERED:
        status = MailStatus.SENT
    elif row is State.FAILED:
        status = MailStatus.FAILED
    else:
        status = MailStatus.PENDING
    return MailState(user_id, status, kind, reason, update_time)
