"""Bearer-token verification: a JWT (HS256) whose `sub` is the calling user."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

import jwt

from scheduling_service.domain.errors import Unauthenticated
from scheduling_service.domain.users import User
from servicekit.text import address_problem, control_character


@dataclass(frozen=True)
class TokenVerifier:
    secret: str
    issuer: str = ""
    audience: str = ""

    def user(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> User:
        token = _bearer(metadata)
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
                leeway=30,
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
        return User(
            user_id=subject,
            email=_email(claims.get("email")),
            name=_text(claims.get("name")),
            zoneinfo=_zone(claims.get("zoneinfo")),
        )


def _bearer(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            break
    raise Unauthenticated("send `authorization: Bearer <token>` metadata")


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
