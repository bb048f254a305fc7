"""roomsctl in a shell: an id to capture, a token to hand to other clients, examples
that still work when copied."""

from __future__ import annotations

import re
import shlex
import subprocess

import jwt
import pytest

from tests.processes import JWT_SECRET, SchedulingProcess
from tests.roomsctl.cli import UUID, cli_env, command, run
from tests.scheduling_service.client import future, new_user

pytestmark = pytest.mark.slow  # starts PostgreSQL or service processes


def _create(*extra: str) -> list[str]:
    starts = future().strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        "create", *extra, "--title", "Mock interview", "--topic", "Arrays", "--start", starts,
    ]  # fmt: skip


def test_create_quiet_prints_only_the_id(server: SchedulingProcess) -> None:
    host = new_user("host")
    for flag in ("-q", "--quiet"):
        created = run(server.address, "--as", host, *_create(flag))
        assert created.code == 0 and created.err == "", created
        assert UUID.fullmatch(created.out.removesuffix("\n")), created.out
        room_id = created.out.strip()
        shown = run(server.address, "--as", host, "get", room_id)
        assert shown.code == 0 and f"room {room_id}" in shown.out


def test_create_quiet_captured_by_a_shell(server: SchedulingProcess) -> None:
    host, guest = new_user("host"), new_user("guest")
    create = shlex.join(command(server.address, "--as", host, *_create("-q")))
    book = shlex.join(command(server.address, "--as", guest, "book"))
    script = f'ROOM=$({create}) && {book} "$ROOM"'
    done = subprocess.run(
        ["bash", "-c", script], env=cli_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert re.search(rf"^  guest       {guest}$", done.stdout, re.MULTILINE), done.stdout


def test_create_quiet_failure_leaves_stdout_empty(server: SchedulingProcess) -> None:
    failed = run(server.address, "--as", new_user(), "create", "-q", "--title", "", "--topic",
                 "x", "--start", future().isoformat())  # fmt: skip
    assert failed.code == 2
    assert failed.out == ""
    assert failed.err.startswith("error: INVALID_ARGUMENT")


def test_token_prints_what_as_would_send(server: SchedulingProcess) -> None:
    minted = run(server.address, "--as", "alice", "token")
    assert minted.code == 0 and minted.err == "", minted
    token = minted.out.strip()
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["email"]) == ("alice", "alice@example.com")

    env = cli_env()
    del env["JWT_SECRET"]
    created = run(server.address, "--token", token, "--json", *_create(), env=env)
    assert created.code == 0, created
    assert '"hostId":"alice"' in created.out.replace(" ", "")

    unsigned = run(server.address, "token", env=env)
    assert unsigned.code == 2 and unsigned.out == ""
    assert unsigned.err.startswith("error: token needs --as USER")


def test_the_time_examples_shown_are_accepted(server: SchedulingProcess) -> None:
    """The help and the error message give example times; copied, they must work."""
    wrong = run(server.address, "--as", new_user(), "create", "--title", "t", "--topic", "x",
                "--start", "soon")  # fmt: skip
    examples = re.findall(r"like (\S+) or (\S+)$", wrong.err.strip())
    assert examples, wrong.err
    helped = subprocess.run(
        command(server.address, "--help"), capture_output=True, text=True, timeout=30
    ).stdout
    in_help = re.findall(r"\d{4}-\d\d-\d\dT[\d:]+(?:Z|[+-]\d\d:\d\d)?", helped)
    assert len(in_help) == 3, helped
    for example in {*examples[0], *in_help}:
        created = run(server.address, "--as", new_user(), "create", "--title", "t",
                      "--topic", "x", "--start", example)  # fmt: skip
        assert created.code == 0, (example, created)
