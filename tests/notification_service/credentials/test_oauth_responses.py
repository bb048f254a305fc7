"""What the refresh client accepts from a token endpoint, strictly, and its settings;
the endpoint is an httpx mock transport here (the real one: test_oauth_server)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notification_service.credentials.oauth import (
    GOOGLE_TOKEN_URL,
    MAX_RESPONSE_BYTES,
    AccessToken,
    OAuthSettings,
    RefreshTokenRevoked,
    TokenEndpointError,
    TokenEndpointUnavailable,
    TokenRefresher,
)
from servicekit.config import ConfigError

URL = "https://oauth.example.com/token"
SECRET = "client-secret-value"
REFRESH = "1//refresh-token-value"
GOOD = {"access_token": "ya29.a0AfH6SM-token_value", "token_type": "Bearer", "expires_in": 3599}


def _refresher(handler: Callable[[httpx.Request], httpx.Response]) -> TokenRefresher:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return TokenRefresher(OAuthSettings(URL, "client-id", SECRET), client=client)


def _answer(status: int, body: Any, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json", **headers}
    return lambda request: httpx.Response(status, content=content, headers=hdrs)


async def test_the_request_follows_rfc_6749_section_6() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=GOOD)

    token = await _refresher(handler).access_token("user-1", REFRESH)
    assert token == AccessToken(GOOD["access_token"], 3599.0)  # type: ignore[arg-type]
    (request,) = seen
    assert request.method == "POST" and str(request.url) == URL
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {"grant_type": "refresh_token", "refresh_token": REFRESH}
    assert request.headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    "body",
    [
        {**GOOD, "access_token": ""},
        {**GOOD, "access_token": 42},
        {**GOOD, "access_token": "has space"},
        {**GOOD, "access_token": "x" * 9000},
        {k: v for k, v in GOOD.items() if k != "access_token"},
        {k: v for k, v in GOOD.items() if k != "token_type"},
        {**GOOD, "token_type": "mac"},
        {k: v for k, v in GOOD.items() if k != "expires_in"},
        {**GOOD, "expires_in": "3600"},
        {**GOOD, "expires_in": 0},
        {**GOOD, "expires_in": -5},
        {**GOOD, "expires_in": True},
        {**GOOD, "refresh_token": 7},
        [GOOD],
        "a string",
    ],
)
async def test_a_response_that_is_not_strictly_a_token_is_refused(body: Any) -> None:
    with pytest.raises(TokenEndpointError):
        await _refresher(_answer(200, body)).access_token("user-1", REFRESH)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"access_token": "a", "access_token": "b", "token_type": "Bearer", "expires_in": 5}',
        b'{"access_token": "a", "token_type": "Bearer", "expires_in": NaN}',
        b'{"access_token": "a", "token_type": "Bearer", "expires_in": Infinity}',
        b"\xff\xfe",
        b"",
        b"[" * 60_000,
        b'{"access_token": "a", "token_type": "Bearer", "expires_in": 1' + b"0" * 400 + b"}",
    ],
    ids=["duplicate", "nan", "infinity", "not-utf8", "empty", "deep", "huge-expires-in"],
)
async def test_malformed_json_is_refused(raw: bytes) -> None:
    with pytest.raises(TokenEndpointError):
        await _refresher(_answer(200, raw)).access_token("user-1", REFRESH)


async def test_a_rotated_refresh_token_is_handed_back() -> None:
    token = await _refresher(_answer(200, {**GOOD, "refresh_token": "1//new"})).access_token(
        "user-1", REFRESH
    )
    assert token.refresh_token == "1//new"
    assert "1//new" not in repr(token)


async def test_an_endless_answer_is_cut_off() -> None:
    huge = json.dumps({**GOOD, "padding": "x" * MAX_RESPONSE_BYTES}).encode()
    with pytest.raises(TokenEndpointError, match="too large"):
        await _refresher(_answer(200, huge)).access_token("user-1", REFRESH)


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "buffered"])
async def test_a_compressed_answer_is_refused(streamed: bool) -> None:
    """Only identity is asked for; a gzip answer is refused, not inflated."""
    body = gzip.compress(json.dumps(GOOD).encode())
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "identity"
        if streamed:
            return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))
        return httpx.Response(200, headers=headers, content=b"\x1f\x8b not gzip")

    with pytest.raises(TokenEndpointError, match=r"content coding|unusable"):
        await _refresher(handler).access_token("user-1", REFRESH)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"error": "invalid_grant"}, RefreshTokenRevoked),
        (400, {"error": "invalid_request"}, TokenEndpointError),
        (401, {"error": "invalid_client"}, TokenEndpointError),
        (401, {"error": "invalid_grant"}, TokenEndpointError),
        (400, b"<html>bad</html>", TokenEndpointError),
        (403, {}, TokenEndpointError),
        (404, {}, TokenEndpointError),
        (302, {}, TokenEndpointError),
        (429, {}, TokenEndpointUnavailable),
        (500, {}, TokenEndpointUnavailable),
        (502, b"", TokenEndpointUnavailable),
        (503, {"error": "invalid_grant"}, TokenEndpointUnavailable),
    ],
)
async def test_statuses_map_to_the_three_outcomes(
    status: int, body: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await _refresher(_answer(status, body)).access_token("user-1", REFRESH)


async def test_an_echoed_token_never_reaches_the_message() -> None:
    """A misbehaving endpoint that puts the token in `error` or its description."""
    body = {"error": REFRESH, "error_description": f"bad token {REFRESH}"}
    with pytest.raises(TokenEndpointError) as caught:
        await _refresher(_answer(400, body)).access_token("user-1", REFRESH)
    assert REFRESH not in str(caught.value) and "unrecognised" in str(caught.value)


@settings(max_examples=50, deadline=None)
@given(
    refresh=st.text(min_size=10, max_size=100),
    status=st.sampled_from([200, 400, 401, 500, 503]),
    echo=st.sampled_from(["error", "error_description", "access_token", "token_type"]),
)
async def test_no_outcome_text_carries_the_refresh_token_or_secret(
    refresh: str, status: int, echo: str
) -> None:
    body = {"error": "invalid_grant", echo: refresh}
    try:
        token = await _refresher(_answer(status, body)).access_token("user-1", refresh)
    except Exception as error:
        shown = str(error) + repr(error) + repr(error.args)
    else:
        shown = repr(token) + str(token)
    assert refresh not in shown and SECRET not in shown


# -- settings ------------------------------------------------------------------------


def test_settings_from_the_environment() -> None:
    assert OAuthSettings.google_from_env({}) is None
    env = {"GOOGLE_OAUTH_CLIENT_ID": "id", "GOOGLE_OAUTH_CLIENT_SECRET": SECRET}
    loaded = OAuthSettings.google_from_env(env)
    assert loaded is not None and loaded.token_url == GOOGLE_TOKEN_URL
    assert SECRET not in repr(loaded) and SECRET not in str(loaded)
    local = {**env, "GOOGLE_OAUTH_TOKEN_URL": "http://127.0.0.1:8080/token"}
    assert OAuthSettings.google_from_env(local) is not None


@pytest.mark.parametrize(
    "env",
    [
        {"GOOGLE_OAUTH_CLIENT_ID": "id"},
        {"GOOGLE_OAUTH_CLIENT_SECRET": SECRET},
        {
            "GOOGLE_OAUTH_CLIENT_ID": "id",
            "GOOGLE_OAUTH_CLIENT_SECRET": SECRET,
            "GOOGLE_OAUTH_TOKEN_URL": "http://oauth.example.com/token",
        },
        {
            "GOOGLE_OAUTH_CLIENT_ID": "id",
            "GOOGLE_OAUTH_CLIENT_SECRET": SECRET,
            "GOOGLE_OAUTH_TOKEN_URL": "ftp://oauth.example.com/token",
        },
        {
            "GOOGLE_OAUTH_CLIENT_ID": "id",
            "GOOGLE_OAUTH_CLIENT_SECRET": SECRET,
            "GOOGLE_OAUTH_TOKEN_URL": "https://u:p@oauth.example.com/token",
        },
    ],
)
def test_bad_settings_are_config_errors_without_the_secret(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        OAuthSettings.google_from_env(env)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("value", ["9" * 5000, "\u00b2", "\u0661\u0662", "12.5", "-1"])
async def test_an_unreadable_retry_after_is_ignored_not_a_crash(value: str) -> None:
    body = json.dumps({"error": "temporarily_unavailable"}).encode()
    # As the bytes a server sends (UTF-8 here), which httpx reads as Latin-1.
    headers = [(b"Content-Type", b"application/json"), (b"Retry-After", value.encode())]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, content=body, headers=headers)

    with pytest.raises(TokenEndpointUnavailable) as raised:
        await _refresher(answer).access_token("user-1", REFRESH)
    assert raised.value.retry_after_s is None
