"""The field checks both message kinds share: nothing unchecked reaches a header or an
ICS line. Pure.

Python 3.11's `email` package lets ``"x\\n"`` into a header and emits a stray LF,
and a lone CR or a U+2028 is read as a line break by some clients, so every
user-supplied text is checked here, once, before rendering. A `Checker` collects all
problems, so the caller learns about every bad field in one answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notification_service.domain.errors import FieldViolation
from notification_service.domain.model import Mailbox, Round
from servicekit.text import address_problem, first_control_character

MAX_TITLE = 200
MAX_DESCRIPTION = 4000
MAX_NAME = 200
MAX_UID = 255
MAX_KEY = 200
MAX_ROUNDS = 50
MAX_TOPIC = 200
MAX_ROUND_NUMBER = 1000

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

_UID = re.compile(r"[\x21-\x7e]+")


def describe_char(char: str) -> str:
    return f"U+{ord(char):04X}"


class Checker:
    """Collects violations while reading fields (invites and reminders alike)."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def text(
        self,
        field: str,
        value: str,
        *,
        limit: int,
        required: bool = False,
        multiline: bool = False,
    ) -> str:
        bad = first_control_character(value, multiline=multiline)
        if bad is not None:
            allowed = " (line feeds and tabs are allowed)" if multiline else ""
            self.fail(field, f"contains control character {describe_char(bad)}{allowed}")
        elif len(value) > limit:
            self.fail(field, f"longer than {limit} characters")
        elif required and not value.strip():
            self.fail(field, "required")
        return value

    def address(self, field: str, value: str) -> str:
        if not value:
            self.fail(field, "required")
            return value
        if first_control_character(value) is not None:
            self.fail(field, "contains a control character")
            return value
        problem = address_problem(value)
        if problem:
            self.fail(field, problem)
        return value

    def mailbox(self, field: str, mailbox: Mailbox) -> Mailbox:
        self.address(f"{field}.email", mailbox.address)
        self.text(f"{field}.display_name", mailbox.name, limit=MAX_NAME)
        return mailbox

    def uid(self, field: str, uid: str) -> str:
        if not uid:
            self.fail(field, "required")
        elif len(uid) > MAX_UID or not _UID.fullmatch(uid):
            self.fail(field, f"must be 1 to {MAX_UID} printable ASCII characters, no spaces")
        return uid

    def rounds(self, field: str, rounds: tuple[Round, ...]) -> tuple[Round, ...]:
        if len(rounds) > MAX_ROUNDS:
            self.fail(field, f"more than {MAX_ROUNDS} rounds")
            return ()
        for index, round_ in enumerate(rounds):
            if not 1 <= round_.number <= MAX_ROUND_NUMBER:
                self.fail(f"{field}[{index}].number", f"must be 1 to {MAX_ROUND_NUMBER}")
            self.text(f"{field}[{index}].topic", round_.topic, limit=MAX_TOPIC, required=True)
        return rounds

    def time(self, field: str, value: datetime | None) -> datetime:
        if value is None:
            self.fail(field, "required")
            return EARLIEST
        value = value.astimezone(UTC).replace(microsecond=0)
        if not EARLIEST <= value < LATEST:
            # Near year 9999 a time cannot even be shown in an eastern zone.
            self.fail(field, f"must be from {EARLIEST:%Y} to {LATEST:%Y}")
            return EARLIEST
        return value

    def zone(self, field: str, name: str) -> ZoneInfo:
        utc = ZoneInfo("UTC")
        if not name:
            return utc
        if first_control_character(name) is not None or len(name) > 64:
            self.fail(field, "not an IANA time zone name")
            return utc
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.fail(field, f"unknown time zone {name!r}")
            return utc
