"""Sealed calendar credentials: round trips, rotation, the one error, the key parser, and
that no text we produce (repr, str, exception) carries a secret."""

from __future__ import annotations

import base64
import secrets
import traceback

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from notification_service.credentials.sealing import (
    KEY_ID,
    BasicCredentials,
    Keyring,
    OAuthCredentials,
    SealKey,
    SealKeyError,
    UnsealError,
    keyring_from_env,
    new_key_entry,
    parse_seal_keys,
)
from servicekit.config import ConfigError

USER = "user-1"
URL = "https://cal.example.com/dav/calendars/user-1/work/"
BASIC = BasicCredentials("ada@example.com", "correct horse battery staple")
OAUTH = OAuthCredentials("google", "1//0refresh-token-value")

secret_text = st.text(min_size=1, max_size=200)
# Long enough that a match inside our fixed wording cannot be a coincidence.
long_secret = st.text(min_size=12, max_size=200)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _keyring(*ids: str) -> Keyring:
    return parse_seal_keys(",".join(new_key_entry(key_id) for key_id in ids))


def _all_text(error: BaseException | None) -> str:
    """What an error shows, with every error chained to it (not the source lines a
    traceback quotes, which hold the test's own literals)."""
    parts = []
    while error is not None:
        parts += [str(error), repr(error), repr(error.args)]
        parts += traceback.format_exception_only(error)
        error = error.__cause__ or error.__context__
    return "".join(parts)


# -- round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("credentials", [BASIC, OAUTH], ids=["basic", "oauth"])
def test_a_sealed_blob_opens_to_the_same_credentials(credentials: object) -> None:
    keyring = _keyring("k1")
    assert isinstance(credentials, BasicCredentials | OAuthCredentials)
    blob = keyring.seal(credentials, user_id=USER, calendar_url=URL)
    assert keyring.open(blob, user_id=USER, calendar_url=URL) == credentials


def test_the_blob_has_the_documented_layout_and_no_clear_text() -> None:
    keyring = _keyring("k1")
    blob = keyring.seal(BASIC, user_id=USER, calendar_url=URL)
    assert blob.startswith(b"v1.k1.")
    body = blob[len(b"v1.k1.") :]
    plaintext = (
        b'{"kind":"basic","username":"ada@example.com","password":"correct horse battery staple"}'
    )
    assert len(body) == 12 + len(plaintext) + 16
    assert b"correct horse" not in blob and b"ada@" not in blob


def test_each_seal_uses_a_fresh_nonce() -> None:
    keyring = _keyring("k1")
    blobs = {keyring.seal(OAUTH, user_id=USER, calendar_url=URL) for _ in range(50)}
    assert len(blobs) == 50
    assert len({blob[6:18] for blob in blobs}) == 50


@settings(max_examples=60, deadline=None)
@given(
    username=secret_text,
    password=secret_text,
    token=secret_text,
    user_id=st.text(min_size=1, max_size=60),
    url=st.text(min_size=1, max_size=200),
)
def test_any_credentials_round_trip(
    username: str, password: str, token: str, user_id: str, url: str
) -> None:
    keyring = _KEYRING
    for credentials in (BasicCredentials(username, password), OAuthCredentials("google", token)):
        blob = keyring.seal(credentials, user_id=user_id, calendar_url=url)
        assert keyring.open(blob, user_id=user_id, calendar_url=url) == credentials


_KEYRING = _keyring("hyp")


# -- rotation ------------------------------------------------------------------------


def test_rotation_keeps_old_blobs_open_and_seals_with_the_new_first_key() -> None:
    old = new_key_entry("2025a")
    before = parse_seal_keys(old)
    old_blob = before.seal(BASIC, user_id=USER, calendar_url=URL)

    after = parse_seal_keys(f"{new_key_entry('2026a')},{old}")
    assert after.sealing_key_id == "2026a"
    assert after.open(old_blob, user_id=USER, calendar_url=URL) == BASIC
    assert after.needs_reseal(old_blob)

    new_blob = after.seal(BASIC, user_id=USER, calendar_url=URL)
    assert after.key_id_of(new_blob) == "2026a" and new_blob.startswith(b"v1.2026a.")
    assert not after.needs_reseal(new_blob)
    # The old keyring alone does not know the new key.
    with pytest.raises(UnsealError):
        before.open(new_blob, user_id=USER, calendar_url=URL)


def test_a_retired_key_no_longer_opens_its_blobs() -> None:
    old = new_key_entry("old")
    blob = parse_seal_keys(old).seal(OAUTH, user_id=USER, calendar_url=URL)
    with pytest.raises(UnsealError):
        _keyring("new").open(blob, user_id=USER, calendar_url=URL)


# -- the one error -------------------------------------------------------------------


def _sealed() -> tuple[Keyring, bytes]:
    keyring = _keyring("k1", "k2")
    return keyring, keyring.seal(BASIC, user_id=USER, calendar_url=URL)


