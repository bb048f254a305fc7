"""HTTP to a URL a user gave us, which is hostile input (SSRF): the address rules of
addresses.py, checked for the first URL and again for every redirect target, and:

- An IP literal is checked before anything else happens; a name is resolved ONCE and
  EVERY address it resolves to is checked (one bad address refuses the whole name: a
  rebinding name often answers one good and one bad).
- Pinning: the request goes to the checked address itself. The URL handed to httpx
  carries the IP; the `Host` header carries the name, and TLS gets the name through
  httpcore's `sni_hostname` request extension, which is both the SNI and the name the
  certificate is verified against (`ssl_context.wrap_socket(server_hostname=...)`). No
  second DNS lookup happens anywhere, so a name cannot rebind between check and
  connect. Connections are never reused (`max_keepalive_connections=0`): a pooled
  connection is keyed by IP and would otherwise carry one name's TLS session to
  another name. `trust_env=False`: no proxy from the environment.
- Redirects are followed here, by hand, at most `max_redirects`; each target is checked
  as above. The `Authorization` header goes only to the origin of the first URL.
- The body is streamed and the read stops at `max_body_bytes` (we ask for
  `Accept-Encoding: identity` and refuse any other content-encoding: no decompression);
  connect and read timeouts per operation, and one deadline over the whole exchange
  (resolution, redirects and body) against slow drips.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import urljoin

import certifi
import httpx

from notification_service.delivery.calendar.addresses import (
    IPAddress,
    Target,
    address_problem,
    check_url,
    refuse,
    shown,
)
from notification_service.domain.errors import (
    CalendarProtocolError,
    CalendarTemporaryFailure,
    CalendarTimeout,
    CalendarUrlNotAllowed,
)

Resolver = Callable[[str, int], Awaitable[list[str]]]

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, once (getaddrinfo in the loop's executor)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


# Methods whose body is the person's data, never sent on to another origin.
_WRITES = frozenset({"PUT", "POST", "PATCH", "DELETE", "MKCALENDAR", "PROPPATCH"})


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str  # the URL that answered, after redirects (with the name, not the IP)


@dataclass(frozen=True)
class Limits:
    max_redirects: int = 3
    max_body_bytes: int = 2 * 1024 * 1024
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0
    total_timeout_s: float = 60.0


class SafeHttpClient:
    """Requests to user-given URLs under the rules in the module docstring.

    `ssl_context` is for tests (a private CA); `resolver` too (a name for a test server).
    `extra_allowed_addresses` exempts exact addresses from the network rules, for tests
    that run a hostile server on loopback with private networks NOT allowed; never fill
    it from configuration or user input."""

    def __init__(
        self,
        *,
        allow_private_networks: bool = False,
        limits: Limits | None = None,
        ssl_context: ssl.SSLContext | None = None,
        resolver: Resolver = system_resolver,
        extra_allowed_addresses: Collection[IPAddress] = (),
        user_agent: str = "practice-rooms-calendar/1",
    ) -> None:
        self.allow_private_networks = allow_private_networks
        self.limits = limits or Limits()
        self._ssl_context = ssl_context
        self._resolver = resolver
        self._extra_allowed = frozenset(extra_allowed_addresses)
        self._user_agent = user_agent

    def with_body_cap(self, max_body_bytes: int) -> SafeHttpClient:
        """The same client (rules, resolver, TLS, timeouts) reading answers up to
        `max_body_bytes`: for an answer known to be larger than most, such as a
        calendar-query over months."""
        other = copy.copy(self)
        other.limits = replace(self.limits, max_body_bytes=max_body_bytes)
        return other

    def check_url(self, url: str) -> Target:
        return check_url(url, allow_private_networks=self.allow_private_networks)

    def _problem(self, address: IPAddress) -> str | None:
        if address in self._extra_allowed:
            return None
        return address_problem(address, allow_private_networks=self.allow_private_networks)

    def _check(self, url: str) -> Target:
        """check_url, with the exact test exemptions applied to IP literals."""
        try:
            return self.check_url(url)
        except CalendarUrlNotAllowed:
            target = check_url(url, allow_private_networks=True)
            if target.literal is None or target.literal not in self._extra_allowed:
                raise
            if target.scheme != "https" and not self.allow_private_networks:
                raise
            return target

    async def resolve(self, target: Target) -> IPAddress:
        """The one address to connect to: every address of the name checked first."""
        if target.literal is not None:
            problem = self._problem(target.literal)
            if problem:
                raise refuse(target.url, problem)
            return target.literal
        try:
            answers = await self._resolver(target.host, target.port)
        except OSError as error:
            raise CalendarTemporaryFailure(f"cannot resolve {target.host}: {error}") from None
        if not answers:
            raise CalendarTemporaryFailure(f"{target.host} resolves to no address")
        addresses: list[IPAddress] = []
        for answer in answers:
            try:
                address = ipaddress.ip_address(answer)
            except ValueError:
                raise refuse(target.url, f"resolved to {answer!r}") from None
            if self._problem(address):
                # Not which address: the answer would map a private DNS for the caller.
                raise refuse(target.url, f"{target.host} resolves to a non-public address")
            addresses.append(address)
        return addresses[0]

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        authorization: str | None = None,
    ) -> HttpResponse:
        """One exchange, redirects included. Raises a CalendarError subclass for a refused
        URL, a timeout, a network failure, too many redirects or a body over the cap; any
        HTTP status is returned (the caller classifies it)."""
        try:
            async with asyncio.timeout(self.limits.total_timeout_s):
                return await self._request(method, url, headers or {}, body, authorization)
        except TimeoutError:
            raise CalendarTimeout(
                f"{method} {shown(url)}: no complete answer in {self.limits.total_timeout_s}s"
            ) from None

    async def _request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        authorization: str | None,
    ) -> HttpResponse:
        target = self._check(url)
        first_origin = target.origin
        for hop in range(self.limits.max_redirects + 1):
            address = await self.resolve(target)
            auth = authorization if target.origin == first_origin else None
            response = await self._exchange(method, target, address, headers, body, auth)
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            if hop == self.limits.max_redirects:
                break
            if response.status == 303:
                method, body = "GET", None
            target = self._check(urljoin(target.url, location.strip()))
            if method in _WRITES and target.origin != first_origin:
                # The body is a person's event: it goes to the origin they gave or nowhere.
                raise CalendarProtocolError(
                    f"{method} {shown(url)}: redirected to another origin, not followed"
                )
        raise CalendarProtocolError(
            f"more than {self.limits.max_redirects} redirects from {shown(url)}"
        )

    async def _exchange(
        self,
        method: str,
        target: Target,
        address: IPAddress,
        headers: Mapping[str, str],
        body: bytes | None,
        authorization: str | None,
    ) -> HttpResponse:
        pinned_host = f"[{address}]" if address.version == 6 else str(address)
        pinned_url = f"{target.scheme}://{pinned_host}:{target.port}{target.target}"
        request_headers = {
            "User-Agent": self._user_agent,
            "Accept-Encoding": "identity",
            **headers,
            "Host": target.host_header,
        }
        if authorization is not None:
            request_headers["Authorization"] = authorization
        extensions: dict[str, object] = {}
        if target.scheme == "https" and target.literal is None:
            extensions["sni_hostname"] = target.host
        timeout = httpx.Timeout(
            connect=self.limits.connect_timeout_s,
            read=self.limits.read_timeout_s,
            write=self.limits.read_timeout_s,
            pool=self.limits.connect_timeout_s,
        )
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=certifi.where())
        try:
            async with httpx.AsyncClient(
                verify=self._ssl_context,
                trust_env=False,
                follow_redirects=False,
                timeout=timeout,
                limits=httpx.Limits(max_keepalive_connections=0, max_connections=1),
            ) as client:
                try:
                    request = client.build_request(
                        method, pinned_url, headers=request_headers, content=body
                    )
                except (UnicodeEncodeError, ValueError, httpx.InvalidURL) as error:
                    # A header value the server handed us that HTTP cannot carry.
                    raise CalendarProtocolError(
                        f"{method} {shown(target.url)}: cannot send: {type(error).__name__}"
                    ) from None
                request.extensions.update(extensions)
                response = await client.send(request, stream=True)
                try:
                    data = await self._read_capped(response, target)
                finally:
                    await response.aclose()
        except httpx.TimeoutException as error:
            raise CalendarTimeout(f"{method} {shown(target.url)}: {error!r}") from None
        except httpx.TransportError as error:
            raise CalendarTemporaryFailure(f"{method} {shown(target.url)}: {error!r}") from None
        return HttpResponse(response.status_code, response.headers, data, target.url)

    async def _read_capped(self, response: httpx.Response, target: Target) -> bytes:
        cap = self.limits.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise CalendarProtocolError(
                f"{shown(target.url)} announces {declared} bytes, over the cap of {cap}"
            )
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            # We asked for identity; decoding would let a small body expand unchecked.
            raise CalendarProtocolError(f"{shown(target.url)}: content-encoding {encoding!r}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > cap:
                raise CalendarProtocolError(f"{shown(target.url)}: body over the cap of {cap}")
            chunks.append(chunk)
        return b"".join(chunks)
