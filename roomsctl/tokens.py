"""Which bearer token to send: minted for `--as USER`, or given with `--token`/ROOMS_TOKEN."""

from __future__ import annotations

import time
from collections.abc import Mapping

import jwt

from roomsctl.errors import CliError

DEV_TOKEN_TTL_S = 3600


def mint(
    user: str,
    secret: str,
    *,
    ttl_s: int = DEV_TOKEN_TTL_S,
    issuer: str = "",
    audience: str = "",
    now: float | None = None,
    profile: Mapping[str, str] | None = None,
) -> str:
    """A development token (HS256) whose `sub` is `user`, valid for `ttl_s` seconds.

    `profile` adds the claims the directory keeps (email, name, zoneinfo): the
    e-mail address is where this user's invites go.
    """
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {"sub": user, "iat": issued, "exp": issued + ttl_s}
    claims.update(profile or {})
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def resolve(
    *,
    as_user: str | None,
    token: str | None,
    jwt_secret: str | None,
    env: Mapping[str, str],
    email: str | None = None,
    zone_name: str | None = None,
) -> str | None:
    """The token to send, or None to call without one (the server will refuse)."""
    if as_user is not None:
        if not as_user:
            raise CliError("--as needs a user id")
        secret = jwt_secret or env.get("JWT_SECRET", "")
        if not secret:
            raise CliError(
                "--as needs the signing secret: pass --jwt-secret or set JWT_SECRET "
                "(or use --token / ROOMS_TOKEN with a token you already have)"
            )
        profile = {"email": email or f"{as_user}@example.com", "name": as_user}
        if zone_name:
            profile["zoneinfo"] = zone_name
        return mint(
            as_user,
            secret,
            issuer=env.get("JWT_ISSUER", ""),
            audience=env.get("JWT_AUDIENCE", ""),
            profile=profile,
        )
    given = token if token is not None else env.get("ROOMS_TOKEN", "")
    given = given.strip()
    if given.lower().startswith("bearer "):
        given = given[len("bearer ") :].strip()
    return given or None


def metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()
