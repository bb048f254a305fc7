"""A real RFC 6749 token endpoint for the tests: authlib's authorization server on Flask,
served by werkzeug on a free loopback port in a thread, issuing refresh-token grants.

The test decides the lifetime of the access tokens it issues (`expires_in`), revokes
refresh tokens (`revoke`), can make the endpoint fail (`fail_with`), and counts the
requests that reached the token endpoint (`token_requests`).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from flask import Flask, Response
from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    auth_method: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return "https://app.example.com/callback"

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "refresh_token"


@dataclass
class Grant(TokenMixin):
    """What the user consented to once: a refresh token for one client and user."""

    refresh_token: str
    client_id: str
    user: str
    scope: str = "https://www.googleapis.com/auth/calendar"
    revoked: bool = False

    def check_client(self, client: Any) -> bool:
        return bool(client.client_id == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return 0

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user


@dataclass
class TokenServer:
    url: str = ""
    expires_in: int = 3600
    token_requests: int = 0
    issued: list[str] = field(default_factory=list)
    fail_with: int | None = None
    clients: dict[str, Client] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Back to a fresh server (one server serves a whole test module)."""
        self.expires_in, self.token_requests, self.fail_with = 3600, 0, None
        self.issued.clear()
        self.clients.clear()
        self.grants.clear()

    def add_client(self, client_id: str, secret: str, auth_method: str) -> None:
        self.clients[client_id] = Client(client_id, secret, auth_method)

    def grant(self, client_id: str, user: str) -> str:
        """A new refresh token, as the consent screen would have issued."""
        token = secrets.token_urlsafe(32)
        self.grants[token] = Grant(token, client_id, user)
        return token

    def revoke(self, refresh_token: str) -> None:
        self.grants[refresh_token].revoked = True


def _app(state: TokenServer) -> Flask:
    app = Flask(__name__)

    class RefreshTokenGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def authenticate_refresh_token(self, refresh_token: str) -> Grant | None:
            grant = state.grants.get(refresh_token)
            return grant if grant is not None and not grant.revoked else None

        def authenticate_user(self, refresh_token: Grant) -> str:
            return refresh_token.user

        def revoke_old_credential(self, refresh_token: Grant) -> None:
            pass  # Google keeps the refresh token; so does this server.

    def access_token(client: Any, grant_type: str, user: Any, scope: Any) -> str:
        return secrets.token_urlsafe(32)

    def expires_in(client: Any, grant_type: str) -> int:
        return state.expires_in

    def save_token(token: dict[str, Any], request: Any) -> None:
        state.issued.append(token["access_token"])

    server = AuthorizationServer(app, query_client=state.clients.get, save_token=save_token)
    server.register_token_generator("default", BearerTokenGenerator(access_token, None, expires_in))
    server.register_grant(RefreshTokenGrant)

    @app.post("/token")
    def token() -> Any:
        with state.lock:
            state.token_requests += 1
        if state.fail_with is not None:
            return Response("unavailable", status=state.fail_with, headers={"Retry-After": "7"})
        return server.create_token_response()

    @app.get("/ready")
    def ready() -> str:
        return "ok"

    return app


def start() -> tuple[TokenServer, BaseWSGIServer, threading.Thread]:
    state = TokenServer()
    httpd = make_server("127.0.0.1", 0, _app(state), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="token-server", daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_port}/token"
    _wait_ready(f"http://127.0.0.1:{httpd.server_port}/ready")
    return state, httpd, thread


def _wait_ready(url: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(trust_env=False, timeout=1.0) as client:
        while True:
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"the token server did not answer at {url}")
            time.sleep(0.02)  # a poll interval, not a wait for readiness


def stop(httpd: BaseWSGIServer, thread: threading.Thread) -> None:
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)
