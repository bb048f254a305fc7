"""Google-style calendars (provider `google`): a refresh token buys access tokens at a
real RFC 6749 token endpoint (authlib's authorization server, tests/oauth_token_server.py),
and the CalDAV server (a Xandikos process) sits behind a proxy that accepts only bearer
tokens that endpoint issued and that have not expired (tests/calendar_bearer_proxy.py).
VerifyCalendar and WriteCalendarEvent are called over a real gRPC port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from notification.v1 import notification_pb2 as pb

from notification_service.credentials.oauth import OAuthSettings
from notification_service.credentials.sealing import OAuthCredentials
from notification_service.entrypoints.config import Config
from tests.caldav_servers import XANDIKOS_CALENDAR, Xandikos
from tests.calendar_bearer_proxy import BearerProxy
from tests.notification_service.calendar_helpers import (
    calendar_config,
    error_details,
    get_object,
    keyring,
    new_uid,
    retry_near,
    the_event,
    verify_request,
    write_request,
)
from tests.notification_service.conftest import StartServer
from tests.notification_service.notification_helpers import Running
from tests.oauth_token_server import TokenServer

pytestmark = pytest.mark.slow

CLIENT_ID = "rooms.apps.example.com"
CLIENT_SECRET = "client-s3cret"
USER = "user-7"


@pytest.fixture
def tokens(token_server: TokenServer) -> TokenServer:
    token_server.reset()
    token_server.add_client(CLIENT_ID, CLIENT_SECRET, "client_secret_basic")
    return token_server


@pytest.fixture
async def proxy(xandikos: Xandikos, tokens: TokenServer) -> AsyncIterator[BearerProxy]:
    async with BearerProxy(xandikos.url, tokens) as running:
        yield running


def oauth_config(tokens: TokenServer, secret: str = CLIENT_SECRET) -> Config:
    return calendar_config(google_oauth=OAuthSettings(tokens.url, CLIENT_ID, secret, timeout_s=5))


@pytest.fixture
async def running(start_server: StartServer, tokens: TokenServer) -> Running:
    return await start_server(oauth_config(tokens))


def collection(proxy: BearerProxy) -> str:
    return proxy.url.rstrip("/") + XANDIKOS_CALENDAR


async def connect(running: Running, proxy: BearerProxy, refresh: str) -> pb.VerifyCalendarResponse:
    request = verify_request(proxy.url, user_id=USER, refresh_token=refresh)
    verified: pb.VerifyCalendarResponse = await running.verify_calendar(request)
    return verified


async def test_verify_and_write_with_a_refresh_token(
    running: Running,
    proxy: BearerProxy,
    tokens: TokenServer,
    xandikos: Xandikos,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    refresh = tokens.grant(CLIENT_ID, USER)

    verified = await connect(running, proxy, refresh)

    assert verified.calendar_url == collection(proxy)  # discovered from the server's root
    assert verified.provider == "google"
    opened = keyring().open(
        verified.sealed_credentials, user_id=USER, calendar_url=verified.calendar_url
    )
    assert opened == OAuthCredentials("google", refresh)
    assert tokens.token_requests == 1 and proxy.accepted and proxy.refused == 0

    uid = new_uid()
    written = await running.write_calendar(write_request(verified, user_id=USER, uid=uid))

    assert written.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, written.detail
    assert written.href.startswith(collection(proxy))
    assert tokens.token_requests == 1  # the access token was cached
    assert set(proxy.accepted) == {tokens.issued[0]}
    upstream = xandikos.url.rstrip("/") + written.href.removeprefix(proxy.url.rstrip("/"))
    status, body, _ = await get_object(upstream)
    assert status == 200 and str(the_event(body)["UID"]) == uid
    ours = "\n".join(
        f"{record.getMessage()} {record.__dict__}"
        for record in caplog.records
        if record.name.startswith(("notification_service", "servicekit"))
    )
    assert "calendar_write" in ours  # the service's own lines (the token server logs tokens)
    for secret in (refresh, tokens.issued[0], CLIENT_SECRET):
        assert secret not in ours


async def test_an_expired_access_token_is_refreshed_before_the_write(
    running: Running, proxy: BearerProxy, tokens: TokenServer
) -> None:
    """Cached for half of a short life; once the endpoint's own clock says the token has
    expired, the next write asks for a new one instead of being refused."""
    tokens.expires_in = 1
    verified = await connect(running, proxy, tokens.grant(CLIENT_ID, USER))
    first = tokens.issued[-1]
    # What is awaited is the passing of the token's life itself (about a second).
    await asyncio.sleep(proxy.life_left(first))
    assert proxy.expired(first)

    written = await running.write_calendar(write_request(verified, user_id=USER))

    assert written.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, written.detail
    assert tokens.token_requests == 2
    assert proxy.refused == 0
    assert proxy.accepted[-1] == tokens.issued[-1] != first


async def test_a_token_refused_before_its_time_is_replaced_once(
    running: Running, proxy: BearerProxy, tokens: TokenServer
) -> None:
    verified = await connect(running, proxy, tokens.grant(CLIENT_ID, USER))
    proxy.refuse_issued_tokens()

    written = await running.write_calendar(write_request(verified, user_id=USER))

    assert written.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, written.detail
    assert proxy.refused == 1 and tokens.token_requests == 2


async def test_a_revoked_refresh_token_rejects_the_credentials(
    running: Running, proxy: BearerProxy, tokens: TokenServer
) -> None:
    refresh = tokens.grant(CLIENT_ID, USER)
    verified = await connect(running, proxy, refresh)
    tokens.revoke(refresh)
    proxy.refuse_issued_tokens()  # the user removed our access: the tokens go too

    written = await running.write_calendar(write_request(verified, user_id=USER))

    assert written.outcome == pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED
    assert written.detail == "Google revoked the refresh token (invalid_grant)"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await connect(running, proxy, refresh)
    details = error_details(caught.value)
    assert (details.code, details.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CALENDAR_AUTH_REJECTED",
    )
    assert refresh not in details.message


async def test_a_refresh_token_never_issued_is_auth_rejected(
    running: Running, proxy: BearerProxy
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await connect(running, proxy, "1//never-issued")
    assert error_details(caught.value).reason == "CALENDAR_AUTH_REJECTED"
    assert proxy.accepted == [] and proxy.refused == 0


async def test_the_token_endpoint_away_is_temporary(
    running: Running, proxy: BearerProxy, tokens: TokenServer
) -> None:
    verified = await connect(running, proxy, tokens.grant(CLIENT_ID, USER))
    proxy.refuse_issued_tokens()
    tokens.fail_with = 503  # with Retry-After: 7

    written = await running.write_calendar(write_request(verified, user_id=USER))

    assert written.outcome == pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE, written.detail
    assert retry_near(written, 7)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await connect(running, proxy, tokens.grant(CLIENT_ID, USER))
    assert error_details(caught.value).reason == "CALENDAR_UNREACHABLE"


async def test_our_client_refused_is_a_configuration_error_not_the_users(
    start_server: StartServer,
    proxy: BearerProxy,
    tokens: TokenServer,
    log_events: Callable[[str], list[dict[str, Any]]],
) -> None:
    good = await start_server(oauth_config(tokens))
    verified = await connect(good, proxy, tokens.grant(CLIENT_ID, USER))
    wrong = await start_server(oauth_config(tokens, secret="not-the-secret"))

    written = await wrong.write_calendar(write_request(verified, user_id=USER))

    assert written.outcome == pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE, written.detail
    assert "invalid_client" in written.detail
    assert log_events("calendar_configuration_error")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await connect(wrong, proxy, tokens.grant(CLIENT_ID, USER))
    assert error_details(caught.value).reason == "CALENDAR_AUTH_REJECTED"
