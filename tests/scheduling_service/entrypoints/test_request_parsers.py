"""Caller text as it enters: the shared hygiene rules applied to each field."""

from __future__ import annotations

from scheduling_service.domain import validation
from scheduling_service.entrypoints import request_parsers


def test_text_rules() -> None:
    v = validation.Violations()
    request_parsers.text(v, "a", "ok", max_len=5, required=True)
    request_parsers.text(v, "b", "", max_len=5, required=True)
    request_parsers.text(v, "c", "toolong", max_len=5)
    request_parsers.text(v, "d", "x\ny", max_len=5)
    request_parsers.text(v, "e", "x\ny\tz", max_len=9, multiline=True)
    request_parsers.text(v, "f", "x\r\ny", max_len=9, multiline=True)
    request_parsers.text(v, "g", "\u0085", max_len=9, multiline=True)
    assert [x.field for x in v] == ["b", "c", "d", "f", "g"]
