"""docs/http.md's examples, run as written against the real gateway, outputs checked.

Each ```sh block from "Routes, with curl" on runs in bash, in order, with the shell
variables of the blocks before it; a ```json block right after one is its expected
output, one JSON value a line. A shown object's fields must be in the output with the
values shown (more fields may come: the API grows), `…` in a string stands for any
text, `$NAME` for that variable's value; lists must match item by item, and `{}`
means exactly empty. A block that runs `curl -N` is a stream: the lines shown are read
and the command is stopped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.gateway import doc
from tests.e2e.gateway.stack import Stack, stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = doc.examples()


@pytest.fixture(scope="module")
def fresh(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: the examples start from an empty database."""
    with stack(postgres_server, tmp_path_factory.mktemp("doc")) as running:
        yield running


def test_the_page_has_examples_for_every_route() -> None:
    headings = {example.heading for example in EXAMPLES}
    for route in ("POST /v1/rooms", "GET /v1/rooms/{room_id}", "GET /v1/rooms",
                  "POST /v1/rooms/{room_id}:book", "POST /v1/rooms/{room_id}:leave",
                  "POST /v1/rooms/{room_id}:reschedule", "DELETE /v1/rooms/{room_id}",
                  "GET /v1/rooms:watch"):  # fmt: skip
        assert any(h.startswith(route + " (") for h in headings), route
        assert any(h.startswith(route + " (") and e.output for e in EXAMPLES for h in [e.heading])


def test_every_example_runs_as_written(fresh: Stack, tmp_path: Path) -> None:
    env = {**os.environ, "GW": f"http://127.0.0.1:{fresh.gateway.port}"}
    for number, example in enumerate(EXAMPLES):
        where = f"example {number + 1} ({example.heading})"
        expected = example.output.splitlines() if example.output else []
        if re.search(r"\bcurl -\w*N", example.commands):
            lines = run_stream(example.commands, env, len(expected), where)
        else:
            out, env = run_block(example.commands, env, tmp_path, where)
            lines = out.splitlines()
            if not expected:
                continue
        assert len(lines) == len(expected), (
            f"{where}: {len(lines)} lines, not {len(expected)}:\n{lines}"
        )
        for shown, got in zip(expected, lines, strict=True):
            pattern = json.loads(shown)
            assert matches(pattern, json.loads(got), env), f"{where}:\nshown {shown}\ngot   {got}"


def run_block(
    commands: str, env: dict[str, str], tmp_path: Path, where: str
) -> tuple[str, dict[str, str]]:
    """Runs one block; returns its output and the environment it leaves (set -a)."""
    state = tmp_path / "env"
    script = f"set -eo pipefail -a\n{commands}\nenv -0 > {state}\n"
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60,
        cwd=doc.ROOT,
    )  # fmt: skip
    assert done.returncode == 0, f"{where}: exit {done.returncode}\n{done.stderr}"
    pairs = (item.split("=", 1) for item in state.read_text().split("\0") if "=" in item)
    return done.stdout, dict(pairs)


def run_stream(commands: str, env: dict[str, str], count: int, where: str) -> list[str]:
    process = subprocess.Popen(
        ["bash", "-c", f"set -eo pipefail\n{commands}"], env=env, cwd=doc.ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    deadline = time.monotonic() + 30
    try:
        assert process.stdout is not None
        while len(lines) < count and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    assert len(lines) == count, f"{where}: the stream gave {lines}"
    return lines


def matches(shown: Any, got: Any, env: dict[str, str]) -> bool:
    if isinstance(shown, dict):
        if not shown:
            return got == {}
        return isinstance(got, dict) and all(
            key in got and matches(value, got[key], env) for key, value in shown.items()
        )
    if isinstance(shown, list):
        return (
            isinstance(got, list)
            and len(got) == len(shown)
            and all(matches(s, g, env) for s, g in zip(shown, got, strict=True))
        )
    if isinstance(shown, str):
        text = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), m.group(0)), shown)
        pattern = ".*".join(re.escape(part) for part in text.split("…"))
        return isinstance(got, str) and re.fullmatch(pattern, got, re.DOTALL) is not None
    return bool(shown == got and type(shown) is type(got))


def test_the_matcher_itself() -> None:
    env = {"ROOM": "r-1"}
    assert matches({"a": "$ROOM", "b": "…Z"}, {"a": "r-1", "b": "2030Z", "c": 1}, env)
    assert not matches({"a": "$ROOM"}, {"a": "r-2"}, env)
    assert not matches({"a": "x"}, {}, env)
    assert not matches({}, {"a": 1}, env)
    assert not matches([{"a": 1}], [{"a": 1}, {"a": 2}], env)
    assert not matches("…T17:00:00Z", "2030-01-01T18:00:00Z", env)
    assert not matches(409, "409", env)
