"""docs/http.md read as data: its error table, and its examples with their outputs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HTTP_DOC = ROOT / "docs" / "http.md"


@dataclass(frozen=True)
class ErrorRow:
    code: str  # the gRPC code's name
    gateway: int  # HTTP status in grpc-gateway v1
    envoy: int  # HTTP status in Envoy's transcoder
    reason: str  # the ErrorInfo reason ("" where the service sends none)


def error_rows(text: str | None = None) -> list[ErrorRow]:
    """The table whose header begins `| gRPC code | grpc-gateway`."""
    lines = (text or HTTP_DOC.read_text()).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| gRPC code | grpc-gateway"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        code, gateway, envoy, reason, *_ = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append(ErrorRow(code, int(gateway), int(envoy), reason.strip("`")))
    return rows


@dataclass
class Example:
    heading: str
    commands: str  # a ```sh block
    output: str | None  # the ```json block right after it, if any


_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
CHECKED_FROM = "## Routes, with curl"


def examples(text: str | None = None) -> list[Example]:
    """Every ```sh block from CHECKED_FROM on, each with the output block after it."""
    text = text or HTTP_DOC.read_text()
    text = text[text.index(CHECKED_FROM) :]
    found: list[Example] = []
    heading, end = "", 0
    for match in _FENCE.finditer(text):
        between = text[end : match.start()]
        for line in between.splitlines():
            if line.startswith("#"):
                heading = line.lstrip("# ").strip()
        kind, body = match.group(1), match.group(2)
        if kind == "sh":
            found.append(Example(heading, body, None))
        elif kind == "json" and found and found[-1].output is None and not between.strip():
            found[-1].output = body
        end = match.end()
    return found
