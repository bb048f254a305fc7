"""`make mail` (`python -m tools.mailbox`): what `make run`'s SMTP sink has received.

One line a message, oldest first: when it was sent, to whom, the iTIP method, SEQUENCE,
UID and subject. Each message's calendar is written to `var/ics/` (DEV_VAR_DIR moves
it with the Maildir) as a file a calendar application can import.

Everything in a message is whatever an SMTP client sent the sink, so every text shown
is escaped: one message stays one line on the terminal.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

import icalendar

from servicekit.logs import escape

CALENDAR_TYPES = ("text/calendar", "application/ics")
# A file name part may hold only these; any run of others ('/', '.', spaces) becomes '_'.
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9@_-]+")


@dataclass(frozen=True)
class Delivered:
    """One message of the Maildir, as the listing shows it."""

    path: Path
    sent: datetime
    to: str
    subject: str
    method: str  # "-" for a message without a calendar (a reminder)
    uid: str
    sequence: str
    ics: bytes | None

    def ics_name(self) -> str:
        """Stable and unique enough: the same message always gets the same name."""
        parts = [
            self.sent.strftime("%Y%m%dT%H%M%SZ"),
            self.to.split("@")[0],
            self.method,
            f"seq{self.sequence}",
            self.uid.split("@")[0][:8],
        ]
        return "-".join(_UNSAFE_NAME.sub("_", part)[:40] or "_" for part in parts) + ".ics"


def default_dirs(env: Mapping[str, str]) -> tuple[Path, Path]:
    base = Path(env.get("DEV_VAR_DIR") or "var")
    return base / "mail", base / "ics"


def message_files(maildir: Path) -> Iterator[Path]:
    """Delivered messages: new/ (unread) and cur/; tmp/ holds ones still arriving."""
    for folder in ("new", "cur"):
        directory = maildir / folder
        if directory.is_dir():
            yield from (p for p in directory.iterdir() if p.is_file() and p.name[0] != ".")


def read(path: Path) -> Delivered:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part, method = _calendar(message)
    uid, sequence, ics = "-", "-", None
    if part is not None:
        payload = part.get_payload(decode=True)
        ics = payload if isinstance(payload, bytes) else b""
        uid, sequence, inner_method = _event_identity(ics)
        method = method or inner_method
    return Delivered(
        path=path,
        sent=_sent(message, path),
        to=_recipient(message),
        subject=_header(message, "Subject"),
        method=method or "-",
        uid=uid,
        sequence=sequence,
        ics=ics,
    )


def _calendar(message: EmailMessage) -> tuple[Message | None, str]:
    """The calendar to save (the importable application/ics copy when there is one,
    else the iTIP text/calendar part) and the iTIP part's `method=` ("" if none)."""
    parts = [p for p in message.walk() if p.get_content_type() in CALENDAR_TYPES]
    itip = next((p for p in parts if p.get_content_type() == "text/calendar"), None)
    attachment = next((p for p in parts if p.get_content_type() == "application/ics"), None)
    method = itip.get_param("method") if itip is not None else None
    return attachment or itip, method.upper() if isinstance(method, str) else ""


def _event_identity(ics: bytes) -> tuple[str, str, str]:
    """(UID, SEQUENCE, METHOD) of the calendar's first event; '?' for what is unreadable."""
    try:
        calendar = icalendar.Calendar.from_ical(ics)
        events = calendar.walk("VEVENT")
    except (ValueError, LookupError, TypeError):  # whatever a sender made of it
        return "?", "?", "?"
    if not events:
        return "?", "?", str(calendar.get("METHOD", "?"))
    event = events[0]
    return (
        str(event.get("UID", "?")),
        str(event.get("SEQUENCE", "0")),
        str(calendar.get("METHOD", "?")),
    )


def _recipient(message: EmailMessage) -> str:
    """The address of To (the sink's messages each have one recipient)."""
    raw = _header(message, "To")
    _, address = parseaddr(raw)
    return address or raw


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message[name]
    except (ValueError, IndexError):  # a header the parser cannot make sense of
        return "?"
    return "-" if value is None else str(value)


def _sent(message: EmailMessage, path: Path) -> datetime:
    """The Date header; the file's time when it has none a parser reads."""
    try:
        sent = parsedate_to_datetime(_header(message, "Date"))
    except (TypeError, ValueError):
        sent = None
    if sent is None or sent.tzinfo is None:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return sent.astimezone(UTC)


def listing(messages: Sequence[Delivered]) -> list[str]:
    rows = [
        (
            f"{m.sent:%Y-%m-%d %H:%M:%S}Z",
            escape(m.to),
            escape(m.method),
            escape(m.sequence),
            escape(m.uid),
            escape(m.subject),
        )
        for m in messages
    ]
    header = ("SENT (UTC)", "TO", "METHOD", "SEQ", "UID", "SUBJECT")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in [header, *rows]
    ]


def main(argv: Sequence[str] | None = None) -> int:
    maildir_default, ics_default = default_dirs(os.environ)
    parser = argparse.ArgumentParser(
        prog="make mail",
        description="List the messages make run's SMTP sink received and write each "
        "calendar out as an .ics file.",
    )
    parser.add_argument(
        "--maildir", type=Path, default=maildir_default, help=f"default {maildir_default}"
    )
    parser.add_argument("--ics-dir", type=Path, default=ics_default, help=f"default {ics_default}")
    args = parser.parse_args(argv)

    if not args.maildir.is_dir():
        print(f"no mail folder at {args.maildir}: `make run` creates it", file=sys.stderr)
        return 1
    messages: list[Delivered] = []
    for path in message_files(args.maildir):
        try:
            messages.append(read(path))
        except (OSError, ValueError, LookupError, TypeError) as error:  # one bad file hides none
            print(f"{path}: unreadable ({escape(str(error))})", file=sys.stderr)
    if not messages:
        print(f"no messages in {args.maildir} yet (book a room: the invites land here)")
        return 0
    # Same Date (one change's messages): the order they arrived in.
    messages.sort(key=lambda m: (m.sent, m.path.stat().st_mtime_ns, m.path.name))
    for line in listing(messages):
        print(line)
    calendars = [m for m in messages if m.ics is not None]
    if calendars:
        args.ics_dir.mkdir(parents=True, exist_ok=True)
        for m in calendars:
            assert m.ics is not None
            (args.ics_dir / m.ics_name()).write_bytes(m.ics)
        files = "calendar file" if len(calendars) == 1 else "calendar files"
        print(
            f"\n{len(calendars)} {files} in {args.ics_dir}/ (named SENT-TO-METHOD-SEQ-UID):"
            " import one into a calendar application"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
