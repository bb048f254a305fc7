"""`roomsctl wait` and `unwait`, and the waitlist in `get`, against a real server: what a
person and a script see, and the exit codes of the waitlist's refusals."""

from __future__ import annotations

import json

import pytest

from tests.processes import SchedulingProcess
from tests.roomsctl.cli import run
from tests.roomsctl.test_roomsctl import create, field, one_error_line
from tests.scheduling_service.client import future, new_user

pytestmark = pytest.mark.slow  # a server process on PostgreSQL


def test_wait_unwait_and_what_get_shows(server: SchedulingProcess) -> None:
    host, guest = new_user("host"), new_user("guest")
    ann, bob = new_user("ann"), new_user("bob")
    room_id = json.loads(create(server.address, host, future(), "--json").out)["roomId"]
    assert run(server.address, "--as", guest, "book", room_id).code == 0

    first = run(server.address, "--as", ann, "wait", room_id)
    assert first.code == 0, first.err
    assert first.lines[0] == f"waiting for room {room_id}: number 1 in line"
    assert field(first, "waitlist") == "1 waiting; you are number 1"
    second = run(server.address, "--as", bob, "wait", room_id, "--json")
    shown = json.loads(second.out)
    assert shown["waitlist"] == {"length": 2, "yourPosition": 2}  # nobody's ids

    assert field(run(server.address, "--as", host, "get", room_id), "waiting") == f"{ann}, {bob}"
    assert "waiting" not in [
        line[2:13].rstrip() for line in run(server.address, "--as", bob, "get", room_id).lines
    ]

    assert run(server.address, "--as", guest, "leave", room_id).code == 0
    held = field(run(server.address, "--as", ann, "get", room_id), "waitlist")
    assert held.startswith("2 waiting; you are number 1; held for you until ")
    others = field(run(server.address, "--as", bob, "get", room_id), "waitlist")
    assert others.startswith("2 waiting; you are number 2; held until ")

    gone = run(server.address, "--as", ann, "unwait", room_id)
    assert gone.code == 0 and gone.lines[0] == f"no longer waiting for room {room_id}"
    # Bob holds the room now: the hold passed on at once.
    assert "held for you until" in field(
        run(server.address, "--as", bob, "get", room_id), "waitlist"
    )


def test_the_waitlists_refusals_have_their_exit_codes(server: SchedulingProcess) -> None:
    host, guest, ann = new_user("host"), new_user("guest"), new_user("ann")
    room_id = json.loads(create(server.address, host, future(), "--json").out)["roomId"]

    open_room = run(server.address, "--as", ann, "wait", room_id)
    assert open_room.code == 6
    assert one_error_line(open_room).startswith("error: FAILED_PRECONDITION ROOM_NOT_BOOKED: ")

    assert run(server.address, "--as", guest, "book", room_id).code == 0
    own = run(server.address, "--as", host, "wait", room_id)
    assert own.code == 6
    assert one_error_line(own).startswith("error: FAILED_PRECONDITION ALREADY_PARTICIPANT: ")

    assert run(server.address, "--as", ann, "wait", room_id).code == 0
    assert run(server.address, "--as", guest, "leave", room_id).code == 0
    held = run(server.address, "--as", new_user("other"), "book", room_id)
    assert held.code == 6
    assert one_error_line(held).startswith("error: FAILED_PRECONDITION ROOM_HELD: ")
