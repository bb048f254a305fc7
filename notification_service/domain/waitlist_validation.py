"""The checks of a waitlist notice (a WaitlistNotice: the e-mail offering a held room to
the first in its line, or telling those waiting that the session was cancelled). The
same field checks as invites and reminders. Pure."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from notification_service.domain.errors import InvalidMessage
from notification_service.domain.field_checks import MAX_KEY, MAX_TITLE, Checker
from notification_service.domain.model import Mailbox, Round

# A room id is the scheduling service's UUID; any printable ASCII up to this is taken,
# since the body only shows it.
MAX_ROOM_ID = 64
_ROOM_ID = re.compile(r"[\x21-\x7e]+")


class NoticeKind(enum.Enum):
    OFFER = "OFFER"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class WaitlistNoticeMessage:
    """A waitlist notice as received; any field may be missing or hostile. `kind` None:
    a kind this service does not know."""

    kind: NoticeKind | None
    uid: str
    room_id: str
    title: str
    start: datetime | None
    end: datetime | None
    rounds: tuple[Round, ...]
    recipient: Mailbox
    time_zone: str
    hold_until: datetime | None
    notice_time: datetime | None
    idempotency_key: str = ""


@dataclass(frozen=True)
class ValidWaitlistNotice:
    """A checked notice; times are aware UTC datetimes on whole seconds. `hold_until`
    is set on an offer only."""

    kind: NoticeKind
    uid: str
    room_id: str
    title: str
    start: datetime
    end: datetime
    rounds: tuple[Round, ...]
    recipient: Mailbox
    zone: ZoneInfo
    hold_until: datetime | None
    notice_time: datetime
    idempotency_key: str


def validate_waitlist_notice(message: WaitlistNoticeMessage) -> ValidWaitlistNotice:
    """Check every field; raise InvalidMessage listing all problems."""
    check = Checker()
    if message.kind is None:
        check.fail("notice.kind", "must be KIND_OFFER or KIND_CANCELLED")
    uid = check.uid("notice.uid", message.uid)
    if not message.room_id:
        check.fail("notice.room_id", "required")
    elif len(message.room_id) > MAX_ROOM_ID or not _ROOM_ID.fullmatch(message.room_id):
        check.fail("notice.room_id", f"must be 1 to {MAX_ROOM_ID} printable ASCII characters")
    title = check.text("notice.title", message.title, limit=MAX_TITLE, required=True)
    start = check.time("notice.start_time", message.start)
    end = check.time("notice.end_time", message.end)
    if message.start is not None and message.end is not None and end <= start:
        check.fail("notice.end_time", "must be after start_time")
    rounds = check.rounds("notice.rounds", message.rounds)
    recipient = check.mailbox("notice.recipient", message.recipient)
    zone = check.zone("notice.recipient.time_zone", message.time_zone)
    notice_time = check.time("notice.notice_time", message.notice_time)
    hold_until = None
    if message.kind is NoticeKind.OFFER:
        hold_until = check.time("notice.hold_until", message.hold_until)
        both = message.hold_until is not None and message.notice_time is not None
        if both and hold_until <= notice_time:
            check.fail("notice.hold_until", "must be after notice_time")
    elif message.kind is NoticeKind.CANCELLED and message.hold_until is not None:
        check.fail("notice.hold_until", "only an offer has one")
    key = check.text("notice.idempotency_key", message.idempotency_key, limit=MAX_KEY)
    if check.violations:
        raise InvalidMessage(check.violations)
    assert message.kind is not None
    return ValidWaitlistNotice(
        kind=message.kind,
        uid=uid,
        room_id=message.room_id,
        title=title,
        start=start,
        end=end,
        rounds=rounds,
        recipient=recipient,
        zone=zone,
        hold_until=hold_until,
        notice_time=notice_time,
        idempotency_key=key,
    )
