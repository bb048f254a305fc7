"""What an SMTP failure means for the caller: retry later, or give up. Pure.

4xx replies, timeouts, disconnects and refused connections are temporary; 5xx
replies are permanent. Authentication and TLS failures are temporary too, and
flagged as configuration errors: a bad password must not throw away every
invite, it must page someone.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping

import aiosmtplib

from notification_service.domain.model import DeliveryResult, Outcome

# 5xx replies that mean "authenticate first" or "your credentials are wrong"
# (RFC 4954): fixing the settings makes them go away, so they are not permanent.
AUTH_CODES = frozenset({530, 534, 535, 538})


def _by_code(code: int, detail: str) -> DeliveryResult:
    if code in AUTH_CODES:
        return DeliveryResult(Outcome.TEMPORARY_FAILURE, detail, smtp_code=code, config_error=True)
    if 500 <= code < 600:
        return DeliveryResult(Outcome.PERMANENT_FAILURE, detail, smtp_code=code)
    return DeliveryResult(Outcome.TEMPORARY_FAILURE, detail, smtp_code=code)


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_tls_failure(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in _chain(exc))


def refusals(errors: Mapping[str, aiosmtplib.SMTPResponse]) -> DeliveryResult | None:
    """The result for recipients refused in a transaction that otherwise went
    through (aiosmtplib returns those instead of raising), or None if none were."""
    if not errors:
        return None
    codes = [response.code for response in errors.values()]
    detail = "; ".join(f"{rcpt}: {r.code} {r.message}" for rcpt, r in errors.items())
    # Any 4xx among them is worth a retry.
    code = min(codes, key=lambda c: (c >= 500, c))
    return _by_code(code, f"recipient refused: {detail}")


def classify(exc: BaseException, *, connecting: bool = False) -> DeliveryResult:
    """Classify an exception from one SMTP attempt.

    `connecting` says it happened while connecting, upgrading to TLS or logging
    in: anything there that is not a network error is a configuration problem.
    """
    text = f"{type(exc).__name__}: {exc}"
    if _is_tls_failure(exc):
        return DeliveryResult(Outcome.TEMPORARY_FAILURE, f"TLS failure: {text}", config_error=True)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return DeliveryResult(
            Outcome.TEMPORARY_FAILURE,
            f"authentication failed: {exc.code} {exc.message}",
            smtp_code=exc.code,
            config_error=True,
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        # Carries no code of its own; each refusal has one.
        errors = {r.recipient: aiosmtplib.SMTPResponse(r.code, r.message) for r in exc.recipients}
        result = refusals(errors)
        if result is not None:
            return result
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if connecting and exc.code >= 500:
            # Refused at the greeting, EHLO or STARTTLS: the relay refuses us, not this
            # message, so it is a setting to fix; throwing every invite away would be wrong.
            return DeliveryResult(
                Outcome.TEMPORARY_FAILURE,
                f"relay refused the session: {exc.code} {exc.message}",
                smtp_code=exc.code,
                config_error=True,
            )
        return _by_code(exc.code, f"{exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPReadTimeoutError | TimeoutError) and not connecting:
        return DeliveryResult(
            Outcome.TEMPORARY_FAILURE,
            f"timed out (the relay may have accepted the message): {text}",
        )
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        # SMTPServerDisconnected and SMTPConnectError are ConnectionErrors.
        return DeliveryResult(Outcome.TEMPORARY_FAILURE, text)
    if connecting and isinstance(exc, aiosmtplib.SMTPException):
        # e.g. STARTTLS or AUTH required by the settings but not offered.
        return DeliveryResult(Outcome.TEMPORARY_FAILURE, text, config_error=True)
    return DeliveryResult(Outcome.TEMPORARY_FAILURE, text)
