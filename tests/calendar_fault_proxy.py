"""An HTTP proxy in front of a real CalDAV server that misbehaves on demand: answers
503 with Retry-After to a share of the requests, or drops every connection (the server
"down"). Started and stopped by the test that uses it."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.smtp_sink import free_port

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class FaultProxy:
    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.down = False
        self.unavailable_share = 0.0  # 503 with Retry-After for this share of requests
        self.retry_after_s = 1
        self.answered_503 = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _fault(self) -> str | None:
        with self._lock:
            if self.down:
                return "down"
            if self._random.random() < self.unavailable_share:
                self.answered_503 += 1
                return "503"
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def __getattr__(self, name: str) -> Callable[[], None]:
                if name.startswith("do_"):
                    return self._forward
                raise AttributeError(name)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._fault()
                if fault == "down":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault == "503":
                    self.send_response(503)
                    self.send_header("Retry-After", str(proxy.retry_after_s))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                with httpx.Client(timeout=30.0) as http:
                    reply = http.request(
                        self.command, proxy.upstream + self.path, content=body, headers=headers
                    )
                self.send_response(reply.status_code)
                for key, value in reply.headers.items():
                    if key.lower() not in _HOP_BY_HOP | {"content-encoding"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                # The client may have given up (its deadline): nothing to answer then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply.content)

        return Handler
