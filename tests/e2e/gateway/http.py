"""A small HTTP/1.1 client for the gateway: one call, or a stream read line by line."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode


@dataclass
class Reply:
    status: int
    body: Any  # the parsed JSON
    headers: dict[str, str] = field(default_factory=dict)

    def details(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.body.get("details", []) if d["@type"].endswith("/" + kind)]

    @property
    def reason(self) -> str:
        (info,) = self.details("google.rpc.ErrorInfo")
        return str(info["reason"])


class Gateway:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(
                method,
                path + (f"?{urlencode(query)}" if query else ""),
                body=None if body is None else json.dumps(body),
                headers=_headers(token, headers),
            )
            reply = conn.getresponse()
            raw = reply.read()
            return Reply(reply.status, json.loads(raw) if raw else None, dict(reply.getheaders()))
        finally:
            conn.close()

    @contextmanager
    def stream(
        self,
        path: str,
        *,
        token: str | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Iterator[Stream]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(
                "GET",
                path + (f"?{urlencode(query)}" if query else ""),
                headers=_headers(token, headers),
            )
            yield Stream(conn.getresponse())
        finally:
            conn.close()


class Stream:
    """A streamed response: its status, then one JSON object a line."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.response = response
        self.status = response.status

    def next(self) -> dict[str, Any]:
        line = self.response.readline()
        if not line:
            raise EOFError("the stream ended")
        return dict(json.loads(line))

    def until(self, wanted: Any, deadline_s: float = 20) -> list[dict[str, Any]]:
        """Lines up to and including the first for which `wanted(line)` holds."""
        deadline = time.monotonic() + deadline_s
        seen: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            seen.append(self.next())
            if wanted(seen[-1]):
                return seen
        raise AssertionError(f"not seen in {deadline_s}s; got {seen}")


def _headers(token: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return {**headers, **(extra or {})}
