"""SMTP delivery through a small pool of aiosmtplib connections.

One aiosmtplib client must not serve concurrent sends, so each send holds a
client of its own for the whole transaction; at most SMTP_POOL_SIZE are open.
A client that saw any error is closed rather than reused (after a 421 or a
disconnect its state is unknown), and a reused one that sat idle for a while is
checked with NOOP first, because relays drop idle connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import aiosmtplib

from notification_service.delivery.classify import classify, refusals
from notification_service.domain.model import DeliveryResult, Outcome, RenderedMessage

QUIT_TIMEOUT_S = 2.0
# Relays drop idle connections; one that sent a moment ago is still there, and a
# NOOP before every message would cost a round trip each.
CHECK_IDLE_AFTER_S = 5.0


@dataclass(frozen=True)
class SmtpSettings:
    """The relay and how to reach it; entrypoints/config.py reads them (SMTP_*)."""

    host: str = "localhost"
    port: int = 25
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    tls: bool = False
    timeout_s: float = 15.0
    pool_size: int = 4


class SmtpProvider:
    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._idle: list[aiosmtplib.SMTP] = []
        self._last_used: dict[int, float] = {}
        self._closed = False

    def _new_client(self) -> aiosmtplib.SMTP:
        s = self._settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username or None,
            password=s.password or None,
            use_tls=s.tls,
            # Never None: aiosmtplib's default upgrades whenever the server
            # offers STARTTLS, which SMTP_STARTTLS=false must not do.
            start_tls=s.starttls,
            timeout=s.timeout_s,
        )

    async def deliver(self, message: RenderedMessage) -> DeliveryResult:
        if self._closed:
            return DeliveryResult(Outcome.TEMPORARY_FAILURE, "shutting down")
        async with self._slots:
            client = self._idle.pop() if self._idle else self._new_client()
            reusable = False
            try:
                result, reusable = await self._attempt(client, message)
            finally:
                if reusable and not self._closed:
                    self._idle.append(client)
                else:
                    self._last_used.pop(id(client), None)
                    client.close()
            return result

    async def _attempt(
        self, client: aiosmtplib.SMTP, message: RenderedMessage
    ) -> tuple[DeliveryResult, bool]:
        connecting = False
        try:
            if client.is_connected and self._idle_for(client) > CHECK_IDLE_AFTER_S:
                try:
                    await client.noop()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
            if not client.is_connected:
                connecting = True
                await client.connect()
                connecting = False
            errors, _reply = await client.sendmail(
                message.sender, [message.recipient], message.mime
            )
        except Exception as exc:  # every failure is an outcome, never an RPC error
            return classify(exc, connecting=connecting), False
        self._last_used[id(client)] = time.monotonic()
        refused = refusals(errors)
        if refused is not None:
            return refused, True
        return DeliveryResult(Outcome.DELIVERED, "", smtp_code=250), True

    def _idle_for(self, client: aiosmtplib.SMTP) -> float:
        return time.monotonic() - self._last_used.get(id(client), 0.0)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.quit(), QUIT_TIMEOUT_S)
            client.close()
