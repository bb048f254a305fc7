"""Which URLs and addresses a request to a user-given URL may go to (SSRF). Pure: no
DNS, no connection; safe_http.py applies these rules to the first URL, every redirect
target and every address a name resolves to.

- https only (plain http only with `allow_private_networks`); no userinfo
  (`https://user:pw@host/`); no other scheme; no control characters, spaces or
  backslashes; no IPv6 zone ids; no IPv4 in a legacy spelling (`127.1`, `2130706433`,
  `0x7f000001`, `017700000001`: resolvers read them as addresses, we do not guess);
  no `localhost` or `*.localhost` name.
- Refused addresses: anything not globally routable (loopback, private, link-local,
  CGNAT 100.64/10, 0.0.0.0/8, multicast, unspecified, reserved, documentation,
  benchmarking), and every IPv6 form that embeds or tunnels an IPv4 address (mapped,
  compatible, 6to4, Teredo, NAT64).

`allow_private_networks` (CALDAV_ALLOW_PRIVATE_NETWORKS, dev and tests) lets plain http,
loopback, private addresses and `localhost` through; multicast and unspecified addresses
stay refused (never a server).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from notification_service.domain.errors import CalendarUrlNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IANA special-purpose registries, beyond what `is_global` already says (it misses
# multicast, and its answers moved between Python versions: the list is the contract).
FORBIDDEN_V4: Final = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
)
FORBIDDEN_V6: Final = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/96",  # unspecified, loopback and the deprecated IPv4-compatible form
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated (RFC 2765)
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local use
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, Teredo 2001::/32 among them
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)

_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_BAD_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


def address_problem(address: IPAddress, *, allow_private_networks: bool = False) -> str | None:
    """Why a connection to `address` is refused, or None if it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return "an IPv6 address with a zone id"
    if address.is_multicast or address.is_unspecified:
        return f"{address} is not a unicast address"
    if allow_private_networks:
        return None
    if isinstance(address, ipaddress.IPv6Address) and (
        address.ipv4_mapped or address.sixtofour or address.teredo
    ):
        return f"{address} embeds an IPv4 address"
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        FORBIDDEN_V4 if address.version == 4 else FORBIDDEN_V6
    )
    for network in networks:
        if address in network:
            return f"{address} is in the non-public network {network}"
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        or not address.is_global
    ):
        return f"{address} is not a public address"
    return None


@dataclass(frozen=True)
class Target:
    """A URL that passed the rules that need no DNS."""

    url: str  # normalised: scheme://host[:port]/path?query, no fragment
    scheme: str
    host: str  # lower-case ASCII name, or an IP address's text (no brackets)
    port: int
    target: str  # the request target: path and query
    literal: IPAddress | None  # the host, when it is an IP literal

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def refuse(url: str, why: str) -> CalendarUrlNotAllowed:
    return CalendarUrlNotAllowed(f"URL not allowed ({why}): {shown(url)!r}")


def shown(url: str) -> str:
    """`url` as an error or a log line may show it: no userinfo (a password may stand
    there), no query or fragment (a token may), at most 200 characters. Plain string
    work: it must not fail on the very URL it describes."""
    scheme, separator, rest = url.partition("//")
    if separator:
        authority_end = len(rest)
        for mark in "/?#":
            found = rest.find(mark)
            if found != -1:
                authority_end = min(authority_end, found)
        authority, path = rest[:authority_end], rest[authority_end:]
        if "@" in authority:
            authority = "<redacted>@" + authority.rsplit("@", 1)[1]
        url = scheme + separator + authority + path
    for mark in "?#":
        url = url.split(mark, 1)[0]
    return url[:200]


def check_url(url: str, *, allow_private_networks: bool = False) -> Target:
    """The rules that need no network: scheme, userinfo, host spelling, IP literals.

    Raises CalendarUrlNotAllowed. A name still has to resolve to allowed addresses."""
    if not isinstance(url, str) or not url:
        raise refuse(str(url), "empty")
    if len(url) > 2048:
        raise refuse(url, "too long")
    if _BAD_CHARACTERS.search(url) or not url.isascii():
        raise refuse(url, "control characters, spaces, backslashes or non-ASCII")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise refuse(url, f"unparseable: {error}") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_private_networks else ("https",)
    if scheme not in allowed:
        raise refuse(url, f"scheme {scheme or 'missing'!r}")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise refuse(url, "credentials in the URL")
    bracketed = parts.netloc.startswith("[")
    host = (parts.hostname or "").lower()
    if not host:
        raise refuse(url, "no host")
    if port == 0:
        raise refuse(url, "port 0")
    port = port or (443 if scheme == "https" else 80)
    literal: IPAddress | None = None
    if bracketed:
        try:
            literal = ipaddress.IPv6Address(host)
        except ValueError:
            raise refuse(url, "not an IPv6 address in brackets") from None
    elif ":" in host or "%" in host:
        raise refuse(url, "malformed host")
    else:
        host = host.removesuffix(".")
        try:
            literal = ipaddress.IPv4Address(host)
        except ValueError:
            literal = None
        if literal is None:
            labels = host.split(".")
            if _LEGACY_IPV4.match(host) or labels[-1].isdigit():
                raise refuse(url, "an IPv4 address in a legacy spelling")
            if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
                raise refuse(url, "not a host name")
            if not allow_private_networks and (host == "localhost" or host.endswith(".localhost")):
                raise refuse(url, "localhost")
    if literal is not None:
        problem = address_problem(literal, allow_private_networks=allow_private_networks)
        if problem:
            raise refuse(url, problem)
        host = str(literal)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if not target.startswith("/"):
        raise refuse(url, "relative path")
    normalised = f"{scheme}://{Target(url, scheme, host, port, target, literal).host_header}"
    return Target(normalised + target, scheme, host, port, target, literal)
