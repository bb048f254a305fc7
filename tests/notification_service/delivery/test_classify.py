"""Outcome classification of SMTP failures (pure: exceptions built by hand)."""

from __future__ import annotations

import ssl

import aiosmtplib
import pytest

from notification_service.delivery.classify import classify, refusals
from notification_service.domain.model import Outcome

TEMPORARY, PERMANENT = Outcome.TEMPORARY_FAILURE, Outcome.PERMANENT_FAILURE


def test_partial_refusal_returned_without_an_exception_is_not_delivered():
    # aiosmtplib returns refused recipients in a dict when at least one was accepted.
    result = refusals({"a@example.com": aiosmtplib.SMTPResponse(550, "no such user")})
    assert result is not None
    assert result.outcome is Outcome.PERMANENT_FAILURE
    assert "a@example.com" in result.detail
    assert refusals({}) is None


def test_a_temporary_refusal_among_permanent_ones_is_worth_a_retry():
    result = refusals(
        {
            "a@example.com": aiosmtplib.SMTPResponse(550, "no such user"),
            "b@example.com": aiosmtplib.SMTPResponse(452, "mailbox full"),
        }
    )
    assert result is not None
    assert result.outcome is Outcome.TEMPORARY_FAILURE


def test_recipients_refused_uses_the_codes_inside():
    # SMTPRecipientsRefused has no .code of its own.
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "unknown", "a@example.com")]
    )
    assert classify(refused).outcome is Outcome.PERMANENT_FAILURE
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(450, "greylisted", "a@example.com")]
    )
    assert classify(refused).outcome is Outcome.TEMPORARY_FAILURE


@pytest.mark.parametrize(
    ("exc", "outcome", "config_error"),
    [
        (aiosmtplib.SMTPDataError(451, "later"), TEMPORARY, False),
        (aiosmtplib.SMTPDataError(552, "too big"), PERMANENT, False),
        (
            aiosmtplib.SMTPSenderRefused(553, "bad sender", "x@y.z"),
            Outcome.PERMANENT_FAILURE,
            False,
        ),
        (aiosmtplib.SMTPSenderRefused(530, "auth first", "x@y.z"), TEMPORARY, True),
        (aiosmtplib.SMTPAuthenticationError(535, "bad"), TEMPORARY, True),
        (aiosmtplib.SMTPServerDisconnected("gone"), TEMPORARY, False),
        (aiosmtplib.SMTPConnectError("refused"), TEMPORARY, False),
        (aiosmtplib.SMTPConnectTimeoutError("slow"), TEMPORARY, False),
        (aiosmtplib.SMTPReadTimeoutError("slow"), TEMPORARY, False),
        (ConnectionRefusedError(111, "refused"), TEMPORARY, False),
        (ssl.SSLError("handshake"), TEMPORARY, True),
        (RuntimeError("surprise"), TEMPORARY, False),
    ],
)
def test_classification(exc, outcome, config_error):
    result = classify(exc)
    assert result.outcome is outcome
    assert result.config_error is config_error
    assert result.detail


def test_tls_failure_wrapped_in_a_connect_error_is_a_configuration_error():
    try:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as inner:
            raise aiosmtplib.SMTPConnectError("Error connecting") from inner
    except aiosmtplib.SMTPConnectError as exc:
        result = classify(exc, connecting=True)
    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert result.config_error


def test_protocol_trouble_while_connecting_is_a_configuration_error():
    exc = aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server.")
    assert classify(exc, connecting=True).config_error
    assert not classify(exc, connecting=False).config_error


def test_read_timeout_after_data_says_it_may_have_been_delivered():
    result = classify(aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"))
    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert "may have" in result.detail


def test_a_relay_refusing_the_session_is_a_configuration_error_not_permanent() -> None:
    refused = aiosmtplib.SMTPConnectResponseError(554, "5.7.1 go away")
    result = classify(refused, connecting=True)
    assert result.outcome is Outcome.TEMPORARY_FAILURE and result.config_error
    assert classify(aiosmtplib.SMTPResponseException(554, "no"), connecting=False).outcome is (
        Outcome.PERMANENT_FAILURE
    )
