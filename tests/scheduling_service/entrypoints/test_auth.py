"""Token verification: whatever a signed token holds, the caller gets on (a claim it
cannot use ignored, one warning per token) or is UNAUTHENTICATED; never anything else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import time
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling_service.domain.errors import Unauthenticated
from scheduling_service.entrypoints.auth import TokenRules, TokenVerifier

SECRET = "test-secret-of-at-least-32-bytes-length"
RULES = TokenRules(secret=SECRET, max_ttl=timedelta(hours=24), leeway=timedelta(seconds=30))


def signed(payload: Any) -> str:
    """A correctly signed HS256 token whose payload is any JSON value (NaN and Infinity
    included, which Python's json writes and PyJWT reads)."""
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64(json.dumps(payload).encode())
    signature = hmac.new(SECRET.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def metadata(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def valid(**claims: Any) -> dict[str, Any]:
    return {"sub": "alice", "exp": int(time.time()) + 600, **claims}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300)
    | st.sampled_from(
        ["Europe", "Etc", "../../etc/passwd", "Europe/Paris", "UTC", "", " ", "=?utf-8?q?a=0D=0A?="]
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
CLAIMS = ["sub", "exp", "nbf", "iat", "iss", "aud", "email", "name", "zoneinfo", "scope"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim=st.sampled_from(CLAIMS), value=json_values)
def test_any_value_of_any_claim_is_a_user_or_unauthenticated(claim: str, value: Any) -> None:
    payload = valid(**{claim: value})
    try:
        user = TokenVerifier(RULES).user(metadata(signed(payload)))
    except Unauthenticated:
        return
    # Accepted: what reaches the directory is clean or absent.
    assert user.user_id == payload["sub"]
    assert user.zoneinfo in (None, "Europe/Paris", "UTC")
    assert user.email is None or "@" in user.email
    assert user.name is None or (0 < len(user.name) <= 200)


@settings(max_examples=100, deadline=None)
@given(payload=json_values)
def test_any_payload_at_all_is_a_user_or_unauthenticated(payload: Any) -> None:
    with pytest.raises(Unauthenticated):
        TokenVerifier(RULES).user(metadata(signed(payload)))  # no exp and sub: refused


@pytest.mark.parametrize("zone", ["Europe", "Etc", "America/", "/etc/passwd", "Nowhere/City"])
def test_a_zone_the_database_does_not_name_is_ignored(zone: str) -> None:
    user = TokenVerifier(RULES).user(metadata(signed(valid(zoneinfo=zone))))
    assert user.user_id == "alice" and user.zoneinfo is None


def test_an_ignored_claim_is_warned_about_once_per_token(caplog: pytest.LogCaptureFixture) -> None:
    verifier = TokenVerifier(RULES)
    token = signed(valid(zoneinfo="Europe", email="not an address"))
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            verifier.user(metadata(token))
    warnings = [r for r in caplog.records if r.getMessage() == "token claims ignored"]
    assert len(warnings) == 1
    assert warnings[0].__dict__["fields"]["claims"] == ["email", "zoneinfo"]


def test_tokens_may_not_live_longer_than_the_maximum() -> None:
    verifier = TokenVerifier(RULES)
    now = int(time.time())
    century = 100 * 365 * 86400
    with pytest.raises(Unauthenticated, match="JWT_MAX_TTL"):
        verifier.user(metadata(signed(valid(exp=now + century))))
    with pytest.raises(Unauthenticated, match="JWT_MAX_TTL"):
        verifier.user(metadata(signed(valid(iat=now - 3600, exp=now + 24 * 3600))))
    assert verifier.user(metadata(signed(valid(iat=now, exp=now + 24 * 3600)))).user_id


def test_not_before_is_honoured_with_the_leeway() -> None:
    verifier = TokenVerifier(RULES)
    now = int(time.time())
    with pytest.raises(Unauthenticated, match="not valid yet"):
        verifier.user(metadata(signed(valid(nbf=now + 300))))
    assert verifier.user(metadata(signed(valid(nbf=now + 10)))).user_id == "alice"


@pytest.mark.parametrize(
    ("scope", "trusted"),
    [
        ("rooms.admin", True),
        ("read rooms.admin write", True),
        (["rooms.admin"], True),
        ("rooms.administrator", False),
        (["rooms", "admin"], False),
        ({"rooms.admin": True}, False),
        (None, False),
    ],
)
def test_the_trusted_scope(scope: Any, trusted: bool) -> None:
    claims = valid() if scope is None else valid(scope=scope)
    assert TokenVerifier(RULES).user(metadata(signed(claims))).trusted is trusted


def test_nan_and_infinite_times_are_refused() -> None:
    for claim in ("exp", "nbf", "iat"):
        for value in (math.nan, math.inf, -math.inf):
            with pytest.raises(Unauthenticated):
                TokenVerifier(RULES).user(metadata(signed(valid(**{claim: value}))))


# Issue 18, finding 4: str.split() splits at every Unicode space, so `rooms.admin`
# followed by one of these and another word read as holding the admin scope.
NOT_A_SPACE = ["\u00a0", "\u3000", "\u2003", "\u001f", "\u0085", "\u2028", "\t", "\n"]


@pytest.mark.parametrize("separator", NOT_A_SPACE, ids=lambda s: f"U+{ord(s):04X}")
def test_only_a_space_separates_scopes(separator: str) -> None:
    for scope in (
        f"rooms.admin{separator}read",
        f"read{separator}rooms.admin",
        [f"rooms.admin{separator}read"],
    ):
        assert not TokenVerifier(RULES).user(metadata(signed(valid(scope=scope)))).trusted


def test_a_scope_that_is_not_rfc_6749_scope_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        user = TokenVerifier(RULES).user(metadata(signed(valid(scope="rooms.admin\u00a0read"))))
    assert not user.trusted
    [warning] = [r for r in caplog.records if r.getMessage() == "token claims ignored"]
    assert warning.__dict__["fields"]["claims"] == ["scope"]


def _is_admin_scope_list(tokens: list[str]) -> bool:
    """RFC 6749 §3.3 written out: every token is 1*( %x21 / %x23-5B / %x5D-7E ), and one
    of them is the admin scope."""

    def scope_token(token: str) -> bool:
        return bool(token) and all(c == "!" or "#" <= c <= "[" or "]" <= c <= "~" for c in token)

    return all(scope_token(t) for t in tokens) and "rooms.admin" in tokens


_scope_words = st.sampled_from(
    ["rooms.admin", "read", "rooms", "admin", "", "ROOMS.ADMIN", 'rooms.admin"', "rooms.admin\\"]
) | st.text(max_size=12)
_separators = st.sampled_from([" ", " ", " ", "  ", "", *NOT_A_SPACE]) | st.text(max_size=2)


@st.composite
def _scope_texts(draw: st.DrawFn) -> str:
    """Words, mostly scope words, joined by mostly spaces, sometimes padded."""
    words = draw(st.lists(_scope_words, min_size=1, max_size=5))
    text = words[0]
    for word in words[1:]:
        text += draw(_separators) + word
    pad = st.sampled_from(["", "", "", " ", *NOT_A_SPACE])
    return draw(pad) + text + draw(pad)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scope=_scope_texts() | st.text(max_size=40))
def test_only_a_space_separated_list_holding_the_admin_scope_is_trusted(scope: str) -> None:
    user = TokenVerifier(RULES).user(metadata(signed(valid(scope=scope))))
    assert user.trusted is _is_admin_scope_list(scope.split(" "))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scope=st.lists(_scope_words | _scope_texts(), max_size=4))
def test_only_a_list_of_scope_tokens_holding_the_admin_scope_is_trusted(scope: list[str]) -> None:
    user = TokenVerifier(RULES).user(metadata(signed(valid(scope=scope))))
    assert user.trusted is _is_admin_scope_list(scope)


# Issue 18, finding 7: a NumericDate (RFC 7519 §2) is a JSON number. A 401-digit one
# overflowed float() (INTERNAL), and PyJWT's int() took strings, Unicode digits included.
_YEAR_10000 = 253_402_300_800


def _digits(number: int, zero: str) -> str:
    return "".join(chr(ord(zero) + int(d)) for d in str(number))


def _not_numbers(when: int) -> list[Any]:
    return [
        str(when),
        _digits(when, "\uff10"),  # fullwidth
        _digits(when, "\u0660"),  # Arabic-Indic
        f" {when} ",
        True,
        False,
        None,
        [when],
        {"t": when},
        10**400,
        -(10**400),
        -1,
        -0.5,
        _YEAR_10000,
        1e300,
    ]


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_a_time_that_is_not_a_json_number_in_range_is_unauthenticated(claim: str) -> None:
    now = int(time.time())
    # Times that would pass if read as numbers: exp ahead, iat and nbf now.
    for value in _not_numbers(now + 600 if claim == "exp" else now):
        with pytest.raises(Unauthenticated) as raised:
            TokenVerifier(RULES).user(metadata(signed(valid(**{claim: value}))))
        assert _names_the_time(raised.value, claim), (value, raised.value.message)


def test_times_that_are_json_numbers_are_read() -> None:
    now = time.time()
    for claims in (
        valid(exp=now + 600.5),
        valid(iat=now - 1.5, nbf=0),
        valid(iat=int(now), nbf=int(now), exp=int(now) + 60),
    ):
        assert TokenVerifier(RULES).user(metadata(signed(claims))).user_id == "alice"


def _is_numeric_date(value: Any) -> bool:
    # NaN fails both comparisons; an int of any size compares exactly.
    return type(value) in (int, float) and 0 <= value < _YEAR_10000


def _names_the_time(refused: Unauthenticated, claim: str) -> bool:
    """The refusal says what is wrong with the claim (a null `exp` is PyJWT's missing)."""
    return f"token's {claim} must be" in refused.message or (
        f'missing the "{claim}" claim' in refused.message
    )


_times = (
    json_values
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**500)
    | st.integers(min_value=0, max_value=2**40).map(str)
    | st.integers(min_value=0, max_value=2**40).map(lambda n: _digits(n, "\u0660"))
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim=st.sampled_from(["exp", "iat", "nbf"]), value=_times)
def test_a_time_is_a_json_number_or_unauthenticated(claim: str, value: Any) -> None:
    try:
        TokenVerifier(RULES).user(metadata(signed(valid(**{claim: value}))))
    except Unauthenticated as refused:
        assert _is_numeric_date(value) or _names_the_time(refused, claim)
        return
    assert _is_numeric_date(value)
