"""Token findings of the security review, through a real server: a `zoneinfo` claim
naming a directory of the tz database, and a token that lives a century."""

from __future__ import annotations

import time

import grpc
import jwt
import pytest
from scheduling.v1 import scheduling_pb2 as pb

from tests.processes import JWT_SECRET
from tests.scheduling_service.client import create_request, failure, new_user


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
