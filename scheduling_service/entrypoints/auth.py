"""Bearer-token verification: a JWT (HS256) whose `sub` is the calling user."""

from __future__ import annotations

import time
import zoneinfo
from collections import OrderedDict
from collections.abc import Sequence

import jwt

from scheduling_service.domain.errors import Unauthenticated
from scheduling_service.domain.users import User
from servicekit.auth import bearer_token
from servicekit.text import address_problem, control_character

_LEEWAY_S = 30
_CACHE_SIZE = 10_000


class TokenVerifier:
    """Verifies bearer tokens; a token already verified is answered from a small
    cache until it expires (callers send the same token many times)."""

    def __init__(self, secret: str, issuer: str = "", audience: str = "") -> None:
        self.secret = secret
        self.issuer = issuer
        self.audience = audience
        self._verified: OrderedDict[str, tuple[User, float]] = OrderedDict()

    def user(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> User:
        token = _bearer(metadata)
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1] + _LEEWAY_S:
            self._verified.move_to_end(token)
            return cached[0]
        user, expires = self._verify(token)
        self._verified[token] = (user, expires)
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return user

    def _verify(self, token: str) -> tuple[User, float]:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                issuer=self.issuer or None,
                audience=self.audience or None,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": bool(self.audience),
                    "verify_iss": bool(self.issuer),
                },
                leeway=_LEEWAY_S,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the token is not valid: {error}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 128:
            raise Unauthenticated("the token's sub must be a user id of 1 to 128 characters")
        if control_character(subject):
            raise Unauthenticated("the token's sub must not contain control characters")
        user = User(
            user_id=subject,
            email=_email(claims.get("email")),
            name=_text(claims.get("name")),
            zoneinfo=_zone(claims.get("zoneinfo")),
        )
        return user, float(claims["exp"])


def _bearer(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    token = bearer_token(metadata)
    if token is None:
        raise Unauthenticated("send `authorization: Bearer <token>` metadata")
    return token


# Profile claims only feed the directory: a malformed one is dropped, not fatal.
def _email(value: object) -> str | None:
    if isinstance(value, str) and address_problem(value) is None:
        return value
    return None


def _text(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= 200 and not control_character(value):
        return value
    return None


def _zone(value: object) -> str | None:
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return value
