"""The refresh client against a real RFC 6749 token endpoint (authlib's authorization
server, in `token_server`): refresh, caching, expiry, revocation, client authentication,
failures, and no token in any exception or log line."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from notification_service.credentials.oauth import (
    OAuthSettings,
    RefreshTokenRevoked,
    TokenEndpointError,
    TokenEndpointUnavailable,
    TokenRefresher,
)
from tests import oauth_token_server as token_server
from tests.oauth_token_server import TokenServer

pytestmark = pytest.mark.slow

CLIENT_ID = "rooms-client.apps.example.com"
# Characters that Basic auth must form-encode first (RFC 6749 §2.3.1).
CLIENT_SECRET = "s3cr3t:with/odd+chars%and space"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def running_server() -> Iterator[TokenServer]:
    state, httpd, thread = token_server.start()
    try:
        yield state
    finally:
        token_server.stop(httpd, thread)


@pytest.fixture
def server(running_server: TokenServer) -> TokenServer:
    running_server.reset()
    running_server.add_client(CLIENT_ID, CLIENT_SECRET, "client_secret_basic")
    running_server.add_client("post-client", CLIENT_SECRET, "client_secret_post")
    return running_server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def refresher(server: TokenServer, clock: Clock) -> AsyncIterator[TokenRefresher]:
    settings = OAuthSettings(server.url, CLIENT_ID, CLIENT_SECRET, timeout_s=5)
    refresher = TokenRefresher(settings, clock=clock)
    try:
        yield refresher
    finally:
        await refresher.aclose()


async def test_a_refresh_token_buys_an_access_token(
    server: TokenServer, refresher: TokenRefresher
) -> None:
    refresh = server.grant(CLIENT_ID, "user-1")
    token = await refresher.access_token("user-1", refresh)
    assert server.issued == [token.token]
    assert token.expires_in_s == 3600
    assert token.refresh_token is None  # this server, like Google, does not rotate it
    assert token.authorization == f"Bearer {token.token}"
    assert token.token not in repr(token) and token.token not in str(token)


async def test_client_secret_post_authenticates_too(server: TokenServer) -> None:
    refresh = server.grant("post-client", "user-1")
    settings = OAuthSettings(
        server.url, "post-client", CLIENT_SECRET, auth_method="client_secret_post"
    )
    refresher = TokenRefresher(settings)
    try:
        token = await refresher.access_token("user-1", refresh)
    finally:
        await refresher.aclose()
    assert server.issued == [token.token]


async def test_a_cached_token_does_not_reach_the_endpoint(
    server: TokenServer, refresher: TokenRefresher, clock: Clock
) -> None:
    refresh = server.grant(CLIENT_ID, "user-1")
    first = await refresher.access_token("user-1", refresh)
    clock.now += 3000
    second = await refresher.access_token("user-1", refresh)
    assert second == first
    assert server.token_requests == 1
    # Another user, or another refresh token, is another cache entry.
    other = server.grant(CLIENT_ID, "user-2")
    assert (await refresher.access_token("user-2", other)) != first
    assert server.token_requests == 2


async def test_concurrent_calls_share_one_refresh(
    server: TokenServer, refresher: TokenRefresher
) -> None:
    refresh = server.grant(CLIENT_ID, "user-1")
    tokens = await asyncio.gather(*(refresher.access_token("user-1", refresh) for _ in range(8)))
    assert len({token.token for token in tokens}) == 1
    assert server.token_requests == 1


async def test_a_token_is_refreshed_shortly_before_it_expires(
    server: TokenServer, refresher: TokenRefresher, clock: Clock
) -> None:
    server.expires_in = 120
    refresh = server.grant(CLIENT_ID, "user-1")
    first = await refresher.access_token("user-1", refresh)
    clock.now += 59  # inside its life less the 60 s margin: cached
    assert await refresher.access_token("user-1", refresh) == first
    clock.now += 2  # within the margin: refreshed
    second = await refresher.access_token("user-1", refresh)
    assert second != first
    assert server.token_requests == 2


async def test_a_short_lived_token_is_cached_for_half_its_life(
    server: TokenServer, refresher: TokenRefresher, clock: Clock
) -> None:
    server.expires_in = 4
    refresh = server.grant(CLIENT_ID, "user-1")
    first = await refresher.access_token("user-1", refresh)
    clock.now += 1.9
    assert await refresher.access_token("user-1", refresh) == first
    clock.now += 0.2
    assert await refresher.access_token("user-1", refresh) != first
    assert server.token_requests == 2


async def test_a_revoked_refresh_token_is_the_revoked_error(
    server: TokenServer, refresher: TokenRefresher, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    refresh = server.grant(CLIENT_ID, "user-1")
    access = await refresher.access_token("user-1", refresh)
    server.revoke(refresh)
    refresher.forget("user-1")  # as after the calendar's 401
    with pytest.raises(RefreshTokenRevoked) as caught:
        await refresher.access_token("user-1", refresh)
    assert caught.value.reason == "OAUTH_REVOKED"
    assert server.token_requests == 2
    # Still revoked on the next try: nothing stale is served from the cache.
    clock.now += 10
    with pytest.raises(RefreshTokenRevoked):
        await refresher.access_token("user-1", refresh)
    ours = [r for r in caplog.records if not r.name.startswith(("authlib", "werkzeug"))]
    shown = str(caught.value) + repr(caught.value) + "".join(r.getMessage() for r in ours)
    shown += "".join(repr(r.__dict__) for r in ours)
    for secret in (refresh, access.token, CLIENT_SECRET):
        assert secret not in shown


async def test_an_unknown_refresh_token_is_revoked_too(
    server: TokenServer, refresher: TokenRefresher
) -> None:
    with pytest.raises(RefreshTokenRevoked):
        await refresher.access_token("user-1", "never-issued")


async def test_a_wrong_client_secret_is_not_the_users_fault(server: TokenServer) -> None:
    refresh = server.grant(CLIENT_ID, "user-1")
    refresher = TokenRefresher(OAuthSettings(server.url, CLIENT_ID, "wrong-secret-value"))
    try:
        with pytest.raises(TokenEndpointError) as caught:
            await refresher.access_token("user-1", refresh)
    finally:
        await refresher.aclose()
    assert "invalid_client" in str(caught.value)
    assert refresh not in str(caught.value) and "wrong-secret-value" not in str(caught.value)


async def test_a_5xx_is_temporary_with_its_retry_after(
    server: TokenServer, refresher: TokenRefresher
) -> None:
    refresh = server.grant(CLIENT_ID, "user-1")
    server.fail_with = 503
    with pytest.raises(TokenEndpointUnavailable) as caught:
        await refresher.access_token("user-1", refresh)
    assert caught.value.retry_after_s == 7
    server.fail_with = None
    assert (await refresher.access_token("user-1", refresh)).token in server.issued


async def test_a_silent_endpoint_times_out_as_temporary() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/token"
        refresher = TokenRefresher(OAuthSettings(url, CLIENT_ID, CLIENT_SECRET, timeout_s=0.3))
        try:
            with pytest.raises(TokenEndpointUnavailable, match="timed out"):
                await refresher.access_token("user-1", "some-refresh-token")
        finally:
            await refresher.aclose()


async def test_a_closed_port_is_temporary() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refresher = TokenRefresher(
        OAuthSettings(f"http://127.0.0.1:{port}/token", CLIENT_ID, CLIENT_SECRET, timeout_s=2)
    )
    try:
        with pytest.raises(TokenEndpointUnavailable, match="unreachable"):
            await refresher.access_token("user-1", "some-refresh-token")
    finally:
        await refresher.aclose()
