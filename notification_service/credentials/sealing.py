"""Sealing calendar credentials (design §11): the scheduling service stores only the blob.

Keys come from `CALENDAR_SEAL_KEYS`: comma-separated `id:key` entries, `key` being 32
random bytes in base64 (standard or URL-safe alphabet, padding optional) and `id` 1-16
of ``A-Z a-z 0-9 _ -``. The first key seals; every key opens, so a rotation puts the new
key first and keeps the old ones until every blob has been sealed anew
(`Keyring.needs_reseal`). A new entry: `new_key_entry("k2")`.

Blob format, version 1 (bytes)::

    b"v1." + key_id (ASCII) + b"." + nonce (12 random bytes) + ciphertext + tag (16 bytes)

AES-256-GCM; the associated data binds the blob to its header, the user id and the
calendar collection URL (each UTF-8, length-prefixed, so no two inputs share an
encoding)::

    b"practice-rooms/calendar-credentials" + 0x00 + header + len32(user_id) + user_id
        + len32(calendar_url) + calendar_url

where `header` is everything before the nonce. A blob copied to another user or another
URL therefore does not open; the URL is compared as given (pass the discovered collection
URL, exactly as stored). The plaintext is a JSON object: ``{"kind": "basic", "username",
"password"}`` or ``{"kind": "oauth", "provider", "refresh_token"}``.

Whatever goes wrong when opening (unknown key id, wrong key, tampering, another user or
URL, a malformed blob) is one `UnsealError` whose message names no secret; no repr here
shows a password, a token or a key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from servicekit.config import ConfigError

__all__ = [
    "ENV_VAR",
    "BasicCredentials",
    "Credentials",
    "Keyring",
    "OAuthCredentials",
    "SealKey",
    "SealKeyError",
    "UnsealError",
    "keyring_from_env",
    "new_key_entry",
    "parse_seal_keys",
]

ENV_VAR: Final = "CALENDAR_SEAL_KEYS"
VERSION: Final = b"v1"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
PROVIDERS: Final = frozenset({"google"})
# Bounds on what is sealed (a CalDAV password or an OAuth refresh token is far smaller).
MAX_FIELD_CHARS: Final = 4096
MAX_PLAINTEXT_BYTES: Final = 64 * 1024
MAX_BLOB_BYTES: Final = MAX_PLAINTEXT_BYTES + 64
_DOMAIN: Final = b"practice-rooms/calendar-credentials\x00"


class SealKeyError(ConfigError):
    """`CALENDAR_SEAL_KEYS` cannot be used; the message names the entry, never a key."""


class UnsealError(Exception):
    """A sealed blob does not open here: unknown key id, wrong key, tampered, sealed for
    another user or calendar URL, or malformed. The message is the same for every cause."""

    def __init__(self, message: str = "sealed calendar credentials do not open") -> None:
        super().__init__(message)


def _check_text(name: str, value: object, *, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    if not allow_empty and not value:
        raise ValueError(f"{name} must not be empty")
    if len(value) > MAX_FIELD_CHARS:
        raise ValueError(f"{name} is longer than {MAX_FIELD_CHARS} characters")
    return value


@dataclass(frozen=True, repr=False)
class BasicCredentials:
    """HTTP Basic credentials for a CalDAV server (app password, Nextcloud, Radicale…)."""

    username: str
    password: str

    def __post_init__(self) -> None:
        _check_text("username", self.username, allow_empty=False)
        _check_text("password", self.password, allow_empty=False)

    def __repr__(self) -> str:
        return "BasicCredentials(username=<redacted>, password=<redacted>)"

    __str__ = __repr__

    def to_json(self) -> dict[str, str]:
        return {"kind": "basic", "username": self.username, "password": self.password}


@dataclass(frozen=True, repr=False)
class OAuthCredentials:
    """An OAuth 2.0 refresh token for one of `PROVIDERS`."""

    provider: str
    refresh_token: str

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"unknown OAuth provider; known: {', '.join(sorted(PROVIDERS))}")
        _check_text("refresh_token", self.refresh_token, allow_empty=False)

    def __repr__(self) -> str:
        return f"OAuthCredentials(provider={self.provider!r}, refresh_token=<redacted>)"

    __str__ = __repr__

    def to_json(self) -> dict[str, str]:
        return {"kind": "oauth", "provider": self.provider, "refresh_token": self.refresh_token}


Credentials = BasicCredentials | OAuthCredentials


def _from_json(data: Any) -> Credentials:
    """The credentials a plaintext holds; ValueError/TypeError when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    kind = data.get("kind")
    if kind == "basic" and data.keys() == {"kind", "username", "password"}:
        return BasicCredentials(data["username"], data["password"])
    if kind == "oauth" and data.keys() == {"kind", "provider", "refresh_token"}:
        return OAuthCredentials(data["provider"], data["refresh_token"])
    raise ValueError("unknown layout")


@dataclass(frozen=True, repr=False)
class SealKey:
    """One AES-256 key and its id; the repr shows the id only."""

    key_id: str
    _aead: AESGCM = field(compare=False)

    @classmethod
    def from_bytes(cls, key_id: str, key: bytes) -> SealKey:
        if not KEY_ID.fullmatch(key_id):
            raise ValueError("a key id is 1-16 of A-Z a-z 0-9 _ -")
        if len(key) != KEY_BYTES:
            raise ValueError(f"a seal key is {KEY_BYTES} bytes")
        return cls(key_id, AESGCM(key))

    def __repr__(self) -> str:
        return f"SealKey(key_id={self.key_id!r})"

    __str__ = __repr__


def _length_prefixed(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(data)) + data


