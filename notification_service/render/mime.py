"""The e-mails, written by hand as RFC 5322/MIME bytes. Pure: no I/O.

Invites (iMIP, RFC 6047), laid out per the CalConnect iMIP practices:
multipart/mixed { multipart/alternative { text/plain, text/html, text/calendar;
method=…; charset=UTF-8 }, application/ics attachment without a method }.
Reminders, calendar notices and waitlist notices are no iTIP message:
multipart/alternative { text/plain, text/html }.

A mail is first described (`Mail`: headers, the part tree, each part's decoded
content), then written; `verify.mime.verify_mail` parses the bytes back and compares
them with the same description before anything is sent. Headers holding caller text
are encoded by `render.headers` (never by the `email` package, which re-parses what it
is given); bodies go through the stdlib codecs (quoted-printable for text,
base64 for calendars). Every MIME parameter is a constant or an enum value: no
caller text reaches one, so there is no RFC 2231 parameter to get wrong.

The bytes depend only on the message and the sender: Message-ID, Date and the
MIME boundaries are derived from the request, so a retry sends the same mail.
The output is 7-bit clean, so no relay needs 8BITMIME or SMTPUTF8 for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from notification_service.domain.model import Mailbox, ValidInvite, ValidReminder
from notification_service.domain.notice_validation import ValidNotice
from notification_service.domain.waitlist_validation import ValidWaitlistNotice
from notification_service.render import headers

CRLF = b"\r\n"
ICS_FILENAME = "invite.ics"


@dataclass(frozen=True)
class Leaf:
    """A single part: `content` is what a reader decodes from it."""

    content_type: str
    params: tuple[tuple[str, str], ...]
    encoding: str  # Content-Transfer-Encoding: "quoted-printable" or "base64"
    content: bytes
    attachment: str = ""  # filename of an attachment; "" for an inline part


@dataclass(frozen=True)
class Multipart:
    subtype: str
    boundary: str
    parts: tuple[Part, ...]

    @property
    def content_type(self) -> str:
        return f"multipart/{self.subtype}"


Part = Leaf | Multipart


@dataclass(frozen=True)
class Mail:
    """What a mail is meant to be; `write` turns it into bytes."""

    sender: Mailbox
    recipient: Mailbox
    subject: str
    date: str
    message_id: str  # without angle brackets
    body: Multipart

    def header_names(self) -> list[str]:
        return [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "MIME-Version",
            "Content-Type",
        ]


def digest(*fields: str) -> str:
    key = "\x1f".join(fields).lower()
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def invite_message_id(message: ValidInvite, domain: str) -> str:
    """Stable per (uid, sequence, method, recipient); without angle brackets."""
    token = digest(
        message.uid, str(message.sequence), message.method.value, message.recipient.address
    )
    return f"{token}@{domain}"


def reminder_message_id(reminder: ValidReminder, domain: str) -> str:
    """Stable per (uid, start_time, offset, recipient); without angle brackets."""
    token = digest(
        "reminder",
        reminder.uid,
        reminder.start.isoformat(),
        str(int(reminder.offset.total_seconds())),
        reminder.recipient.address,
    )
    return f"{token}@{domain}"


def notice_message_id(notice: ValidNotice, domain: str) -> str:
    """Stable per (recipient, notice_time, idempotency key); without angle brackets."""
    token = digest(
        "calendar-notice",
        notice.recipient.address,
        notice.notice_time.isoformat(),
        notice.idempotency_key,
    )
    return f"{token}@{domain}"


def waitlist_message_id(notice: ValidWaitlistNotice, domain: str) -> str:
    """Stable per (kind, uid, recipient, hold's end, notice_time): an offer of a hold
    that started again is another mail; without angle brackets."""
    token = digest(
        "waitlist",
        notice.kind.value,
        notice.uid,
        notice.recipient.address,
        notice.hold_until.isoformat() if notice.hold_until else "",
        notice.notice_time.isoformat(),
    )
    return f"{token}@{domain}"


def date_header(moment: datetime) -> str:
    return format_datetime(moment)


def _boundaries(mid: str) -> tuple[str, str]:
    # "=_" never occurs in quoted-printable ("=" is written =3D) or base64 text,
    # so no body line can look like a delimiter.
    token = mid.partition("@")[0][:24]
    return f"=_mixed_{token}", f"=_alt_{token}"


def text_part(subtype: str, text: str) -> Leaf:
    # CRLF line ends in the content itself: that is the canonical form of text
    # (RFC 2046 4.1.1), and what a reader gets back.
    content = text.replace("\n", "\r\n").encode("utf-8")
    return Leaf(f"text/{subtype}", (("charset", "utf-8"),), "quoted-printable", content)


def invite_mail(
    message: ValidInvite,
    subject: str,
    plain: str,
    html: str,
    ics: bytes,
    sender: Mailbox,
    mid: str,
) -> Mail:
    mixed, alternative = _boundaries(mid)
    calendar = Leaf(
        "text/calendar", (("method", message.method.value), ("charset", "UTF-8")), "base64", ics
    )
    # Clients that ignore the text/calendar alternative pick up the file; a
    # method parameter here would make some of them process the message twice.
    attachment = Leaf(
        "application/ics", (("name", ICS_FILENAME),), "base64", ics, attachment=ICS_FILENAME
    )
    body = Multipart(
        "mixed",
        mixed,
        (
            Multipart(
                "alternative",
                alternative,
                (text_part("plain", plain), text_part("html", html), calendar),
            ),
            attachment,
        ),
    )
    return Mail(sender, message.recipient, subject, date_header(message.dtstamp), mid, body)


def reminder_mail(
    reminder: ValidReminder, subject: str, plain: str, html: str, sender: Mailbox, mid: str
) -> Mail:
    _, alternative = _boundaries(mid)
    body = Multipart(
        "alternative", alternative, (text_part("plain", plain), text_part("html", html))
    )
    return Mail(sender, reminder.recipient, subject, date_header(reminder.due_time), mid, body)


def notice_mail(
    notice: ValidNotice, subject: str, plain: str, html: str, sender: Mailbox, mid: str
) -> Mail:
    _, alternative = _boundaries(mid)
    body = Multipart(
        "alternative", alternative, (text_part("plain", plain), text_part("html", html))
    )
    return Mail(sender, notice.recipient, subject, date_header(notice.notice_time), mid, body)


def waitlist_mail(
    notice: ValidWaitlistNotice, subject: str, plain: str, html: str, sender: Mailbox, mid: str
) -> Mail:
    _, alternative = _boundaries(mid)
    body = Multipart(
        "alternative", alternative, (text_part("plain", plain), text_part("html", html))
    )
    return Mail(sender, notice.recipient, subject, date_header(notice.notice_time), mid, body)


def _content_type(part: Part) -> str:
    if isinstance(part, Multipart):
        params: tuple[tuple[str, str], ...] = (("boundary", part.boundary),)
    else:
        params = part.params
    words = [part.content_type + (";" if params else "")]
    for index, (name, value) in enumerate(params):
        words.append(f'{name}="{value}"' + (";" if index < len(params) - 1 else ""))
    return headers.fold("Content-Type", words)


def _encode(leaf: Leaf) -> bytes:
    if leaf.encoding == "base64":
        return base64.encodebytes(leaf.content).replace(b"\n", CRLF)
    # b2a_qp keeps CRLF line ends when the text's first line ends in one (the
    # content is CRLF throughout) and soft-breaks longer lines at 76.
    encoded = binascii.b2a_qp(leaf.content, istext=True, header=False)
    return encoded if encoded.endswith(CRLF) else encoded + b"=" + CRLF


def _part_headers(part: Part) -> str:
    text = _content_type(part)
    if isinstance(part, Leaf):
        text += headers.verbatim_header("Content-Transfer-Encoding", part.encoding)
        if part.attachment:
            text += headers.fold(
                "Content-Disposition", ["attachment;", f'filename="{part.attachment}"']
            )
    return text


def _write_part(part: Part, out: list[bytes]) -> None:
    out.append(_part_headers(part).encode("ascii"))
    out.append(CRLF)
    if isinstance(part, Leaf):
        out.append(_encode(part))
        return
    delimiter = b"--" + part.boundary.encode("ascii")
    for child in part.parts:
        out.append(delimiter + CRLF)
        _write_part(child, out)
        # The CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1),
        # so each part's own last line end survives.
        out.append(CRLF)
    out.append(delimiter + b"--" + CRLF)


def write(mail: Mail) -> bytes:
    """The whole RFC 5322 message, CRLF line ends."""
    top = (
        headers.mailbox_header("From", mail.sender)
        + headers.mailbox_header("To", mail.recipient)
        + headers.unstructured_header("Subject", mail.subject)
        + headers.verbatim_header("Date", mail.date)
        + headers.verbatim_header("Message-ID", f"<{mail.message_id}>")
        # Keeps out-of-office replies and other auto-responders quiet.
        + headers.verbatim_header("Auto-Submitted", "auto-generated")
        + headers.verbatim_header("MIME-Version", "1.0")
    )
    out = [top.encode("ascii")]
    _write_part(mail.body, out)
    return b"".join(out)