@pytest.mark.parametrize(
    ("user_id", "url"),
    [
        ("user-2", URL),
        (USER, URL + "other/"),
        (USER, URL.rstrip("/")),
        ("user-2", "https://cal.example.com/dav/calendars/user-2/work/"),
    ],
)
def test_a_blob_does_not_open_for_another_user_or_url(user_id: str, url: str) -> None:
    keyring, blob = _sealed()
    with pytest.raises(UnsealError):
        keyring.open(blob, user_id=user_id, calendar_url=url)


def test_the_binding_is_unambiguous() -> None:
    """user id and URL are length-prefixed: moving characters between them changes it."""
    keyring = _keyring("k1")
    blob = keyring.seal(BASIC, user_id="ab", calendar_url="c")
    with pytest.raises(UnsealError):
        keyring.open(blob, user_id="a", calendar_url="bc")


def test_every_flipped_bit_is_refused() -> None:
    keyring, blob = _sealed()
    for index in range(len(blob)):
        for bit in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[index] ^= bit
            with pytest.raises(UnsealError):
                keyring.open(bytes(tampered), user_id=USER, calendar_url=URL)


def test_a_swapped_key_id_is_refused() -> None:
    keyring, blob = _sealed()
    assert blob.startswith(b"v1.k1.")
    with pytest.raises(UnsealError):
        keyring.open(b"v1.k2." + blob[6:], user_id=USER, calendar_url=URL)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"v1",
        b"v1.k1.",
        b"v1.k1." + b"\x00" * 27,
        b"v2.k1." + b"\x00" * 40,
        b"v1.zz." + b"\x00" * 40,
        b"v1.k\xff1." + b"\x00" * 40,
        b"x" * 200_000,
    ],
    ids=["empty", "version", "no-body", "short", "v2", "unknown-id", "non-ascii-id", "huge"],
)
def test_malformed_blobs_raise_the_one_error(blob: bytes) -> None:
    keyring, _ = _sealed()
    with pytest.raises(UnsealError) as caught:
        keyring.open(blob, user_id=USER, calendar_url=URL)
    error = caught.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_every_failure_reads_the_same() -> None:
    keyring, blob = _sealed()
    messages = set()
    for bad in (blob[:-1] + bytes([blob[-1] ^ 1]), b"v1.zz." + blob[6:], b"junk"):
        with pytest.raises(UnsealError) as caught:
            keyring.open(bad, user_id=USER, calendar_url=URL)
        messages.add(str(caught.value))
    with pytest.raises(UnsealError) as caught:
        keyring.open(blob, user_id="someone-else", calendar_url=URL)
    messages.add(str(caught.value))
    assert len(messages) == 1


# -- nothing leaks -------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(username=long_secret, password=long_secret, token=long_secret)
def test_reprs_never_show_a_secret(username: str, password: str, token: str) -> None:
    basic = BasicCredentials(username, password)
    oauth = OAuthCredentials("google", token)
    # Constant text whatever the secrets: nothing of them can be in it.
    assert repr(basic) == str(basic) == repr(BasicCredentials("u", "p"))
    assert repr(oauth) == str(oauth) == repr(OAuthCredentials("google", "t"))
    fixed = repr(BasicCredentials("u", "p")) + repr(OAuthCredentials("google", "t"))
    assume(password not in fixed and token not in fixed)  # our own wording, by chance
    for shown in (repr(basic), repr(oauth), repr([basic, oauth]), f"{basic} {oauth}"):
        assert password not in shown and token not in shown


@settings(max_examples=60, deadline=None)
@given(password=long_secret, token=long_secret, flip=st.integers(min_value=0))
def test_failures_never_show_a_secret(password: str, token: str, flip: int) -> None:
    fixed = _all_text(UnsealError())
    assume(password not in fixed and token not in fixed)  # our own wording, by chance
    keyring = _KEYRING
    for credentials in (BasicCredentials("someone", password), OAuthCredentials("google", token)):
        blob = keyring.seal(credentials, user_id=USER, calendar_url=URL)
        tampered = bytearray(blob)
        tampered[flip % len(blob)] ^= 0x40
        for bad, user in ((bytes(tampered), USER), (blob, "intruder")):
            with pytest.raises(UnsealError) as caught:
                keyring.open(bad, user_id=user, calendar_url=URL)
            text = _all_text(caught.value)
            assert password not in text and token not in text


def test_key_objects_show_ids_only() -> None:
    key = secrets.token_bytes(32)
    keyring = parse_seal_keys(f"k1:{_b64(key)}")
    seal_key = SealKey.from_bytes("k1", key)
    for shown in (repr(keyring), str(keyring), repr(seal_key), str(seal_key)):
        assert _b64(key) not in shown and repr(key) not in shown and key.hex() not in shown
        assert "k1" in shown


