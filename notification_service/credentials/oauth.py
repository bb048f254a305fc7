"""OAuth 2.0 access tokens from refresh tokens (RFC 6749 §6), for provider `google`.

`TokenRefresher.access_token(user_id, refresh_token)` POSTs
``grant_type=refresh_token`` to the configured token URL (`GOOGLE_OAUTH_TOKEN_URL`,
trusted configuration, never user input), authenticating the client with
`GOOGLE_OAUTH_CLIENT_ID`/`_SECRET` by HTTP Basic (RFC 6749 §2.3.1, each part
form-urlencoded first) or in the form body. Access tokens are cached in memory per
(user id, SHA-256 of the refresh token) until shortly before their `expires_in`;
concurrent calls for the same key share one request.

Outcomes: an `AccessToken`; `RefreshTokenRevoked` for a 400 ``invalid_grant`` (the
connection turns BROKEN); `TokenEndpointUnavailable` for 5xx, 429, timeouts and network
errors (back off and retry); `TokenEndpointError` for anything else (another 4xx such as
``invalid_client``, or an answer that is not a strict RFC 6749 §5.1 response). The
response is read up to `MAX_RESPONSE_BYTES`, and the whole exchange is bounded in time.
No exception message, repr or log line carries a token or the client secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

import httpx

from servicekit.config import ConfigError, Env

__all__ = [
    "GOOGLE_TOKEN_URL",
    "AccessToken",
    "OAuthError",
    "OAuthSettings",
    "RefreshTokenRevoked",
    "TokenEndpointError",
    "TokenEndpointUnavailable",
    "TokenRefresher",
]

log = logging.getLogger(__name__)

GOOGLE_TOKEN_URL: Final = "https://oauth2.googleapis.com/token"
MAX_RESPONSE_BYTES: Final = 64 * 1024
MAX_TOKEN_CHARS: Final = 8192
# Longer than any token lives (a year); larger numbers need not fit a float.
_EXPIRES_IN_END = 366 * 86400
# However long an endpoint says a token lives, it is asked again after a day at most.
MAX_CACHED_S: Final = 86_400.0
# RFC 6750 §2.1 b64token: what a Bearer Authorization header can carry.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# RFC 6749 §5.2 (and §6 via §5.2) error codes: the only `error` values ever repeated.
_KNOWN_ERRORS: Final = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
AuthMethod = Literal["client_secret_basic", "client_secret_post"]


class OAuthError(Exception):
    """A refresh that gave no access token; `reason` is a short code for logs and states."""

    reason = "OAUTH_FAILED"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class RefreshTokenRevoked(OAuthError):
    """The provider answered ``invalid_grant``: the refresh token is revoked or expired,
    and only the user reconnecting helps (the connection turns BROKEN)."""

    reason = "OAUTH_REVOKED"


class TokenEndpointUnavailable(OAuthError):
    """5xx, 429, a timeout or a network error: try again later (after `retry_after_s`
    when the endpoint said so)."""

    reason = "OAUTH_UNAVAILABLE"

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TokenEndpointError(OAuthError):
    """Any other refusal, or an answer that is not an RFC 6749 token response: most
    likely our client configuration; retrying the same request will not help."""


@dataclass(frozen=True, repr=False)
class AccessToken:
    """An access token; `refresh_token` is set only when the provider rotated it (RFC
    6749 §6: the caller must seal and store the new one and discard the old)."""

    token: str
    expires_in_s: float
    refresh_token: str | None = None

    def __repr__(self) -> str:
        rotated = ", refresh_token=<redacted>" if self.refresh_token else ""
        return f"AccessToken(token=<redacted>, expires_in_s={self.expires_in_s!r}{rotated})"

    __str__ = __repr__

    @property
    def authorization(self) -> str:
        """The value of the Authorization header (RFC 6750 §2.1)."""
        return f"Bearer {self.token}"


def _check_token_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{name} must be an https URL")
    if parts.username or parts.password or parts.fragment:
        raise ConfigError(f"{name} must not carry credentials or a fragment")
    if parts.scheme == "http":
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if not loopback:
            raise ConfigError(f"{name} must be https (plain http only to loopback)")
    return url


@dataclass(frozen=True, repr=False)
class OAuthSettings:
    """The client's registration at one provider's token endpoint."""

    token_url: str
    client_id: str
    client_secret: str
    auth_method: AuthMethod = "client_secret_basic"
    timeout_s: float = 10.0
    # Cached tokens are dropped this long before they expire (at most half their life).
    expiry_margin_s: float = 60.0

    def __post_init__(self) -> None:
        _check_token_url(self.token_url, "the token URL")
        if not self.client_id or not self.client_secret:
            raise ConfigError("an OAuth client needs a client id and a client secret")
        if self.auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ConfigError("auth_method is client_secret_basic or client_secret_post")
        if not (0 < self.timeout_s <= 300):
            raise ConfigError("the OAuth timeout must be in (0, 300] seconds")

    def __repr__(self) -> str:
        return (
            f"OAuthSettings(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"client_secret=<redacted>, auth_method={self.auth_method!r})"
        )

    __str__ = __repr__

    @classmethod
    def google_from_env(cls, env: Mapping[str, str] | None = None) -> OAuthSettings | None:
        """From `GOOGLE_OAUTH_TOKEN_URL` (default Google's), `GOOGLE_OAUTH_CLIENT_ID` and
        `GOOGLE_OAUTH_CLIENT_SECRET`; None when neither id nor secret is set."""
        reader = Env(env)
        client_id = reader.text("GOOGLE_OAUTH_CLIENT_ID", "", allow_empty=True)
        secret = reader.text("GOOGLE_OAUTH_CLIENT_SECRET", "", allow_empty=True)
        if not client_id and not secret:
            return None
        if not client_id or not secret:
            raise ConfigError("GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET go together")
        url = reader.text("GOOGLE_OAUTH_TOKEN_URL", GOOGLE_TOKEN_URL)
        _check_token_url(url, "GOOGLE_OAUTH_TOKEN_URL")
        return cls(token_url=url, client_id=client_id, client_secret=secret)


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError("duplicate member")
        data[key] = value
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError("not JSON")


def _parse_json(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_strict_object,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the stack
        return None
    return data if isinstance(data, dict) else None


def _parse_token_response(data: dict[str, Any]) -> AccessToken:
    """RFC 6749 §5.1, strictly: a Bearer token in b64token syntax, a positive finite
    expires_in; a rotated refresh_token is kept when present."""
    token = data.get("access_token")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenEndpointError("the token response has no usable access_token")
    if not _B64TOKEN.fullmatch(token):
        raise TokenEndpointError("the access_token is not a bearer token (RFC 6750 b64token)")
    token_type = data.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise TokenEndpointError("the token response's token_type is not Bearer")
    expires_in = data.get("expires_in")
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int | float)
        or not 0 < expires_in < _EXPIRES_IN_END  # compared exactly: a huge int overflows float
        or not math.isfinite(expires_in)
    ):
        raise TokenEndpointError("the token response's expires_in is not a positive number")
    refresh = data.get("refresh_token")
    if refresh is not None and (
        not isinstance(refresh, str) or not refresh or len(refresh) > MAX_TOKEN_CHARS
    ):
        raise TokenEndpointError("the token response's refresh_token is not a string")
    return AccessToken(token=token, expires_in_s=float(expires_in), refresh_token=refresh)


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after", "").strip()
    # ASCII digits only, and few (str.isdigit() takes other scripts' digits, int() does not).
    ok = value.isascii() and value.isdigit() and len(value) <= 10
    return float(min(int(value), 3600)) if ok else None


@dataclass
class _Cached:
    token: AccessToken
    valid_until: float = field(default=0.0)


class TokenRefresher:
    """Access tokens for (user, refresh token), refreshed at one token endpoint."""

    def __init__(
        self,
        settings: OAuthSettings,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_cached: int = 10_000,
    ) -> None:
        self._settings = settings
        # Our own client: no proxy from the environment, no redirects, bounded waits.
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=False,
            trust_env=False,
        )
        self._owns_client = client is None
        self._clock = clock
        self._max_cached = max_cached
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._inflight: dict[tuple[str, str], asyncio.Task[AccessToken]] = {}

    def __repr__(self) -> str:
        return f"TokenRefresher(token_url={self._settings.token_url!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    @staticmethod
    def _key(user_id: str, refresh_token: str) -> tuple[str, str]:
        return user_id, hashlib.sha256(refresh_token.encode("utf-8", "surrogatepass")).hexdigest()

    def forget(self, user_id: str) -> None:
        """Drop the user's cached tokens (their calendar answered 401, or they left)."""
        for key in [key for key in self._cache if key[0] == user_id]:
            del self._cache[key]

    async def access_token(self, user_id: str, refresh_token: str) -> AccessToken:
        """A valid access token, from the cache or from one refresh at the endpoint."""
        if not isinstance(refresh_token, str) or not refresh_token:
            raise TypeError("refresh_token must be a non-empty str")
        key = self._key(user_id, refresh_token)
        cached = self._cache.get(key)
        if cached is not None and self._clock() < cached.valid_until:
            return cached.token
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._refresh_and_cache(key, user_id, refresh_token))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._done(key, done))
        # Shielded: one caller cancelled must not cancel the refresh the others await.
        return await asyncio.shield(task)

    def _done(self, key: tuple[str, str], task: asyncio.Task[AccessToken]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have been cancelled

    async def _refresh_and_cache(
        self, key: tuple[str, str], user_id: str, refresh_token: str
    ) -> AccessToken:
        started = self._clock()
        try:
            token = await self.refresh(refresh_token)
        except RefreshTokenRevoked:
            self._cache.pop(key, None)
            log.warning("oauth refresh token revoked", extra={"user_id": user_id})
            raise
        except OAuthError as error:
            log.warning("oauth refresh failed: %s", error.reason, extra={"user_id": user_id})
            raise
        life = min(token.expires_in_s, MAX_CACHED_S)
        margin = min(self._settings.expiry_margin_s, life / 2)
        self._store(key, _Cached(token, started + life - margin))
        return token

    def _store(self, key: tuple[str, str], entry: _Cached) -> None:
        if key not in self._cache and len(self._cache) >= self._max_cached:
            now = self._clock()
            for old in [k for k, v in self._cache.items() if v.valid_until <= now]:
                del self._cache[old]
            while len(self._cache) >= self._max_cached:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = entry

    async def refresh(self, refresh_token: str) -> AccessToken:
        """One refresh request (no cache), bounded in time and size."""
        settings = self._settings
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        if settings.auth_method == "client_secret_basic":
            user = quote(settings.client_id, safe="")
            secret = quote(settings.client_secret, safe="")
            auth: httpx.Auth | None = httpx.BasicAuth(user, secret)
        else:
            form |= {"client_id": settings.client_id, "client_secret": settings.client_secret}
            auth = None
        try:
            async with asyncio.timeout(settings.timeout_s * 2):
                status, response_headers, body = await self._post(form, headers, auth)
        except (TimeoutError, httpx.TimeoutException):
            raise TokenEndpointUnavailable("the token endpoint timed out") from None
        except httpx.TransportError as error:
            raise TokenEndpointUnavailable(
                f"the token endpoint is unreachable ({type(error).__name__})"
            ) from None
        except httpx.HTTPError as error:  # DecodingError and the like: not a usable answer
            raise TokenEndpointError(
                f"the token endpoint's answer is unusable ({type(error).__name__})"
            ) from None
        return self._outcome(status, response_headers, body)

    async def _post(
        self, form: dict[str, str], headers: dict[str, str], auth: httpx.Auth | None
    ) -> tuple[int, httpx.Headers, bytes | None]:
        """Status, headers and body (None when it exceeded `MAX_RESPONSE_BYTES`)."""
        url = self._settings.token_url
        async with self._client.stream("POST", url, data=form, headers=headers, auth=auth) as r:
            coding = r.headers.get("content-encoding", "identity").strip().lower()
            if coding not in ("", "identity"):
                raise TokenEndpointError("the token endpoint used a content coding not asked for")
            body = bytearray()
            async for chunk in r.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    return r.status_code, r.headers, None
            return r.status_code, r.headers, bytes(body)

    def _outcome(self, status: int, headers: httpx.Headers, body: bytes | None) -> AccessToken:
        if status == 429 or status >= 500:
            raise TokenEndpointUnavailable(
                f"the token endpoint answered {status}", retry_after_s=_retry_after(headers)
            )
        if body is None:
            raise TokenEndpointError(f"the token endpoint's answer ({status}) is too large")
        data = _parse_json(body)
        if status == 200:
            if data is None:
                raise TokenEndpointError("the token endpoint's answer is not a JSON object")
            return _parse_token_response(data)
        error = data.get("error") if data is not None else None
        code = error if isinstance(error, str) and error in _KNOWN_ERRORS else "unrecognised"
        if status == 400 and code == "invalid_grant":
            raise RefreshTokenRevoked("the refresh token was revoked or has expired")
        raise TokenEndpointError(f"the token endpoint refused the refresh: {status} {code}")
