"""roomsctl against a real server: what a person and a script see, and the exit codes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest

from roomsctl import errors
from tests.processes import JWT_SECRET, SchedulingProcess
from tests.roomsctl.cli import UUID, ZONE, Result, cli_env, closed_port, run
from tests.scheduling_service.client import future, new_user

BERLIN = ZoneInfo(ZONE)


def shown(start: datetime, minutes: int) -> str:
    """How the CLI shows a span in Berlin time, computed independently."""
    first = start.astimezone(BERLIN)
    last = (start + timedelta(minutes=minutes)).astimezone(BERLIN)
    assert first.date() == last.date()
    return f"{first:%Y-%m-%d %H:%M}-{last:%H:%M} {first.tzname()} ({minutes} min)"


def daytime(start: datetime) -> datetime:
    """`start` moved to 10:00 Berlin time that day, so a session shown as one span never
    crosses midnight there, whatever time the test runs."""
    local = start.astimezone(BERLIN).replace(hour=10, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)


def field(result: Result, label: str) -> str:
    """The value on the `  label       value` line of a room as shown."""
    for line in result.lines:
        if line.startswith("  ") and line[2:13].rstrip() == label:
            return line[14:]
    raise AssertionError(f"no {label!r} in:\n{result.out}")


def create(target: str, host: str, starts: datetime, *extra: str) -> Result:
    naive_local = starts.astimezone(BERLIN).replace(tzinfo=None).isoformat(timespec="minutes")
    return run(
        target,
        "--as",
        host,
        *extra,
        "create",
        "--title",
        "Mock interview",
        "--start",
        naive_local,
        "--duration",
        "1h30m",
        "--topic",
        "Arrays",
        "--description",
        "Two pointers.",
    )


def one_error_line(result: Result) -> str:
    assert result.out == "", result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


@pytest.mark.slow  # a server process on PostgreSQL
def test_create_book_reschedule_cancel_as_people_read_it(server: SchedulingProcess) -> None:
    host, guest = new_user("host"), new_user("guest")
    starts = daytime(future())

    created = create(server.address, host, starts)
    assert created.code == 0 and created.err == "", created
    head = created.lines[0]
    assert head.startswith("created room ")
    room_id = head.removeprefix("created room ")
    assert UUID.fullmatch(room_id)
    assert field(created, "title") == "Mock interview"
    assert field(created, "when") == shown(starts, 90)  # naive input read in --tz
    assert field(created, "host") == host
    assert field(created, "guest") == "(open)"
    assert field(created, "round") == "1. Arrays"
    assert field(created, "description") == "Two pointers."
    assert field(created, "sequence") == "0"
    assert field(created, "ics uid") == f"{room_id}@rooms.localhost"

    booked = run(server.address, "--as", guest, "book", room_id)
    assert booked.code == 0, booked
    assert booked.lines[0] == f"booked room {room_id}"
    assert field(booked, "guest") == guest
    assert field(booked, "sequence") == "1"

    later = starts + timedelta(days=1, hours=2)
    utc_text = later.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # input with an offset
    moved = run(
        server.address,
        "--as",
        host,
        "reschedule",
        room_id,
        "--start",
        utc_text,
        "--etag",
        field(booked, "etag"),
    )
    assert moved.code == 0, moved
    assert moved.lines[0] == f"rescheduled room {room_id}"
    assert field(moved, "when") == shown(later, 90)  # the length is kept
    assert field(moved, "guest") == guest

    listed = run(server.address, "--as", guest, "list", "--participant", guest)
    assert listed.code == 0, listed
    assert listed.lines[0].split() == ["ROOM", "WHEN", "HOST", "GUEST", "TITLE"]
    assert len(listed.lines) == 2
    row = listed.lines[1]
    assert row.startswith(room_id) and shown(later, 90) in row
    assert row.split()[-2:] == ["Mock", "interview"] and f" {host} " in row

    cancelled = run(server.address, "--as", host, "cancel", room_id, "--reason", "ill")
    assert (cancelled.code, cancelled.out, cancelled.err) == (0, f"cancelled room {room_id}\n", "")

    gone = run(server.address, "--as", host, "get", room_id)
    assert gone.code == 3
    assert one_error_line(gone).startswith("error: NOT_FOUND ROOM_NOT_FOUND: ")


@pytest.mark.slow  # a server process on PostgreSQL
def test_create_book_reschedule_cancel_as_scripts_read_it(server: SchedulingProcess) -> None:
    host, guest = new_user("host"), new_user("guest")
    starts = future().replace(minute=0, second=0)

    created = create(server.address, host, starts, "--json")
    assert created.code == 0, created
    assert len(created.lines) == 1  # one object per line
    room = json.loads(created.out)
    assert UUID.fullmatch(room["roomId"])
    assert room["hostId"] == host and "guestId" not in room  # proto3 JSON leaves "" out
    assert room["startTime"] == starts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert room["endTime"] == (starts + timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "sequence" not in room  # 0 is left out too
    assert isinstance(room["revision"], str) and int(room["revision"]) > 0  # int64 as string
    assert [r["topic"] for r in room["rounds"]] == ["Arrays"]

    booked = json.loads(run(server.address, "--as", guest, "--json", "book", room["roomId"]).out)
    assert booked["guestId"] == guest and booked["sequence"] == "1"

    listed = run(server.address, "--as", guest, "--json", "list", "--participant", guest)
    assert listed.code == 0
    assert [json.loads(line)["roomId"] for line in listed.lines] == [room["roomId"]]

    later = starts + timedelta(days=2)
    moved = run(
        server.address,
        "--as",
        host,
        "--json",
        "reschedule",
        room["roomId"],
        "--start",
        later.astimezone(BERLIN).isoformat(),
        "--duration",
        "45",
        "--etag",
        booked["etag"],
    )
    assert moved.code == 0, moved
    moved_room = json.loads(moved.out)
    assert moved_room["startTime"] == later.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert moved_room["endTime"] == (later + timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert moved_room["sequence"] == "2" and moved_room["etag"] != booked["etag"]

    stale = run(server.address, "--as", host, "cancel", room["roomId"], "--etag", booked["etag"])
    assert stale.code == 4
    assert one_error_line(stale).startswith("error: ABORTED ETAG_MISMATCH: ")

    cancelled = run(server.address, "--as", host, "--json", "cancel", room["roomId"])
    assert (cancelled.code, cancelled.out) == (0, "{}\n")  # google.protobuf.Empty


@pytest.mark.slow  # a server process on PostgreSQL
def test_each_error_reason_has_its_exit_code_and_one_line(server: SchedulingProcess) -> None:
    host, guest, other = new_user("host"), new_user("guest"), new_user("other")
    room_id = json.loads(create(server.address, host, future(), "--json").out)["roomId"]

    own = run(server.address, "--as", host, "book", room_id)
    assert own.code == 6
    assert one_error_line(own).startswith("error: FAILED_PRECONDITION HOST_CANNOT_BOOK: ")

    assert run(server.address, "--as", guest, "book", room_id).code == 0
    taken = run(server.address, "--as", other, "book", room_id)
    assert taken.code == 4
    assert one_error_line(taken).startswith("error: ALREADY_EXISTS ROOM_ALREADY_BOOKED: ")

    missing = run(server.address, "--as", guest, "get", str(uuid.uuid4()))
    assert missing.code == 3
    assert one_error_line(missing).startswith("error: NOT_FOUND ROOM_NOT_FOUND: ")

    not_host = run(server.address, "--as", guest, "cancel", room_id)
    assert not_host.code == 5
    assert one_error_line(not_host).startswith("error: PERMISSION_DENIED NOT_ROOM_HOST: ")

    not_guest = run(server.address, "--as", other, "leave", room_id)
    assert not_guest.code == 5
    assert one_error_line(not_guest).startswith("error: PERMISSION_DENIED NOT_ROOM_GUEST: ")


@pytest.mark.slow  # a server process on PostgreSQL
def test_invalid_argument_names_the_fields(server: SchedulingProcess) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bad = run(
        server.address,
        "--as",
        new_user(),
        "create",
        "--title",
        "",
        "--start",
        past,
        "--topic",
        "x",
    )
    assert bad.code == 2
    line = one_error_line(bad)
    assert line.startswith("error: INVALID_ARGUMENT INVALID_ARGUMENT (fields: title, start_time): ")
    assert "title: " in line and "start_time: " in line

    malformed = run(server.address, "--as", new_user(), "get", "not-a-room-id")
    assert malformed.code == 2
    assert one_error_line(malformed).startswith(
        "error: INVALID_ARGUMENT INVALID_ARGUMENT (fields: room_id): room_id: "
    )


@pytest.mark.slow  # a server process on PostgreSQL
def test_bad_or_missing_token_is_unauthenticated(server: SchedulingProcess) -> None:
    room = str(uuid.uuid4())
    forged = run(server.address, "--token", "not.a.jwt", "get", room)
    assert forged.code == 5
    assert one_error_line(forged).startswith("error: UNAUTHENTICATED UNAUTHENTICATED: ")

    wrong_key = run(server.address, "--as", "mallory", "--jwt-secret", "x" * 40, "get", room)
    assert wrong_key.code == 5
    assert "UNAUTHENTICATED" in one_error_line(wrong_key)

    env = cli_env()
    del env["JWT_SECRET"]
    anonymous = run(server.address, "get", room, env=env)
    assert anonymous.code == 5
    assert one_error_line(anonymous).startswith("error: UNAUTHENTICATED UNAUTHENTICATED: ")

    # A token from the environment, as a script would pass it; and --jwt-secret for --as.
    from roomsctl.tokens import mint

    env["ROOMS_TOKEN"] = mint("carol", JWT_SECRET)
    assert run(server.address, "get", room, env=env).code == 3
    assert run(server.address, "--as", "carol", "--jwt-secret", JWT_SECRET, "get", room, env=env)


@pytest.mark.slow  # a server process on PostgreSQL
def test_closed_port_is_unavailable(server: SchedulingProcess) -> None:
    target = f"127.0.0.1:{closed_port()}"
    result = run(target, "--as", "alice", "--timeout", "5", "list")
    assert result.code == 7
    assert one_error_line(result).startswith(f"error: UNAVAILABLE: cannot reach {target}: ")


@pytest.mark.slow  # a server process on PostgreSQL
def test_local_mistakes_are_usage_errors(server: SchedulingProcess) -> None:
    env = cli_env()
    del env["JWT_SECRET"]
    no_secret = run(server.address, "--as", "alice", "list", env=env)
    assert no_secret.code == 2
    assert one_error_line(no_secret).startswith("error: --as needs the signing secret")

    bad_time = run(
        server.address,
        "--as",
        "alice",
        "create",
        "--title",
        "t",
        "--start",
        "tomorrow",
        "--topic",
        "x",
    )
    assert bad_time.code == 2
    assert one_error_line(bad_time).startswith("error: --start 'tomorrow' is not an ISO 8601")

    bad_zone = run(server.address, "--as", "alice", "list", tz="Mars/Olympus")
    assert bad_zone.code == 2 and "--tz" in one_error_line(bad_zone)

    unknown = run(server.address, "frobnicate")
    assert unknown.code == 2 and unknown.out == ""


def test_exit_code_table() -> None:
    expected = {
        grpc.StatusCode.INVALID_ARGUMENT: 2,
        grpc.StatusCode.OUT_OF_RANGE: 2,
        grpc.StatusCode.NOT_FOUND: 3,
        grpc.StatusCode.ALREADY_EXISTS: 4,
        grpc.StatusCode.ABORTED: 4,
        grpc.StatusCode.PERMISSION_DENIED: 5,
        grpc.StatusCode.UNAUTHENTICATED: 5,
        grpc.StatusCode.FAILED_PRECONDITION: 6,
    }
    for code in grpc.StatusCode:
        failure = errors.RpcFailure(code, "", (), "")
        assert failure.exit_code == expected.get(code, 7), code


@pytest.mark.slow  # a server process on PostgreSQL
def test_list_finds_the_rooms_one_could_book(server: SchedulingProcess) -> None:
    host, seeker = new_user("host"), new_user("seeker")
    word = f"topic{uuid.uuid4().hex[:8]}"
    created = run(
        server.address, "--as", host, "--json", "create", "--title", f"Mock {word}",
        "--start", future().isoformat(), "--duration", "45m", "--topic", "Arrays", "-q",
    )  # fmt: skip
    assert created.code == 0, created
    room_id = created.lines[0]

    def found(user: str, *filters: str) -> list[str]:
        listed = run(server.address, "--as", user, "--json", "list", "--all", *filters)
        assert listed.code == 0, listed
        return [json.loads(line)["roomId"] for line in listed.lines]

    assert found(seeker, "--bookable", "--query", word.upper()) == [room_id]
    assert found(seeker, "--query", word, "--min-duration", "1h") == []
    assert found(seeker, "--query", word, "--max-duration", "1h") == [room_id]
    assert found(host, "--bookable", "--query", word) == []  # one's own room
    bad = run(server.address, "--as", seeker, "list", "--query", "!!!")
    assert bad.code == 2 and "query" in one_error_line(bad)
