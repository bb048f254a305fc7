"""The e-mail carrying an iTIP message (iMIP, RFC 6047). Pure: no I/O.

Layout per the CalConnect iMIP practices: multipart/mixed { multipart/alternative
{ text/plain, text/html, text/calendar; method=…; charset=UTF-8 },
application/ics attachment without a method }. The bytes depend only on the
message and the sender: Message-ID, Date (from DTSTAMP) and MIME boundaries are
derived from the request, so a retry sends the same message.

The output is 7-bit clean (bodies quoted-printable, calendars base64, headers
RFC 2047), so no relay needs 8BITMIME or SMTPUTF8 for it.
"""

from __future__ import annotations

import hashlib
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime

from notification_service.bodies import render_bodies
from notification_service.model import Mailbox, ValidMessage
from notification_service.validation import NotificationError

_POLICY = policy.SMTP  # CRLF line ends, headers folded at 78
MAX_LINE = 998  # RFC 5322 2.1.1


class RenderingError(NotificationError):
    """The renderer produced something unsafe: a bug, never the caller's fault."""


def message_id(message: ValidMessage, domain: str) -> str:
    """Stable per (uid, sequence, method, recipient); without angle brackets."""
    key = "\x1f".join(
        (message.uid, str(message.sequence), message.method.value, message.recipient.address)
    ).lower()
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"{digest}@{domain}"


def _address(mailbox: Mailbox) -> Address:
    return Address(display_name=mailbox.name, addr_spec=mailbox.address)


def _text(body: str, subtype: str) -> MIMEPart:
    part = MIMEPart(policy=_POLICY)
    part.set_content(body, subtype=subtype, charset="utf-8", cte="quoted-printable")
    return part


def _multipart(subtype: str, boundary: str) -> MIMEPart:
    part = MIMEPart(policy=_POLICY)
    part["Content-Type"] = f"multipart/{subtype}"
    part.set_boundary(boundary)
    return part


def _check_lines(data: bytes) -> None:
    # Validation already keeps CR/LF out of every text; this guards the
    # generator itself, so a regression can never smuggle a header or a line.
    lines = data.split(b"\r\n")
    for line in lines:
        if b"\r" in line or b"\n" in line or b"\0" in line:
            raise RenderingError("rendered message has a bare CR, LF or NUL")
        if len(line) > MAX_LINE:
            raise RenderingError("rendered message has a line longer than 998 octets")
    if not data.isascii():
        raise RenderingError("rendered message is not 7-bit clean")


def build_mime(message: ValidMessage, ics: bytes, sender: Mailbox, mid: str) -> bytes:
    """The whole RFC 5322 message, CRLF line ends."""
    bodies = render_bodies(message)
    mail = EmailMessage(policy=_POLICY)
    mail["From"] = _address(sender)
    mail["To"] = _address(message.recipient)
    mail["Subject"] = bodies.subject
    mail["Date"] = format_datetime(message.dtstamp)
    mail["Message-ID"] = f"<{mid}>"
    # Keeps out-of-office replies and other auto-responders quiet.
    mail["Auto-Submitted"] = "auto-generated"

    token = mid.partition("@")[0]
    alternative = _multipart("alternative", f"=_alt_{token}")
    alternative.attach(_text(bodies.plain, "plain"))
    alternative.attach(_text(bodies.html, "html"))
    calendar = MIMEPart(policy=_POLICY)
    calendar.set_content(
        ics,
        maintype="text",
        subtype="calendar",
        cte="base64",
        params={"method": message.method.value, "charset": "UTF-8"},
    )
    alternative.attach(calendar)
    # Clients that ignore the text/calendar alternative pick up the file; a
    # method parameter here would make some of them process the message twice.
    attachment = MIMEPart(policy=_POLICY)
    attachment.set_content(
        ics,
        maintype="application",
        subtype="ics",
        cte="base64",
        disposition="attachment",
        filename="invite.ics",
        params={"name": "invite.ics"},
    )
    mail["MIME-Version"] = "1.0"
    mail["Content-Type"] = "multipart/mixed"
    # Fixed boundaries (random by default) keep a retry byte-identical. "=_"
    # never occurs in quoted-printable or base64 text.
    mail.set_boundary(f"=_mixed_{token}")
    # typeshed types attach() as taking the container's own class; MIMEPart is
    # right for subparts (EmailMessage would add MIME-Version to each).
    mail.attach(alternative)  # type: ignore[arg-type]
    mail.attach(attachment)  # type: ignore[arg-type]

    data = mail.as_bytes()
    _check_lines(data)
    return data
