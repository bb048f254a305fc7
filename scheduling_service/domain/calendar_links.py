"""'Add to calendar' links for a session (docs/design.md §12). Pure: no I/O.

A front end shows them as buttons: each opens a new, prefilled event in Google Calendar or
in Outlook on the web, with the times in UTC (`...Z`), so the viewer's calendar shows them
in the viewer's own zone. The texts are the caller's, so every one of them is
percent-encoded whole (urllib.parse.quote, safe=""): an `&`, `=`, `#` or `+` in a title is
text, never a parameter of its own nor a change to another one.

Each URL stays under URL_LIMIT characters once encoded, because browsers and the
providers refuse longer URLs. So the description is cut here, after encoding (the bound
is on the encoded length), and ends with `…` when it was; the cut falls between two
characters of the text, never inside a percent-escape nor between the bytes of one
character (a character outside the Basic Multilingual Plane, a surrogate pair in UTF-16,
four bytes in UTF-8, is kept or dropped whole). The title is cut the same way only if it
alone would not fit, which a title of TITLE_MAX (200) characters from the Basic
Multilingual Plane never does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

GOOGLE_URL = "https://calendar.google.com/calendar/render"
OUTLOOK_URL = "https://outlook.office.com/calendar/deeplink/compose"
# Every link is shorter than this, counted after encoding.
URL_LIMIT = 2000
ELLIPSIS = "…"

# Control characters (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) but LF, the
# line break of a description; CR, tabs, NUL and terminal escapes have no place in an
# event's text. Lone surrogates too: they are no text, and UTF-8 cannot encode them.
_UNWANTED = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class CalendarLinks:
    google_url: str
    outlook_url: str


def clean(text: str) -> str:
    """The text as the links carry it: control characters other than LF dropped."""
    return _UNWANTED.sub("", text)


def add_to_calendar(
    title: str, description: str, starts: datetime, ends: datetime
) -> CalendarLinks:
    """Links that open a new event from `starts` to `ends` (aware datetimes, shown in
    UTC) with this title and description (left out when empty, or cut; see above)."""
    # Each text is encoded once, for both links.
    title_text, body_text = _encoded(clean(title)), _encoded(clean(description))
    start, end = _utc(starts), _utc(ends)
    # Our own parts are written as they go out (RFC 3986 lets `/` and `:` stand in a
    # query as they are); only caller text is encoded.
    google = _link(
        f"{GOOGLE_URL}?action=TEMPLATE&text=",
        title_text,
        f"&dates={start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}&details=",
        body_text,
    )
    outlook = _link(
        f"{OUTLOOK_URL}?path=%2Fcalendar%2Faction%2Fcompose&rru=addevent&subject=",
        title_text,
        f"&startdt={start:%Y-%m-%dT%H:%M:%SZ}&enddt={end:%Y-%m-%dT%H:%M:%SZ}&body=",
        body_text,
    )
    return CalendarLinks(google_url=google, outlook_url=outlook)


def _utc(value: datetime) -> datetime:
    # A naive time would be read in the server's own zone: a wrong event, silently.
    if value.utcoffset() is None:
        raise ValueError(f"an aware datetime is needed, got {value!r}")
    return value.astimezone(UTC)


# quote() is Python code, about 30 ns a byte here: a 4,000-character CJK description
# (12,000 bytes) would cost a third of a millisecond a room, for every room of a
# ListRooms page, when at most URL_LIMIT encoded characters of it can be used.
_CHUNK = 256
_ELLIPSIS = quote(ELLIPSIS, safe="")


def _encoded(text: str) -> str:
    """`text` percent-encoded, or a start of that longer than URL_LIMIT when the whole
    would be longer still (that much is always cut). Pieces of a str split anywhere
    encode to pieces of the whole: UTF-8 encodes each code point on its own."""
    pieces: list[str] = []
    size = 0
    for at in range(0, len(text), _CHUNK):
        pieces.append(quote(text[at : at + _CHUNK], safe=""))
        size += len(pieces[-1])
        if size > URL_LIMIT:
            break
    return "".join(pieces)


def _link(head: str, title: str, middle: str, body: str) -> str:
    """head + title + middle + body, all but the texts as they are; middle ends with the
    body's `&name=`, left out with the body when no body is left. The title is cut only
    if it alone would not fit; the body gets whatever room the rest leaves."""
    room = URL_LIMIT - 1 - len(head) - len(middle)
    title = _cut(title, room)
    body = _cut(body, room - len(title))
    if not body:
        return head + title + middle.rsplit("&", 1)[0]
    return head + title + middle + body


def _cut(encoded: str, room: int) -> str:
    """The longest start of an encoded text that takes at most `room` characters, ended
    by an encoded ellipsis when it is not all of it; empty when nothing of it fits. The
    cut falls between characters of the text: never inside a percent-escape (which would
    not decode), nor between the bytes of one character (a four-byte one is a surrogate
    pair in UTF-16: half of it is no character)."""
    if len(encoded) <= room:
        return encoded
    end = room - len(_ELLIPSIS)
    if end <= 0:
        return ""
    # Every `%` starts an escape (a `%` of the text is itself encoded, as %25).
    escape = encoded.rfind("%", max(end - 2, 0), end)
    if escape != -1:
        end = escape
    end = _character_start(encoded, end)
    return encoded[:end] + _ELLIPSIS if end else ""


def _character_start(encoded: str, end: int) -> int:
    """`end` (between escapes) moved back to the start of the UTF-8 sequence it would
    split, or kept when it splits none."""
    start = end
    while start >= 3 and encoded[start - 3] == "%":
        byte = int(encoded[start - 2 : start], 16)
        start -= 3
        if byte < 0x80:  # an ASCII character: end follows it
            return end
        if byte >= 0xC0:  # the first byte of a sequence of 2, 3 or 4
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return end if end - start == 3 * length else start
        # A continuation byte (0x80-0xBF): its sequence began further back.
    return end
