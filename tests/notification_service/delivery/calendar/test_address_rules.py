"""The address rules of safe_http, without any network: no socket is opened here (a
resolver that fails the test and an exchange that fails the test stand in)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notification_service.delivery.calendar import safe_http
from notification_service.delivery.calendar.addresses import (
    FORBIDDEN_V4,
    FORBIDDEN_V6,
    IPAddress,
    address_problem,
    check_url,
    shown,
)
from notification_service.delivery.calendar.safe_http import SafeHttpClient
from notification_service.domain.errors import CalendarUrlNotAllowed

LOOPBACK_SPELLINGS = [
    "https://127.0.0.1/",
    "https://127.1/",
    "https://2130706433/",
    "https://0x7f000001/",
    "https://017700000001/",
    "https://0177.0.0.1/",
    "https://127.000.000.001/",
    "https://[::1]/",
    "https://[0:0:0:0:0:0:0:1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::127.0.0.1]/",
    "https://localhost/",
    "https://LOCALHOST./",
    "https://calendar.localhost/",
    "https://localhost:8443/dav/",
]


def _in(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy[IPAddress]:
    first, last = int(network.network_address), int(network.broadcast_address)
    return st.integers(first, last).map(
        lambda n: ipaddress.IPv4Address(n) if network.version == 4 else ipaddress.IPv6Address(n)
    )


forbidden_v4 = st.sampled_from(FORBIDDEN_V4).flatmap(_in)
forbidden_v6 = st.sampled_from(FORBIDDEN_V6).flatmap(_in)
any_v4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)


def _url(address: IPAddress) -> str:
    return f"https://[{address}]/" if address.version == 6 else f"https://{address}/"


class NoNetwork(SafeHttpClient):
    """Fails the test if a refused URL ever reaches DNS or a connection."""

    def __init__(self, **kwargs: object) -> None:
        async def resolver(host: str, port: int) -> list[str]:
            raise AssertionError(f"resolved {host}")

        super().__init__(resolver=resolver, **kwargs)  # type: ignore[arg-type]

    async def _exchange(self, *args: object, **kwargs: object) -> safe_http.HttpResponse:
        raise AssertionError("connected")


@given(forbidden_v4)
def test_every_ipv4_address_in_a_forbidden_network_is_refused(address: IPAddress) -> None:
    assert address_problem(address) is not None
    with pytest.raises(CalendarUrlNotAllowed):
        check_url(_url(address))


@given(forbidden_v6)
def test_every_ipv6_address_in_a_forbidden_network_is_refused(address: IPAddress) -> None:
    assert address_problem(address) is not None
    with pytest.raises(CalendarUrlNotAllowed):
        check_url(_url(address))


@given(any_v4)
def test_every_ipv6_form_of_an_ipv4_address_is_refused(v4: ipaddress.IPv4Address) -> None:
    n = int(v4)
    forms = [
        ipaddress.IPv6Address((0xFFFF << 32) | n),  # ::ffff:a.b.c.d, mapped
        ipaddress.IPv6Address(n),  # ::a.b.c.d, compatible
        ipaddress.IPv6Address((0x64FF9B << 96) | n),  # NAT64
        ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1),  # 6to4
        ipaddress.IPv6Address((0x20010000 << 96) | 1),  # Teredo
    ]
    for form in forms:
        assert address_problem(form) is not None, form


@given(any_v4)
def test_an_ipv4_address_is_allowed_exactly_when_it_is_public(v4: ipaddress.IPv4Address) -> None:
    forbidden = any(v4 in network for network in FORBIDDEN_V4)
    assert (address_problem(v4) is not None) == (forbidden or not v4.is_global)


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001::200e"],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None
    assert check_url(_url(ipaddress.ip_address(address))).literal == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0", "0.1.2.3", "10.1.2.3", "100.64.0.1", "100.127.255.254", "127.0.0.1",
        "169.254.169.254", "172.16.0.1", "192.168.1.1", "192.0.0.8", "198.18.0.1",
        "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
        "2001:db8::1", "64:ff9b::7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    ],
)  # fmt: skip
def test_named_special_addresses_are_refused(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS)
async def test_every_loopback_spelling_is_refused_before_any_connection(url: str) -> None:
    with pytest.raises(CalendarUrlNotAllowed):
        await NoNetwork().request("PROPFIND", url)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@calendar.example.com/",
        "https://user@calendar.example.com/",
        "https://:secret@calendar.example.com/",
        "https://calendar.example.com@127.0.0.1/",
    ],
)
async def test_userinfo_is_refused(url: str) -> None:
    with pytest.raises(CalendarUrlNotAllowed, match="credentials"):
        await NoNetwork(allow_private_networks=True).request("GET", url)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://calendar.example.com/",
        "gopher://calendar.example.com:70/",
        "dict://calendar.example.com/",
        "webcal://calendar.example.com/",
        "javascript:alert(1)",
        "//calendar.example.com/",
        "calendar.example.com/dav",
        "",
    ],
)
@pytest.mark.parametrize("allow_private_networks", [False, True])
async def test_other_schemes_are_refused(url: str, allow_private_networks: bool) -> None:
    client = NoNetwork(allow_private_networks=allow_private_networks)
    with pytest.raises(CalendarUrlNotAllowed):
        await client.request("GET", url)


@pytest.mark.parametrize(
    "url",
    [
        "https://calendar.example.com\\@evil.test/",
        "https://calendar.example.com /",
        "https://calendar.example.com/\r\nX-Injected: 1",
        "https://caléndar.example.com/",
        "https://[fe80::1%25eth0]/",
        "https://[::1/",
        "https://calendar.example.com:0/",
        "https://calendar.example.com:99999/",
        "https://calendar.example.123/",
        "https://-bad.example.com/",
    ],
)
def test_odd_spellings_are_refused(url: str) -> None:
    with pytest.raises(CalendarUrlNotAllowed):
        check_url(url, allow_private_networks=True)


def test_plain_http_only_with_private_networks_allowed() -> None:
    with pytest.raises(CalendarUrlNotAllowed, match="scheme"):
        check_url("http://calendar.example.com/")
    assert check_url("http://calendar.example.com/", allow_private_networks=True).port == 80


def test_private_networks_allowed_lets_loopback_and_localhost_through() -> None:
    assert check_url("http://127.0.0.1:5232/", allow_private_networks=True).host == "127.0.0.1"
    assert check_url("http://[::1]:5232/", allow_private_networks=True).host == "::1"
    assert check_url("http://localhost:5232/", allow_private_networks=True).host == "localhost"
    # a legacy spelling never is: it is refused for being ambiguous, not for being private
    with pytest.raises(CalendarUrlNotAllowed):
        check_url("http://127.1/", allow_private_networks=True)
    # nor multicast
    with pytest.raises(CalendarUrlNotAllowed):
        check_url("http://224.0.0.1/", allow_private_networks=True)


def test_a_url_is_normalised() -> None:
    target = check_url("HTTPS://Calendar.Example.COM.:443/dav/cal/?x=1#frag")
    assert target.url == "https://calendar.example.com/dav/cal/?x=1"
    assert (target.host, target.port, target.target) == (
        "calendar.example.com",
        443,
        "/dav/cal/?x=1",
    )
    assert (
        check_url("https://calendar.example.com:8443/").host_header == "calendar.example.com:8443"
    )


class Recording(SafeHttpClient):
    def __init__(self, answers: list[str], **kwargs: object) -> None:
        self.lookups: list[str] = []

        async def resolver(host: str, port: int) -> list[str]:
            self.lookups.append(host)
            return answers

        super().__init__(resolver=resolver, **kwargs)  # type: ignore[arg-type]
        self.connected: list[IPAddress] = []

    async def _exchange(self, method, target, address, headers, body, authorization):  # type: ignore[no-untyped-def]
        self.connected.append(address)
        return safe_http.HttpResponse(204, safe_http.httpx.Headers(), b"", target.url)


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["93.184.215.14", "127.0.0.1"],  # one good, one bad: a rebinding name
        ["93.184.215.14", "10.0.0.7"],
        ["2606:4700::1", "::ffff:127.0.0.1"],
        ["169.254.169.254"],
        ["100.100.100.200"],
        ["fd00:ec2::254"],
    ],
)
async def test_every_resolved_address_is_checked(answers: list[str]) -> None:
    client = Recording(answers)
    with pytest.raises(CalendarUrlNotAllowed, match="resolves to a non-public address") as bad:
        await client.request("PROPFIND", "https://calendar.example.com/")
    assert client.lookups == ["calendar.example.com"]
    assert client.connected == []
    # The caller learns that it is refused, not what the name resolves to.
    assert not any(answer in str(bad.value) for answer in answers)


async def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    client = Recording(["93.184.215.14", "2606:4700::1"])
    response = await client.request("GET", "https://calendar.example.com/dav/")
    assert response.status == 204
    assert client.lookups == ["calendar.example.com"]  # resolved once
    assert client.connected == [ipaddress.ip_address("93.184.215.14")]


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="@/?#"),
        min_size=6,
        max_size=40,
    )
)
def test_a_refused_url_never_shows_its_password_or_query(secret: str) -> None:
    url = f"https://alice:{secret}@cal.example.com/dav/?token={secret}#{secret}"
    with pytest.raises(CalendarUrlNotAllowed) as raised:
        check_url(url)
    assert secret not in str(raised.value)
    assert shown(url) == "https://<redacted>@cal.example.com/dav/"
