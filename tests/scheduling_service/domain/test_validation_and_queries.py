"""Id checks and page tokens (pure functions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from scheduling_service.domain import queries, validation


def test_room_ids_must_be_canonical_uuids() -> None:
    v = validation.Violations()
    good = str(uuid.uuid4())
    assert str(validation.room_id(v, "id", good)) == good
    for malformed in [good.replace("-", ""), "{" + good + "}", good[:35], good + "0", ""]:
        before = len(v)
        validation.room_id(v, "id", malformed)
        assert len(v) == before + 1, malformed
    assert [x.field for x in v] == ["id"] * 5


def test_page_tokens_round_trip_and_bind_to_filters() -> None:
    at = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    rid = uuid.uuid4()
    token = queries.encode(at, rid, (True, None))
    assert queries.decode(token, (True, None)) == (at, rid)
    with pytest.raises(queries.BadPageToken):
        queries.decode(token, (False, None))
    for garbage in ["", "!!", "e30=", token[:-4]]:
        with pytest.raises(queries.BadPageToken):
            queries.decode(garbage, (True, None))