def _associated_data(header: bytes, user_id: str, calendar_url: str) -> bytes:
    return _DOMAIN + header + _length_prefixed(user_id) + _length_prefixed(calendar_url)


def _check_binding(user_id: object, calendar_url: object) -> None:
    if not isinstance(user_id, str) or not user_id:
        raise TypeError("user_id must be a non-empty str")
    if not isinstance(calendar_url, str) or not calendar_url:
        raise TypeError("calendar_url must be a non-empty str")


def _header(key_id: str) -> bytes:
    return VERSION + b"." + key_id.encode("ascii") + b"."


def _split(blob: bytes) -> tuple[bytes, str, bytes] | None:
    """(header, key id, nonce + ciphertext) of a v1 blob, or None when it is not one."""
    parts = blob.split(b".", 2)
    if len(parts) != 3 or parts[0] != VERSION:
        return None
    try:
        key_id = parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None
    if not KEY_ID.fullmatch(key_id) or len(parts[2]) < NONCE_BYTES + TAG_BYTES:
        return None
    return _header(key_id), key_id, parts[2]


class Keyring:
    """The keys of `CALENDAR_SEAL_KEYS`: the first seals, all open."""

    def __init__(self, keys: list[SealKey]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        ids = [key.key_id for key in keys]
        if len(set(ids)) != len(ids):
            raise ValueError("key ids must be unique")
        self._sealing = keys[0]
        self._keys: Mapping[str, SealKey] = {key.key_id: key for key in keys}

    @property
    def sealing_key_id(self) -> str:
        return self._sealing.key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(key_ids={list(self._keys)!r})"

    __str__ = __repr__

    def seal(self, credentials: Credentials, *, user_id: str, calendar_url: str) -> bytes:
        if not isinstance(credentials, BasicCredentials | OAuthCredentials):
            raise TypeError("only BasicCredentials or OAuthCredentials are sealed")
        _check_binding(user_id, calendar_url)
        plaintext = json.dumps(credentials.to_json(), separators=(",", ":")).encode("ascii")
        if len(plaintext) > MAX_PLAINTEXT_BYTES:
            raise ValueError("the credentials are too large to seal")
        header = _header(self._sealing.key_id)
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = _associated_data(header, user_id, calendar_url)
        return header + nonce + self._sealing._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, *, user_id: str, calendar_url: str) -> Credentials:
        """The credentials sealed in `blob` for this user and URL, or `UnsealError`."""
        _check_binding(user_id, calendar_url)
        if not isinstance(blob, bytes) or len(blob) > MAX_BLOB_BYTES:
            raise UnsealError()
        parts = _split(blob)
        key = self._keys.get(parts[1]) if parts else None
        if parts is None or key is None:
            raise UnsealError()
        header, _, body = parts
        aad = _associated_data(header, user_id, calendar_url)
        try:
            plaintext = key._aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], aad)
        except Exception:
            raise UnsealError() from None
        try:
            return _from_json(json.loads(plaintext))
        except Exception:
            # Authentic but not a layout this version knows: still never echo it.
            raise UnsealError() from None

    def key_id_of(self, blob: bytes) -> str | None:
        """The id of the key that sealed `blob` (read from its header, not verified)."""
        parts = _split(blob) if isinstance(blob, bytes) else None
        return parts[1] if parts else None

    def needs_reseal(self, blob: bytes) -> bool:
        """Whether `blob` was sealed with a key other than the sealing one (rotation)."""
        return self.key_id_of(blob) != self._sealing.key_id


def _decode_key(text: str) -> bytes | None:
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_seal_keys(value: str, *, name: str = ENV_VAR) -> Keyring:
    """The keyring `value` describes; `SealKeyError` names the entry (1-based position,
    and the id once it is a valid one), never the key material."""
    if not value.strip():
        raise SealKeyError(f"{name} is empty")
    keys: list[SealKey] = []
    seen: set[str] = set()
    for position, raw in enumerate(value.split(","), start=1):
        entry = raw.strip()
        where = f"{name} entry {position}"
        if not entry:
            raise SealKeyError(f"{where} is empty (a stray comma?)")
        key_id, colon, key_text = entry.partition(":")
        key_id, key_text = key_id.strip(), key_text.strip()
        if not colon:
            raise SealKeyError(f"{where} is not of the form id:key")
        if not KEY_ID.fullmatch(key_id):
            raise SealKeyError(f"{where}: the key id must be 1-16 of A-Z a-z 0-9 _ -")
        where = f"{where} (id {key_id!r})"
        if key_id in seen:
            raise SealKeyError(f"{where} repeats a key id")
        seen.add(key_id)
        key = _decode_key(key_text)
        if key is None:
            raise SealKeyError(f"{where}: the key is not base64")
        if len(key) != KEY_BYTES:
            raise SealKeyError(f"{where}: the key must decode to {KEY_BYTES} bytes")
        keys.append(SealKey.from_bytes(key_id, key))
    return Keyring(keys)


def keyring_from_env(env: Mapping[str, str]) -> Keyring | None:
    """The keyring of `CALENDAR_SEAL_KEYS`, or None when it is unset or blank (calendar
    connections are then disabled: CALENDAR_SYNC_DISABLED)."""
    value = env.get(ENV_VAR, "")
    return parse_seal_keys(value) if value.strip() else None


def new_key_entry(key_id: str) -> str:
    """A fresh `id:key` entry for `CALENDAR_SEAL_KEYS` (32 random bytes, base64)."""
    if not KEY_ID.fullmatch(key_id):
        raise ValueError("a key id is 1-16 of A-Z a-z 0-9 _ -")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode('ascii')}"
