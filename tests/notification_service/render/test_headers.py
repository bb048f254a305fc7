"""Header lines written by hand, with our own RFC 2047 encoded words (pure)."""

from __future__ import annotations

import email.policy
from email.header import decode_header
from email.parser import BytesParser

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from notification_service.domain.model import Mailbox
from notification_service.render import headers
from tests.notification_service.mail_strategies import PROPERTY, clean_text, hostile_text, no_space

STRICT = BytesParser(policy=email.policy.strict)


def _parse(lines: str):
    return STRICT.parsebytes(lines.encode("ascii") + b"\r\nbody\r\n")


def _rfc2047(raw: str) -> str:
    """What an RFC 2047 decoder makes of a header value (adjacent encoded words
    joined without the whitespace between them, RFC 2047 6.2)."""
    decoded = ""
    for chunk, charset in decode_header(raw.replace("\r\n", "")):
        decoded += chunk.decode(charset or "ascii") if isinstance(chunk, bytes) else chunk
    return decoded


def _value(line: str) -> str:
    return line.split(":", 1)[1].strip()


@pytest.mark.parametrize(
    "text",
    [
        "Invitation: Mock system design @ Tue 4 Mar 2031 14:00 (UTC)",
        "Reminder: Arrays starts in 1 hour",
    ],
)
def test_inert_ascii_stays_plain(text):
    line = headers.unstructured_header("Subject", text)
    assert "=?" not in line
    assert str(_parse(line)["Subject"]) == text


@pytest.mark.parametrize(
    "text",
    [
        "=?utf-8?q?Interview=0D=0AReply-To:_phish@evil.example?=",
        "a ?= b",
        "two  spaces",
        " leading",
        "trailing ",
        "Zoë",
        "x" * 100,
    ],
)
def test_anything_else_is_encoded_whole(text):
    line = headers.unstructured_header("Subject", text)
    words = _value(line).split()
    assert all(w.startswith("=?utf-8?") and w.endswith("?=") for w in words)
    assert str(_parse(line)["Subject"]) == text
    assert _rfc2047(_value(line)) == text


def test_encoded_words_hold_whole_characters_and_fit_the_limits():
    text = "面试练习 Zoë 🙂" * 20
    words = headers.encoded_words(text)
    assert len(words) > 1
    for word in words:
        assert len(word) <= headers.MAX_WORD <= 75  # RFC 2047 2
        (chunk, charset), *_ = decode_header(word)
        assert isinstance(chunk, bytes)
        chunk.decode(charset)  # raises if a character was split across words
    line = headers.unstructured_header("Subject", text)
    assert all(len(part) <= 78 for part in line.split("\r\n"))


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("Gus Guest", True),
        ("O'Neil-Smith", True),
        ("", True),
        ('Eve "Admin" <admin@bank.example>, root@bank.example', False),
        ("=?utf-8?q?Gus=0D=0ABcc:_victim@example.com?=", False),
        ("Dr. Who (the)", False),
        ("Zoë Ångström", False),
    ],
)
def test_display_names_are_atoms_or_encoded_words(name, plain):
    line = headers.mailbox_header("To", Mailbox("guest@example.org", name))
    assert ("=?" not in line) is plain
    to = _parse(line)["To"]
    assert not to.defects
    [address] = to.addresses
    assert address.addr_spec == "guest@example.org"
    # CPython keeps the space between two encoded words of a phrase; an RFC 2047
    # decoder (below) drops it and gets the name back exactly.
    assert no_space(address.display_name) == no_space(name)
    if name:
        assert _rfc2047(_value(line).rsplit(" <", 1)[0]) == name


def test_a_long_address_gets_a_line_of_its_own():
    address = "x" * 64 + "@" + "d" * 63 + ".example"
    line = headers.mailbox_header("To", Mailbox(address, "Gus Guest"))
    assert line.split("\r\n")[1] == f" <{address}>"
    assert _parse(line)["To"].addresses[0].addr_spec == address


def test_verbatim_values_must_be_printable_ascii():
    assert headers.verbatim_header("MIME-Version", "1.0") == "MIME-Version: 1.0\r\n"
    for bad in ("a\r\nBcc: x", "é", "a\x00"):
        with pytest.raises(ValueError):
            headers.verbatim_header("Date", bad)


@PROPERTY
@given(text=st.one_of(hostile_text(), clean_text()))
@example(text="x" * 69 + " " + "y" * 70)  # plain words that fit only after the name
@example(text="w" * 76)
def test_any_subject_decodes_to_itself_and_adds_no_header(text):
    text = text.replace("\r", "").replace("\n", "")  # validation's job, tested elsewhere
    line = headers.unstructured_header("Subject", text)
    assert line.isascii()
    assert all(len(part) <= 78 for part in line.split("\r\n"))
    parsed = _parse(line)
    assert list(parsed.keys()) == ["Subject"]
    assert str(parsed["Subject"]) == text
    assert _rfc2047(_value(line)) == text


@PROPERTY
@given(name=st.one_of(hostile_text(), clean_text()))
def test_any_display_name_decodes_to_itself_and_one_mailbox(name):
    name = name.replace("\r", "").replace("\n", "")
    line = headers.mailbox_header("To", Mailbox("guest@example.org", name))
    assert all(len(part) <= 78 for part in line.split("\r\n"))
    parsed = _parse(line)
    assert list(parsed.keys()) == ["To"]
    [address] = parsed["To"].addresses
    assert address.addr_spec == "guest@example.org"
    assert "".join(address.display_name.split()) == "".join(name.split())
    if name:
        assert _rfc2047(_value(line).rsplit(" <", 1)[0]) == name
