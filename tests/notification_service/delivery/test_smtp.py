"""SMTP delivery against a real aiosmtpd server on a free port."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest
import trustme

from notification_service.delivery.calendar.addresses import shown
from notification_service.delivery.dry_run import DryRunProvider
from notification_service.delivery.smtp import SmtpProvider
from notification_service.domain.model import Mailbox, Outcome, RenderedMessage
from notification_service.service_layer.notifier import Notifier
from tests.notification_service.notification_helpers import (
    Sink,
    domain_message,
    free_port,
    smtp_settings,
    start_sink,
)

SENDER = Mailbox("rooms@example.net", "Practice Rooms")


def rendered(index: int = 0) -> RenderedMessage:
    notifier = Notifier(DryRunProvider(), SENDER, show_url=shown)
    return notifier.render_invite(
        domain_message(uid=f"session-{index}@rooms.localhost", title=f"Session {index}")
    )


@pytest.fixture
async def provider_for() -> AsyncIterator:
    """Makes SmtpProviders and closes each at the end of the test."""
    made: list[SmtpProvider] = []

    def make(sink: Sink | None = None, **overrides: object) -> SmtpProvider:
        provider = SmtpProvider(smtp_settings(sink, **overrides))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


async def test_delivered_message_arrives_once_with_the_envelope(smtp_sink, provider_for):
    provider = provider_for(smtp_sink)
    message = rendered()
    result = await provider.deliver(message)
    assert result.outcome is Outcome.DELIVERED
    [received] = smtp_sink.received
    assert received.mail_from == SENDER.address
    assert received.rcpt_tos == [message.recipient]
    assert str(received.parsed()["Message-ID"]) == f"<{message.message_id}>"


@pytest.mark.parametrize(
    ("mode", "outcome", "code"),
    [
        ("451 4.3.0 Mailbox busy, try later", Outcome.TEMPORARY_FAILURE, 451),
        ("421 4.3.2 Closing, try later", Outcome.TEMPORARY_FAILURE, 421),
        ("550 5.1.1 No such user", Outcome.PERMANENT_FAILURE, 550),
        ("554 5.7.1 Rejected by policy", Outcome.PERMANENT_FAILURE, 554),
        ("disconnect", Outcome.TEMPORARY_FAILURE, None),
    ],
)
async def test_failure_replies_are_classified_and_the_next_send_reconnects(
    smtp_sink, provider_for, mode, outcome, code
):
    provider = provider_for(smtp_sink, pool_size=1)
    smtp_sink.handler.mode = mode
    result = await provider.deliver(rendered(1))
    assert result.outcome is outcome
    assert result.smtp_code == code
    assert result.detail
    assert not result.config_error
    assert smtp_sink.received == []

    smtp_sink.handler.mode = "ok"
    assert (await provider.deliver(rendered(2))).outcome is Outcome.DELIVERED
    assert len(smtp_sink.received) == 1
    # The failed connection was dropped, not reused.
    assert smtp_sink.handler.sessions == 2


async def test_nothing_listening_is_temporary(provider_for):
    provider = provider_for(None, port=free_port())
    result = await provider.deliver(rendered())
    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert not result.config_error


async def test_a_silent_server_times_out_as_temporary(provider_for):
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        provider = provider_for(None, port=port, timeout_s=0.3)
        result = await provider.deliver(rendered())
        assert result.outcome is Outcome.TEMPORARY_FAILURE
        assert "imed out" in result.detail
    finally:
        server.close()
        await server.wait_closed()


async def test_connections_are_reused(smtp_sink, provider_for):
    provider = provider_for(smtp_sink, pool_size=1)
    for index in range(3):
        assert (await provider.deliver(rendered(index))).outcome is Outcome.DELIVERED
    assert len(smtp_sink.received) == 3
    assert smtp_sink.handler.sessions == 1


async def test_twenty_concurrent_sends_all_arrive_once(smtp_sink, provider_for):
    provider = provider_for(smtp_sink, pool_size=3)
    messages = [rendered(index) for index in range(20)]
    results = await asyncio.gather(*(provider.deliver(m) for m in messages))
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    ids = [str(r.parsed()["Message-ID"]) for r in smtp_sink.received]
    assert sorted(ids) == sorted(f"<{m.message_id}>" for m in messages)
    assert smtp_sink.handler.sessions <= 3


AUTH_WITHOUT_TLS = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@AUTH_WITHOUT_TLS
async def test_bad_credentials_are_a_temporary_configuration_error(auth_smtp_sink, provider_for):
    wrong = provider_for(auth_smtp_sink, username="rooms", password="wrong")
    result = await wrong.deliver(rendered())
    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert result.config_error
    assert auth_smtp_sink.received == []

    right = provider_for(auth_smtp_sink, username="rooms", password="right")
    assert (await right.deliver(rendered())).outcome is Outcome.DELIVERED


@AUTH_WITHOUT_TLS
async def test_missing_credentials_where_auth_is_required_is_a_configuration_error(
    auth_smtp_sink, provider_for
):
    provider = provider_for(auth_smtp_sink)
    result = await provider.deliver(rendered())
    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert result.config_error
    assert result.smtp_code == 530


async def test_starttls_required_but_not_offered_is_a_configuration_error(smtp_sink, provider_for):
    result = await provider_for(smtp_sink, starttls=True).deliver(rendered())
    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert result.config_error
    assert smtp_sink.received == []


async def test_implicit_tls_against_a_plain_server_is_a_configuration_error(
    smtp_sink, provider_for
):
    result = await provider_for(smtp_sink, tls=True).deliver(rendered())
    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert result.config_error
    assert "TLS" in result.detail


@pytest.fixture
def tls_sink() -> Iterator[Sink]:
    """A sink offering STARTTLS with a certificate from a CA no client trusts."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    controller, sink = start_sink(tls_context=context, require_starttls=False)
    try:
        yield sink
    finally:
        controller.stop()


async def test_starttls_false_does_not_upgrade_when_the_server_offers_it(tls_sink, provider_for):
    # aiosmtplib's default (start_tls=None) would upgrade here and then fail on
    # the untrusted certificate; SMTP_STARTTLS=false must send in plain text.
    plain = provider_for(tls_sink, starttls=False)
    assert (await plain.deliver(rendered())).outcome is Outcome.DELIVERED
    assert len(tls_sink.received) == 1

    upgrading = provider_for(tls_sink, starttls=True)
    result = await upgrading.deliver(rendered(2))
    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert result.config_error
    assert len(tls_sink.received) == 1


async def test_closed_provider_sends_nothing(smtp_sink, provider_for):
    provider = provider_for(smtp_sink)
    await provider.deliver(rendered())
    await provider.close()
    result = await provider.deliver(rendered(2))
    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert len(smtp_sink.received) == 1
