"""Token findings of the security reviews, through a real server: a `zoneinfo` claim
naming a directory of the tz database, a token that lives a century, times that are
not JSON numbers, and a `scope` whose words another Unicode space separates."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import jwt
import pytest
from scheduling.v1 import scheduling_pb2 as pb

from tests.processes import JWT_SECRET
from tests.scheduling_service.client import create_request, failure, new_user, trusted

pytestmark = pytest.mark.slow  # starts PostgreSQL and a server process


def _metadata(claims: dict[str, object]) -> tuple[tuple[str, str], ...]:
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    return (("authorization", f"Bearer {token}"),)


@pytest.mark.parametrize("zone", ["Europe", "Etc", "../../../../etc"])
async def test_a_zone_claim_naming_a_directory_is_ignored_not_internal(stub, zone: str) -> None:
    claims = {"sub": new_user(), "exp": int(time.time()) + 600, "zoneinfo": zone}
    room = await stub.CreateRoom(create_request(), metadata=_metadata(claims))
    got = await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=_metadata(claims))
    assert got.room_id == room.room_id


async def test_a_token_living_a_century_is_refused(stub) -> None:
    claims = {"sub": new_user(), "exp": int(time.time()) + 100 * 365 * 86400}
    with pytest.raises(grpc.RpcError) as raised:
        await stub.CreateRoom(create_request(), metadata=_metadata(claims))
    refused = failure(raised.value)
    assert (refused.code, refused.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    assert "JWT_MAX_TTL" in raised.value.details()


# Each value from now, in seconds since the epoch.
NOT_NUMBERS = {
    "exp-401-digits": ("exp", lambda now: 10**400),  # was INTERNAL: float() overflowed
    "iat-401-digits": ("iat", lambda now: 10**400),
    "exp-string": ("exp", lambda now: str(now + 600)),  # PyJWT's int() took it
    "iat-true": ("iat", lambda now: True),
}


@pytest.mark.parametrize(("claim", "value"), NOT_NUMBERS.values(), ids=NOT_NUMBERS.keys())
async def test_a_time_that_is_not_a_json_number_is_unauthenticated(
    stub, claim: str, value: Callable[[int], object]
) -> None:
    now = int(time.time())
    claims = {"sub": new_user(), "exp": now + 600, "iat": now, claim: value(now)}
    with pytest.raises(grpc.RpcError) as raised:
        await stub.CreateRoom(create_request(), metadata=_metadata(claims))
    refused = failure(raised.value)
    assert (refused.code, refused.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    assert f"token's {claim} must be" in raised.value.details()


@pytest.mark.parametrize(
    "space",
    ["\u00a0", "\u3000", "\u2003", "\u001f", "\u0085", "\u2028"],
    ids=lambda s: f"U+{ord(s):04X}",
)
async def test_a_scope_another_space_separates_is_not_the_trusted_scope(stub, space: str) -> None:
    someone = new_user("someone")
    claims = {"sub": new_user(), "exp": int(time.time()) + 600, "scope": f"rooms.admin{space}x"}
    request = pb.ListRoomsRequest(participant_id=someone)
    with pytest.raises(grpc.RpcError) as raised:
        await stub.ListRooms(request, metadata=_metadata(claims))
    refused = failure(raised.value)
    assert (refused.code, refused.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN_SCHEDULE")
    await stub.ListRooms(request, metadata=trusted())  # the real scope still works
