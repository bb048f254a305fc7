"""The structural check of a mail: its bytes are parsed back and compared with what was
meant before it may leave. Pure.

Validation keeps hostile text out, and `render.headers` encodes what remains so that no
library re-parses it; this check is the last line, so that a regression in either
(or in a library) can never send a mail with a header, a recipient, a part or an
iCalendar property nobody meant. What it compares:

- octets: 7-bit, CRLF line ends only, no NUL, lines of at most 998 octets;
- the header names, exactly and in order; exactly one From and one To mailbox,
  equal to the sender and the recipient; the decoded Subject equal to the subject;
  the headers the service made (Date, Message-ID, …) equal to their values;
- the part tree: content types, every MIME parameter (so no caller text can have
  reached one, RFC 2231 or otherwise), transfer encodings, dispositions, and each
  part's decoded content equal to what was written into it;
- the calendar (see `verify.ics`).

The message is parsed with the `email` parser in strict mode (any defect is an
error). The three headers that carry caller text are read through the strict
policy's header registry too, which is the reading a mail client does.
"""

from __future__ import annotations

import email.policy
import functools
import re
from email.headerregistry import Address, Group
from email.message import Message
from email.parser import BytesParser

from notification_service.domain.errors import UnrenderableMessage
from notification_service.domain.model import Mailbox
from notification_service.render.mime import Leaf, Mail, Multipart, Part

MAX_LINE = 998  # RFC 5322 2.1.1
_PARSER = BytesParser(policy=email.policy.compat32.clone(raise_on_defect=True))
_READER = email.policy.strict
_WHITESPACE = re.compile(r"\s+")


def _fail(detail: str) -> None:
    raise UnrenderableMessage(detail)


def check_octets(data: bytes) -> None:
    if not data.isascii():
        _fail("not 7-bit clean")
    if b"\0" in data:
        _fail("holds a NUL octet")
    crlf = data.count(b"\r\n")
    if data.count(b"\r") != crlf or data.count(b"\n") != crlf:
        _fail("holds a bare CR or LF")
    if any(len(line) > MAX_LINE for line in data.split(b"\r\n")):
        _fail(f"has a line longer than {MAX_LINE} octets")


def _unfold(value: str) -> str:
    return value.replace("\r\n", "")


def _compact(text: str) -> str:
    # CPython's address parser keeps the folding whitespace between adjacent
    # encoded words of a display name (RFC 2047 6.2 says to drop it), so names
    # are compared without whitespace; every other character must match.
    return _WHITESPACE.sub("", text)


def _mailbox_problem(field: str, raw: str, address: str, name: str) -> str | None:
    header = _READER.header_fetch_parse(field, raw)
    if header.defects:
        return f"{field} has defects: {[type(d).__name__ for d in header.defects]}"
    groups: tuple[Group, ...] = getattr(header, "groups", ())
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if len(groups) != 1 or groups[0].display_name is not None or len(addresses) != 1:
        return f"{field} does not hold exactly one mailbox"
    if addresses[0].addr_spec != address:
        return f"{field} address is not the one meant"
    if _compact(addresses[0].display_name) != _compact(name):
        return f"{field} display name is not the one meant"
    return None


# The sender is MAIL_FROM for every mail of the process: the same bytes, checked once.
_sender_problem = functools.lru_cache(maxsize=8)(_mailbox_problem)


def _mailbox(parsed: Message, field: str, meant: Mailbox) -> None:
    check = _sender_problem if field == "From" else _mailbox_problem
    problem = check(field, parsed[field], meant.address, meant.name)
    if problem:
        _fail(problem)


def _subject(parsed: Message, meant: str) -> None:
    header = _READER.header_fetch_parse("Subject", parsed["Subject"])
    if header.defects:
        _fail(f"Subject has defects: {[type(d).__name__ for d in header.defects]}")
    if str(header) != meant:
        _fail("decoded Subject is not the subject meant")


def _params(part: Part) -> list[tuple[str, str]]:
    if isinstance(part, Multipart):
        return [(part.content_type, ""), ("boundary", part.boundary)]
    return [(part.content_type, ""), *part.params]


def _part_header_names(part: Part) -> list[str]:
    if isinstance(part, Multipart):
        return ["Content-Type"]
    names = ["Content-Type", "Content-Transfer-Encoding"]
    return [*names, "Content-Disposition"] if part.attachment else names


def _check_part(parsed: Message, meant: Part, path: str, top: bool) -> None:
    if not top and parsed.keys() != _part_header_names(meant):
        _fail(f"part {path} has headers {parsed.keys()}")
    # The first pair is the content type itself, exactly as written.
    params = parsed.get_params()
    if params != _params(meant):
        _fail(f"part {path} has content type and parameters {params}, not {_params(meant)}")
    if isinstance(meant, Multipart):
        children = parsed.get_payload()
        if not parsed.is_multipart() or not isinstance(children, list):
            _fail(f"part {path} is not a multipart")
            return
        if len(children) != len(meant.parts):
            _fail(f"part {path} has {len(children)} parts, not {len(meant.parts)}")
        if parsed.preamble or (parsed.epilogue or "").strip():
            _fail(f"part {path} has a preamble or an epilogue")
        for index, (child, meant_child) in enumerate(zip(children, meant.parts, strict=True)):
            _check_part(child, meant_child, f"{path}.{index}", top=False)
        return
    _check_leaf(parsed, meant, path)


def _check_leaf(parsed: Message, meant: Leaf, path: str) -> None:
    if parsed.is_multipart():
        _fail(f"part {path} is a multipart")
    if parsed["Content-Transfer-Encoding"] != meant.encoding:
        _fail(f"part {path} has another transfer encoding")
    if meant.attachment:
        disposition = parsed.get_params(header="Content-Disposition")
        if disposition != [("attachment", ""), ("filename", meant.attachment)]:
            _fail(f"part {path} has disposition parameters {disposition}")
    if parsed.get_payload(decode=True) != meant.content:
        _fail(f"part {path} does not decode to the content meant")


def verify_mail(data: bytes, mail: Mail) -> None:
    """Raise UnrenderableMessage unless `data` is exactly the mail meant."""
    check_octets(data)
    try:
        parsed = _PARSER.parsebytes(data)
    except Exception as exc:  # strict mode raises the defect it found
        raise UnrenderableMessage(f"does not parse: {type(exc).__name__}: {exc}") from None
    if parsed.keys() != mail.header_names():
        _fail(f"header names are {parsed.keys()}, not {mail.header_names()}")
    _mailbox(parsed, "From", mail.sender)
    _mailbox(parsed, "To", mail.recipient)
    _subject(parsed, mail.subject)
    fixed = {
        "Date": mail.date,
        "Message-ID": f"<{mail.message_id}>",
        "Auto-Submitted": "auto-generated",
        "MIME-Version": "1.0",
    }
    for name, value in fixed.items():
        if _unfold(parsed[name]) != value:
            _fail(f"{name} is not the value meant")
    _check_part(parsed, mail.body, "0", top=True)
