"""Bearer-token verification: a JWT (HS256) whose `sub` is the calling user.

Whatever a token holds, a call gets either on with a claim it cannot use ignored
(one warning per token) or UNAUTHENTICATED; never INTERNAL. The rules:
- HS256 with JWT_SECRET; `exp` and `sub` required; `nbf` and `iat` honoured; `iss`
  and `aud` checked when JWT_ISSUER / JWT_AUDIENCE are set; JWT_LEEWAY_S of clock skew.
- `exp`, `iat`, `nbf` are NumericDates (RFC 7519 §2): JSON numbers, from 1970 to before
  the year 10000. A string of digits, a boolean or anything else is UNAUTHENTICATED.
- A token may not live longer than JWT_MAX_TTL: neither from now to `exp`, nor from
  `iat` to `exp` when it says when it was issued.
- `sub`: 1 to 128 characters, no control characters.
- `email`, `name`, `zoneinfo` only feed the directory: one that is malformed, or a zone
  the tz database does not name, is dropped, and the call goes on.
- `scope` (a space-separated string or a list) holding JWT_ADMIN_SCOPE marks a trusted
  backend, which sees every room's details and anyone's schedule. Only U+0020 separates
  scope tokens (RFC 6749 §3.3); a scope that is not that grammar is ignored.
"""

from __future__ import annotations

import functools
import re
import time
import zoneinfo
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt

from scheduling_service.domain.errors import Unauthenticated
from scheduling_service.domain.users import User
from servicekit.auth import bearer_token
from servicekit.logs import get_logger
from servicekit.text import address_problem, first_control_character

log = get_logger(__name__)

_CACHE_SIZE = 10_000
_NAME_MAX = 200
_ZONE_MAX = 64
# 9999-12-31T23:59:59Z + 1 s: later is no real expiry, and larger numbers need not fit
# a float (a 401-digit `exp` overflowed float() into INTERNAL).
_NUMERIC_DATE_END = 253_402_300_800
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), one space between tokens.
# str.split() would also split at U+00A0, U+3000, U+0085… and so read
# "rooms.admin<U+00A0>x" as holding the admin scope.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_SCOPE = re.compile(rf"(?:{_SCOPE_TOKEN.pattern}(?: {_SCOPE_TOKEN.pattern})*)?")


@dataclass(frozen=True)
class TokenRules:
    secret: str
    issuer: str = ""
    audience: str = ""
    leeway: timedelta = timedelta(seconds=30)
    max_ttl: timedelta = timedelta(hours=24)
    admin_scope: str = "rooms.admin"


