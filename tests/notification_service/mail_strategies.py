"""Hypothesis strategies for hostile caller text, and an independent reading of a
rendered mail (the `email` package's default policy, icalendar's full parser), so
that the property tests do not lean on the service's own structural check."""

from __future__ import annotations

import base64
import email
import email.policy
import os
from dataclasses import dataclass
from email.message import EmailMessage

import icalendar
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Bounded, so that `make test` stays fast; no example database in the tree.
PROPERTY = settings(
    max_examples=int(os.environ.get("MAIL_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CHARSETS = ["utf-8", "UTF-8", "iso-8859-1", "us-ascii", "windows-1252", "koi8-r", "utf-16"]
INJECTIONS = [
    "\r\nReply-To: phish@evil.example",
    "\r\n\r\n<h1>Replaced body</h1>",
    "\r\nBcc: victim@example.com",
    "\r\nContent-Type: text/html",
    "\x00",
    "\n--=_mixed_\r\n",
    '"<evil@example.com>, other@example.com',
    "\r\nEND:VEVENT\r\nBEGIN:VEVENT",
]


def _q(data: bytes) -> str:
    return "".join(chr(b) if chr(b).isalnum() else f"={b:02X}" for b in data)


@st.composite
def encoded_word(draw: st.DrawFn) -> str:
    """An RFC 2047 encoded word in some charset and either encoding, usually
    carrying an encoded CR, LF, NUL or a header."""
    charset = draw(st.sampled_from(CHARSETS))
    text = draw(st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=12)))
    try:
        data = text.encode(charset)
    except (UnicodeEncodeError, LookupError):
        data = text.encode("utf-8", "replace")
    if draw(st.booleans()):
        return f"=?{charset}?{draw(st.sampled_from('qQ'))}?{_q(data)}?="
    return f"=?{charset}?{draw(st.sampled_from('bB'))}?{base64.b64encode(data).decode()}?="


RFC2231 = st.sampled_from(
    [
        "name*0*=utf-8''%0D%0ABcc%3A%20x%40y.z",
        "filename*=us-ascii'en'evil.exe",
        'name="invite.ics"; method=CANCEL',
        "; filename*1*=%00",
        'boundary="=_mixed_x"',
    ]
)
PUNCTUATION = st.sampled_from(list("\"';:,<>()[]\\^@=?_*%{}|!#$&+/`~ \t"))
SEPARATORS = st.sampled_from(["\u2028", "\u2029", "\x85", "\r", "\n", "\r\n", "\x0b", "\x0c"])
LONG_WORDS = st.sampled_from(["x" * 120, "面试练习" * 40, "Zoë" * 50, "=?" * 40, "\\" * 90])


def hostile_text(max_size: int = 200, *, separators: bool = True) -> st.SearchStrategy[str]:
    """Text built from pieces that have broken mail renderers, plus any Unicode."""
    pieces = [
        encoded_word(),
        RFC2231,
        PUNCTUATION,
        LONG_WORDS,
        st.sampled_from(INJECTIONS),
        st.text(max_size=20),
        st.text(st.characters(codec="utf-8"), max_size=10),
    ]
    if separators:
        pieces.append(SEPARATORS)
    return st.lists(st.one_of(pieces), max_size=6).map(lambda p: "".join(p)[:max_size])


def clean_text(max_size: int = 200) -> st.SearchStrategy[str]:
    """Hostile text less the characters validation refuses: must always render."""
    return hostile_text(max_size, separators=False).map(_strip_controls).filter(str.strip)


def _strip_controls(text: str) -> str:
    from servicekit.text import first_control_character

    while (bad := first_control_character(text)) is not None:
        text = text.replace(bad, "")
    return text


ADDRESSES = st.sampled_from(
    [
        "guest@example.org",
        "o'neil+tag@sub.example.co.uk",
        "a@b",
        "x" * 64 + "@" + ".".join(["d" * 63] * 2) + ".io",
        "us{er}|~!$&*=^`@example.com",
    ]
)
HOSTILE_ADDRESSES = st.one_of(
    ADDRESSES,
    st.sampled_from(
        [
            "=?utf-8?q?a=0D=0A?=@example.com",
            "a@example.com\r\nBcc: b@example.com",
            "Eve <eve@example.com>",
            "a@example.com, b@example.com",
            '"a b"@example.com',
        ]
    ),
    hostile_text(80),
    st.builds(lambda a, b: f"{a}@{b}", hostile_text(20), hostile_text(20)),
)


# --- an independent reading of what was rendered --------------------------------


@dataclass
class ReadMail:
    mail: EmailMessage
    header_names: list[str]
    subject: str
    to: list[tuple[str, str]]
    sender: list[tuple[str, str]]
    tree: list[str]
    plain: str
    html: str
    calendar: icalendar.Calendar | None


def _tree(part: EmailMessage, depth: int = 0) -> list[str]:
    lines = [f"{depth}:{part.get_content_type()}"]
    for child in part.iter_parts():
        lines += _tree(child, depth + 1)  # type: ignore[arg-type]
    return lines


def read_mail(data: bytes) -> ReadMail:
    mail = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    parts = {p.get_content_type(): p for p in mail.walk()}
    calendar = None
    if "text/calendar" in parts:
        calendar = icalendar.Calendar.from_ical(parts["text/calendar"].get_payload(decode=True))
    return ReadMail(
        mail=mail,
        header_names=list(mail.keys()),
        subject=str(mail["Subject"]),
        to=[(a.display_name, a.addr_spec) for a in mail["To"].addresses],
        sender=[(a.display_name, a.addr_spec) for a in mail["From"].addresses],
        tree=_tree(mail),
        # Text travels with CRLF line ends (its canonical form); read it as lines.
        plain=str(parts["text/plain"].get_content()).replace("\r\n", "\n"),
        html=str(parts["text/html"].get_content()).replace("\r\n", "\n"),
        calendar=calendar,
    )


def no_space(text: str) -> str:
    # CPython's address parser keeps the folding whitespace between adjacent
    # encoded words of a display name (RFC 2047 6.2 drops it): compare without.
    return "".join(text.split())


INVITE_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
]
INVITE_TREE = [
    "0:multipart/mixed",
    "1:multipart/alternative",
    "2:text/plain",
    "2:text/html",
    "2:text/calendar",
    "1:application/ics",
]
REMINDER_TREE = ["0:multipart/alternative", "1:text/plain", "1:text/html"]
