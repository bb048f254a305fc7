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