def test_invalid_credentials_are_refused_without_echo() -> None:
    with pytest.raises(ValueError) as caught:
        OAuthCredentials("dropbox", "secret-token-123")
    assert "secret-token-123" not in _all_text(caught.value)
    with pytest.raises(ValueError) as caught:
        BasicCredentials("ada", "p" * 5000)
    assert "ppp" not in str(caught.value)
    with pytest.raises(ValueError):
        BasicCredentials("ada", "")


# -- CALENDAR_SEAL_KEYS --------------------------------------------------------------


def test_the_parser_reads_several_keys_with_spaces_and_either_alphabet() -> None:
    k1, k2 = secrets.token_bytes(32), secrets.token_bytes(32)
    urlsafe_unpadded = base64.urlsafe_b64encode(k2).decode().rstrip("=")
    keyring = parse_seal_keys(f" k1:{_b64(k1)} , k_2 : {urlsafe_unpadded}")
    assert keyring.key_ids == ("k1", "k_2")
    assert keyring.sealing_key_id == "k1"
    # The same key under the same id opens what the other spelling sealed.
    blob = parse_seal_keys(f"k_2:{_b64(k2)}").seal(BASIC, user_id=USER, calendar_url=URL)
    assert keyring.open(blob, user_id=USER, calendar_url=URL) == BASIC


def test_unset_or_blank_means_disabled() -> None:
    assert keyring_from_env({}) is None
    assert keyring_from_env({"CALENDAR_SEAL_KEYS": "  "}) is None
    keyring = keyring_from_env({"CALENDAR_SEAL_KEYS": new_key_entry("dev")})
    assert keyring is not None and keyring.sealing_key_id == "dev"


GOOD = _b64(bytes(range(32)))
SHORT = _b64(bytes(range(100, 131)))
LONG = _b64(bytes(range(200, 233)))


@pytest.mark.parametrize(
    ("value", "expected", "hidden"),
    [
        ("", "CALENDAR_SEAL_KEYS is empty", None),
        (f"k1:{GOOD},", "entry 2 is empty", None),
        (f",k1:{GOOD}", "entry 1 is empty", None),
        (GOOD, "entry 1 is not of the form id:key", GOOD),
        (f"k1:{GOOD},{SHORT}", "entry 2 is not of the form id:key", SHORT),
        (f"{GOOD}:k1", "entry 1: the key id must be", GOOD),
        (f"k1:{GOOD},bad id:{GOOD}", "entry 2: the key id must be", GOOD),
        (f":{GOOD}", "entry 1: the key id must be", GOOD),
        (f"k1:{GOOD},k1:{SHORT}", "entry 2 (id 'k1') repeats a key id", SHORT),
        (f"k1:{SHORT}", "entry 1 (id 'k1'): the key must decode to 32 bytes", SHORT),
        (f"k1:{LONG}", "entry 1 (id 'k1'): the key must decode to 32 bytes", LONG),
        ("k1:not*base64!", "entry 1 (id 'k1'): the key is not base64", "not*base64"),
        ("k1:", "entry 1 (id 'k1'): the key must decode to 32 bytes", None),
    ],
)
def test_parser_errors_name_the_entry_never_the_key(
    value: str, expected: str, hidden: str | None
) -> None:
    with pytest.raises(SealKeyError) as caught:
        parse_seal_keys(value)
    assert isinstance(caught.value, ConfigError)
    assert expected in str(caught.value)
    if hidden is not None:
        assert hidden not in _all_text(caught.value)
        assert hidden[:12] not in _all_text(caught.value)


def _parser_error(value: str) -> SealKeyError:
    with pytest.raises(SealKeyError) as caught:
        parse_seal_keys(value)
    return caught.value


@settings(max_examples=100, deadline=None)
@given(
    key=st.binary(min_size=1, max_size=64).filter(lambda k: len(k) != 32),
    shape=st.sampled_from(["bare", "len", "swapped", "bad-id"]),
)
def test_no_parser_error_shows_key_material(key: bytes, shape: str) -> None:
    """The message is the same for any key of that shape, so none of it is shown."""
    other = bytes(byte ^ 0x5A for byte in key)
    texts = [_b64(key), _b64(other)]
    # A key is never a valid id (44 characters); a short value might be, and be named.
    assume(shape != "swapped" or not any(KEY_ID.fullmatch(text) for text in texts))
    forms = {
        "bare": "k1:{good},{key}",
        "len": "k1:{key}",
        "swapped": "{key}:k1",
        "bad-id": "id with spaces:{key}",
    }
    errors = [_parser_error(forms[shape].format(good=GOOD, key=text)) for text in texts]
    assert _all_text(errors[0]) == _all_text(errors[1])
    shown = _all_text(errors[0])
    assert texts[0] not in shown and GOOD not in shown


def test_new_key_entry_makes_distinct_usable_keys() -> None:
    entries = {new_key_entry("k") for _ in range(20)}
    assert len(entries) == 20
    with pytest.raises(ValueError):
        new_key_entry("no:colons")
