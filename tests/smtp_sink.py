"""A real SMTP server (aiosmtpd) on a free port that keeps what it receives.

`mode` says how it answers DATA: "ok", a reply line such as "451 4.3.0 try later",
or "disconnect" (drops the connection instead); `delay_s` slows every DATA down;
`hold(matching)` keeps the answer to the messages `matching` picks (by their bytes)
until `release()`, counting them in `held`: the mail is on the server, not yet accepted.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    at: float = field(default_factory=time.time)  # when the sink accepted it (epoch seconds)

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class SinkHandler:
    mode: str = "ok"
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: int = 0
    refused: int = 0
    held: int = 0  # messages whose answer was held (see hold)
    _holding: Callable[[bytes], bool] | None = None
    _released: threading.Event = field(default_factory=threading.Event)

    def hold(self, matching: Callable[[bytes], bool]) -> None:
        """Keep the answer to every DATA whose content `matching` picks until release()."""
        self._released.clear()
        self._holding = matching

    def release(self) -> None:
        self._holding = None
        self._released.set()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        holding = self._holding
        if holding is not None and holding(bytes(envelope.content)):
            with self.lock:
                self.held += 1
            # Set from the test's thread: an asyncio.Event would belong to one loop.
            while not self._released.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.mode == "disconnect":
            server.transport.close()
            return "250 OK"
        if self.mode != "ok":
            with self.lock:
                self.refused += 1
            return self.mode
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 OK"


@dataclass
class Sink:
    host: str
    port: int
    handler: SinkHandler

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)


def start_sink(**smtp_kwargs: Any) -> tuple[Controller, Sink]:
    handler = SinkHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_kwargs)
    controller.start()
    return controller, Sink("127.0.0.1", port, handler)
