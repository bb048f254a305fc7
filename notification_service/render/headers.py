"""RFC 5322 header lines written by hand, with RFC 2047 encoded words of our own. Pure.

Why not `email.message`: its header registry *decodes* RFC 2047 encoded words in
any string assigned to a header, and CPython 3.11.7 (without the fixes for
CVE-2024-6923 and CVE-2026-1299) writes a decoded CR LF as a real line break, so a
title of `=?utf-8?q?x=0D=0AReply-To:_evil?=` became a header. Here no library
ever re-parses caller text: a value is either emitted as plain ASCII words when
that is provably inert (printable ASCII, single spaces, no `=?`, words short
enough to fold) or entirely as encoded words whose every byte we chose. A
decoder turns an encoded word into text, never into syntax, so whatever the
caller wrote (encoded words included) is shown literally.

Lines are folded at 78 octets with CRLF; only an addr-spec longer than a line
(they are at most 254 octets) makes a longer one, within RFC 5322's 998.
"""

from __future__ import annotations

import base64
import re

from notification_service.domain.model import Mailbox

MAX_LINE = 78  # RFC 5322 2.1.1: SHOULD
CRLF = "\r\n"
CHARSET = "utf-8"
# Every encoded word fits on a line after "Subject: " (9) with room to spare.
MAX_WORD = 68
_OVERHEAD = len(f"=?{CHARSET}?q??=")

# Plain words: printable ASCII separated by single spaces, and nothing that a
# decoder could take for an encoded word.
_PLAIN_UNSTRUCTURED = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
# In a display name only atoms that need no quoting, so that nothing in a name
# can be read as a comment, a quoted string, an address or a list separator.
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9'-]+(?: [A-Za-z0-9'-]+)*")
# Q encoding: RFC 2047 5(3) allows these literally even inside a phrase.
_Q_LITERAL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_BYTE = tuple(
    "_" if byte == 0x20 else chr(byte) if byte in _Q_LITERAL else f"={byte:02X}"
    for byte in range(256)
)
# A field value emitted verbatim must be printable ASCII and single-line.
_VERBATIM = re.compile(r"[\x20-\x7e]*")


def _inert(field: str, text: str, pattern: re.Pattern[str]) -> bool:
    # Every word must fit a line even after "Field: ", as folding cannot split one.
    longest = MAX_LINE - len(field) - 2
    return (
        pattern.fullmatch(text) is not None
        and "=?" not in text
        and "?=" not in text
        and all(len(word) <= longest for word in text.split(" "))
    )


def _q_cost(char: str) -> int:
    return sum(len(_Q_BYTE[byte]) for byte in char.encode(CHARSET))


def _chunks(text: str, cost: list[int], budget: int) -> list[str]:
    """Split `text` between characters (never inside one) so that the costs of
    each piece add up to at most `budget`."""
    pieces: list[str] = []
    start = 0
    used = 0
    for index, char_cost in enumerate(cost):
        if used + char_cost > budget and index > start:
            pieces.append(text[start:index])
            start, used = index, 0
        used += char_cost
    pieces.append(text[start:])
    return pieces


def encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 encoded words (UTF-8), each at most MAX_WORD long.

    A word holds whole characters only (RFC 2047 5), and the spaces of the text
    travel inside the words, so decoders drop the folding whitespace between
    them and get `text` back exactly. Q or B, whichever is shorter.
    """
    budget = MAX_WORD - _OVERHEAD
    q_costs = [_q_cost(char) for char in text]
    octets = [len(char.encode(CHARSET)) for char in text]
    if sum(q_costs) <= 4 * -(-sum(octets) // 3):
        return [
            f"=?{CHARSET}?q?{''.join(_Q_BYTE[b] for b in piece.encode(CHARSET))}?="
            for piece in _chunks(text, q_costs, budget)
        ]
    # B: 3 octets become 4 characters, so a budget of 56 characters is 42 octets.
    b_budget = budget // 4 * 3
    return [
        f"=?{CHARSET}?b?{base64.b64encode(piece.encode(CHARSET)).decode('ascii')}?="
        for piece in _chunks(text, octets, b_budget)
    ]


def fold(name: str, words: list[str]) -> str:
    """`Name: w1 w2 …` with CRLF, breaking lines at the spaces between words."""
    lines: list[str] = []
    line = f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > MAX_LINE and line.strip() != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return CRLF.join(lines) + CRLF


def unstructured_words(field: str, text: str) -> list[str]:
    """The words of an unstructured value such as Subject."""
    if _inert(field, text, _PLAIN_UNSTRUCTURED):
        return text.split(" ")
    return encoded_words(text)


def phrase_words(field: str, name: str) -> list[str]:
    """The words of a display name (RFC 5322 phrase) in header `field`."""
    if not name:
        return []
    if _inert(field, name, _PLAIN_PHRASE):
        return name.split(" ")
    return encoded_words(name)


def mailbox_header(field: str, mailbox: Mailbox) -> str:
    """`To: Name <addr>`; the address is a checked ASCII addr-spec
    (servicekit.text.address_problem), never encoded."""
    return fold(field, [*phrase_words(field, mailbox.name), f"<{mailbox.address}>"])


def unstructured_header(field: str, text: str) -> str:
    return fold(field, unstructured_words(field, text))


def verbatim_header(field: str, value: str) -> str:
    """A header whose value the service made (Date, Message-ID, MIME fields)."""
    if _VERBATIM.fullmatch(value) is None:
        raise ValueError(f"{field} value is not printable ASCII")
    return f"{field}: {value}{CRLF}"
