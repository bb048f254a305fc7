"""Input checks and page tokens (pure functions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from scheduling_service.domain import paging, validation


def test_text_rules() -> None:
    v = validation.Violations()
    validation.text(v, "a", "ok", max_len=5, required=True)
    validation.text(v, "b", "", max_len=5, required=True)
    validation.text(v, "c", "toolong", max_len=5)
    validation.text(v, "d", "x\ny", max_len=5)
    validation.text(v, "e", "x\ny\tz", max_len=9, multiline=True)
    validation.text(v, "f", "x\r\ny", max_len=9, multiline=True)
    validation.text(v, "g", "\u0085", max_len=9, multiline=True)
    assert [x.field for x in v] == ["b", "c", "d", "f", "g"]


def test_room_ids_must_be_canonical_uuids() -> None:
    v = validation.Violations()
    good = str(uuid.uuid4())
    assert str(validation.room_id(v, "id", good)) == good
    validation.room_id(v, "id", good.replace("-", ""))
    validation.room_id(v, "id", "{" + good + "}"[:35])
    assert len(v) == 2


def test_page_tokens_round_trip_and_bind_to_filters() -> None:
    at = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    rid = uuid.uuid4()
    token = paging.encode(at, rid, (True, None))
    assert paging.decode(token, (True, None)) == (at, rid)
    with pytest.raises(paging.BadPageToken):
        paging.decode(token, (False, None))
    for garbage in ["", "!!", "e30=", token[:-4]]:
        with pytest.raises(paging.BadPageToken):
            paging.decode(garbage, (True, None))