class TokenVerifier:
    """Verifies bearer tokens; a token already verified is answered from a small
    cache until it expires (callers send the same token many times)."""

    def __init__(self, rules: TokenRules) -> None:
        self._rules = rules
        self._leeway_s = rules.leeway.total_seconds()
        self._verified: OrderedDict[str, tuple[User, float]] = OrderedDict()

    def user(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> User:
        token = bearer_token(metadata)
        if token is None:
            raise Unauthenticated("send `authorization: Bearer <token>` metadata")
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1] + self._leeway_s:
            self._verified.move_to_end(token)
            return cached[0]
        user, expires = self._verify(token)
        self._verified[token] = (user, expires)
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return user

    def _verify(self, token: str) -> tuple[User, float]:
        rules = self._rules
        try:
            claims = jwt.decode(
                token,
                rules.secret,
                algorithms=["HS256"],
                issuer=rules.issuer or None,
                audience=rules.audience or None,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": bool(rules.audience),
                    "verify_iss": bool(rules.issuer),
                    # _check_times does: PyJWT's int() takes True and strings of digits
                    # (in any script).
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the token is not valid: {error}") from None
        expires = self._check_times(claims)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 128:
            raise Unauthenticated("the token's sub must be a user id of 1 to 128 characters")
        if first_control_character(subject):
            raise Unauthenticated("the token's sub must not contain control characters")
        ignored: list[str] = []
        user = User(
            user_id=subject,
            email=_profile(claims, "email", _email, ignored),
            name=_profile(claims, "name", _name, ignored),
            zoneinfo=_profile(claims, "zoneinfo", _zone, ignored),
            trusted=_scopes(claims.get("scope"), ignored, rules.admin_scope),
        )
        if ignored:
            log.warning("token claims ignored", user_id=subject, claims=ignored)
        return user, expires

    def _check_times(self, claims: dict[str, Any]) -> float:
        """`exp`, once `exp`, `nbf` and `iat` are NumericDates the clock allows."""
        expires = _numeric_date(claims, "exp")
        if expires is None:  # PyJWT's `require` has refused this already
            raise Unauthenticated("the token has no exp")
        not_before = _numeric_date(claims, "nbf")
        issued = _numeric_date(claims, "iat")
        now = time.time()
        if expires <= now - self._leeway_s:
            raise Unauthenticated("the token has expired")
        if any(t is not None and t > now + self._leeway_s for t in (not_before, issued)):
            raise Unauthenticated("the token is not valid yet (nbf or iat)")
        self._check_lifetime(now, expires, issued)
        return expires

    def _check_lifetime(self, now: float, expires: float, issued: float | None) -> None:
        longest = (self._rules.max_ttl + self._rules.leeway).total_seconds()
        if expires - now > longest:
            raise Unauthenticated(
                f"the token lives longer than JWT_MAX_TTL ({self._rules.max_ttl}): ask for a"
                " shorter-lived one"
            )
        if issued is not None and expires - issued > longest:
            raise Unauthenticated(
                f"the token was issued for longer than JWT_MAX_TTL ({self._rules.max_ttl})"
            )


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """The claim as seconds since the epoch, None when absent. RFC 7519 §2 makes it a
    JSON number: a string (even of digits), a boolean (an int to Python), NaN or
    ±Infinity (which Python's json reads), or a time outside 1970 to 9999 is refused."""
    if name not in claims:
        return None
    value = claims[name]
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value < _NUMERIC_DATE_END  # False for NaN; ints compared exactly
    ):
        return float(value)
    raise Unauthenticated(
        f"the token's {name} must be a JSON number of seconds since 1970-01-01T00:00:00Z,"
        " before the year 10000"
    )


def _profile(claims: dict[str, Any], name: str, check: Any, ignored: list[str]) -> str | None:
    """A profile claim's value when usable; None (and noted) when present but not."""
    if name not in claims:
        return None
    value = check(claims[name])
    if value is None:
        ignored.append(name)
    return value


def _email(value: object) -> str | None:
    if isinstance(value, str) and address_problem(value) is None:
        return value
    return None


def _name(value: object) -> str | None:
    if (
        isinstance(value, str)
        and 0 < len(value) <= _NAME_MAX
        and not first_control_character(value)
    ):
        return value
    return None


def _zone(value: object) -> str | None:
    # Only names the tz database lists: a directory of it (`Europe`) or a path is not a
    # zone, and must not reach the file system.
    if isinstance(value, str) and 0 < len(value) <= _ZONE_MAX and value in _zone_names():
        return value
    return None


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _scopes(value: object, ignored: list[str], admin_scope: str) -> bool:
    if value is None:
        return False
    scopes = _scope_tokens(value)
    if scopes is None:
        ignored.append("scope")
        return False
    return bool(admin_scope) and admin_scope in scopes


def _scope_tokens(value: object) -> list[str] | None:
    """The tokens of an RFC 6749 §3.3 scope string, or of a list of scope tokens; None
    for anything else, which grants nothing (a lookalike of the admin scope included)."""
    if isinstance(value, str) and _SCOPE.fullmatch(value):
        return value.split(" ")
    if isinstance(value, list) and all(
        isinstance(s, str) and _SCOPE_TOKEN.fullmatch(s) for s in value
    ):
        return value
    return None
