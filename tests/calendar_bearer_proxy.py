"""A CalDAV server behind a bearer check, as Google's CalDAV endpoint is: a small HTTP
proxy in the test's event loop in front of a Xandikos process (which has no
authentication of its own), accepting only access tokens the test token endpoint
(tests/oauth_token_server.py) issued and that have not expired.

Expiry is the endpoint's own word: `track(state)` records when each token was issued and
the `expires_in` it was issued with. `refuse_issued_tokens()` makes every token issued
so far unacceptable (an access token revoked before its time). The proxy counts what it
accepted and what it refused; a refusal is 401 with `WWW-Authenticate: Bearer
error="invalid_token"` (RFC 6750 section 3.1).

The Host header is passed on, so the URLs Xandikos writes into its answers (a redirect,
an href) point back at the proxy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import SupportsIndex

import httpx

from tests.oauth_token_server import TokenServer

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
)


class IssuedTokens(list[str]):
    """The token server's `issued` list, also noting when each token was issued and how
    long it was issued for (the server's `expires_in` at the time)."""

    def __init__(self, state: TokenServer, clock: Callable[[], float]) -> None:
        super().__init__(state.issued)
        self._state = state
        self._clock = clock
        self.expires_at: dict[str, float] = {}

    def append(self, token: str) -> None:
        self.expires_at[token] = self._clock() + self._state.expires_in
        super().append(token)

    def clear(self) -> None:
        self.expires_at.clear()
        super().clear()

    def extend(self, tokens: Iterable[str]) -> None:  # not used by the server
        for token in tokens:
            self.append(token)

    def insert(self, index: SupportsIndex, token: str) -> None:  # not used by the server
        raise NotImplementedError


def track(state: TokenServer, clock: Callable[[], float] = time.monotonic) -> IssuedTokens:
    """Make `state` record issue times (idempotent); the recording list."""
    if not isinstance(state.issued, IssuedTokens):
        state.issued = IssuedTokens(state, clock)
    return state.issued


@dataclass
class BearerProxy:
    upstream: str  # e.g. http://127.0.0.1:PORT/ (the Xandikos process)
    tokens: TokenServer
    clock: Callable[[], float] = time.monotonic
    url: str = ""
    accepted: list[str] = field(default_factory=list)
    refused: int = 0
    _refused_tokens: set[str] = field(default_factory=set)
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)
    _client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> BearerProxy:
        self._issued = track(self.tokens, self.clock)
        self._client = httpx.AsyncClient(trust_env=False, timeout=10.0, follow_redirects=False)
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._client is not None
        self._server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await asyncio.wait_for(self._server.wait_closed(), 5)
        await self._client.aclose()

    def reset(self) -> None:
        self.accepted.clear()
        self.refused = 0
        self._refused_tokens.clear()

    def refuse_issued_tokens(self) -> None:
        """Every access token issued so far is refused from now on."""
        self._refused_tokens.update(self._issued)

    def expired(self, token: str) -> bool:
        return self.life_left(token) <= 0

    def life_left(self, token: str) -> float:
        """Seconds until `token` expires (0 when it has, or is unknown)."""
        at = self._issued.expires_at.get(token)
        return 0.0 if at is None else max(0.0, at - self.clock())

    def acceptable(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        return (
            scheme.lower() == "bearer"
            and token in self._issued
            and token not in self._refused_tokens
            and not self.expired(token)
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers: list[tuple[str, str]] = []
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers.append((name.strip(), value.strip()))
            named = {name.lower(): value for name, value in headers}
            body = await reader.readexactly(int(named.get("content-length", "0")))
            authorization = named.get("authorization")
            if not self.acceptable(authorization):
                self.refused += 1
                await self._answer(
                    writer, 401, [("WWW-Authenticate", 'Bearer error="invalid_token"')], b""
                )
                return
            self.accepted.append((authorization or "").partition(" ")[2])
            status, answer_headers, content = await self._forward(method, target, headers, body)
            await self._answer(writer, status, answer_headers, content)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        assert self._client is not None
        sent = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP | {"authorization"}]
        reply = await self._client.request(
            method, self.upstream.rstrip("/") + target, headers=sent, content=body
        )
        kept = [(k, v) for k, v in reply.headers.multi_items() if k.lower() not in _HOP_BY_HOP]
        return reply.status_code, kept, reply.content

    @staticmethod
    async def _answer(
        writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers)]
        lines += [f"Content-Length: {len(body)}", "Connection: close"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
