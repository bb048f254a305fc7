"""`roomsctl calendar` against the real services: a scheduling server on PostgreSQL, and
for `connect` a notification service and a real CalDAV server (Radicale), started per
test as the calendar end-to-end tests start them (tests/system/)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from google.protobuf import json_format
from scheduling.v1 import scheduling_pb2 as pb

from roomsctl.credentials import PASSWORD_ENV
from tests.caldav_servers import Radicale
from tests.processes import SchedulingProcess
from tests.roomsctl.cli import Result, cli_env, run
from tests.scheduling_service.client import future, new_user
from tests.system.calendar_system import (
    calendar_settings,
    holds,
    radicale_calendar,
    secrets_found,
    service_logs,
)
from tests.system.mail_system import System

pytestmark = pytest.mark.slow  # starts PostgreSQL or service processes


@pytest.fixture
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    server = Radicale(tmp_path_factory.mktemp("radicale"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def one_error_line(result: Result) -> str:
    assert result.out == "", result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


def field(result: Result, label: str) -> str:
    for line in result.lines:
        if line.startswith("  ") and line[2:13].rstrip() == label:
            return line[14:]
    raise AssertionError(f"no {label!r} in:\n{result.out}")


def until(check: Callable[[], bool], within_s: float = 120.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_show_and_disconnect_without_a_connection(server: SchedulingProcess) -> None:
    user = new_user()
    for args in (
        ["calendar", "show"],
        ["--json", "calendar", "show"],
        ["calendar", "disconnect"],
        ["calendar", "disconnect", "--remove-events"],
    ):
        result = run(server.address, "--as", user, *args)
        assert result.code == 3, (args, result)
        assert one_error_line(result).startswith("error: NOT_FOUND CALENDAR_NOT_CONNECTED: ")


def test_connect_while_the_notification_service_is_away(server: SchedulingProcess) -> None:
    """The shared server's NOTIFICATION_TARGET has nothing listening: the calendar cannot
    be checked, so nothing is connected."""
    user, password = new_user(), f"pw-{uuid.uuid4().hex}"
    env = cli_env(**{PASSWORD_ENV: password})
    result = run(server.address, "--as", user, "calendar", "connect",
                 "https://calendar.example.test/dav/", "--username", user, env=env)  # fmt: skip
    assert result.code == 7, result
    assert one_error_line(result).startswith("error: UNAVAILABLE UNAVAILABLE: ")
    assert password not in result.err
    assert run(server.address, "--as", user, "calendar", "show").code == 3


def test_connect_with_a_url_the_notification_service_refuses(system: System) -> None:
    # Seal keys, but no CALDAV_ALLOW_PRIVATE_NETWORKS: loopback and plain http are refused.
    system.notification(CALENDAR_SEAL_KEYS=calendar_settings()["CALENDAR_SEAL_KEYS"])
    replica = system.scheduling()
    user, password = new_user(), f"pw-{uuid.uuid4().hex}"
    env = cli_env(**{PASSWORD_ENV: password})
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        for url in (f"https://127.0.0.1:{port}/", f"http://calendar.example.test:{port}/"):
            result = run(replica.address, "--as", user, "calendar", "connect", url,
                         "--username", user, env=env)  # fmt: skip
            assert result.code == 2, (url, result)
            line = one_error_line(result)
            assert line.startswith("error: INVALID_ARGUMENT CALENDAR_URL_NOT_ALLOWED: "), url
            assert password not in line
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    shown = run(replica.address, "--as", user, "calendar", "show")
    assert one_error_line(shown).startswith("error: NOT_FOUND CALENDAR_NOT_CONNECTED: ")
    assert secrets_found(system.database_url, service_logs(system), [password]) == []


def test_connect_where_calendar_sync_is_off(system: System) -> None:
    system.notification()  # no CALENDAR_SEAL_KEYS
    replica = system.scheduling()
    user, password = new_user(), f"pw-{uuid.uuid4().hex}"
    result = run(replica.address, "--as", user, "calendar", "connect",
                 "https://calendar.example.test/dav/", "--username", user,
                 env=cli_env(**{PASSWORD_ENV: password}))  # fmt: skip
    assert result.code == 6, result
    assert one_error_line(result).startswith("error: FAILED_PRECONDITION CALENDAR_SYNC_DISABLED: ")
    assert password not in result.err


def test_connect_show_and_disconnect_a_real_calendar(system: System, radicale: Radicale) -> None:
    system.notification(**calendar_settings())
    replica = system.scheduling()
    calendar = radicale_calendar(radicale, discover=True)  # the server's root: discovered
    host = new_user("host")
    env = cli_env(**{PASSWORD_ENV: calendar.password})

    wrong = run(replica.address, "--as", host, "calendar", "connect", calendar.connect_url,
                "--username", calendar.username,
                env=cli_env(**{PASSWORD_ENV: "not-the-password"}))  # fmt: skip
    assert wrong.code == 6, wrong
    assert one_error_line(wrong).startswith("error: FAILED_PRECONDITION CALENDAR_AUTH_REJECTED: ")
    assert "not-the-password" not in wrong.err

    connected = run(replica.address, "--as", host, "calendar", "connect", calendar.connect_url,
                    "--username", calendar.username, env=env)  # fmt: skip
    assert connected.code == 0 and connected.err == "", connected
    assert connected.lines[0] == "connected calendar"
    assert field(connected, "calendar") == calendar.collection
    assert field(connected, "provider") == "caldav"
    assert field(connected, "state") == "ACTIVE"
    assert field(connected, "e-mail") == "reminders only"

    shown = run(replica.address, "--as", host, "--json", "calendar", "show")
    assert shown.code == 0, shown
    connection = json.loads(shown.out)
    assert connection["calendarUrl"] == calendar.collection
    assert (connection["provider"], connection["state"]) == ("caldav", "STATE_ACTIVE")
    assert "emailInvites" not in connection  # false, left out

    starts = future().strftime("%Y-%m-%dT%H:%M:%SZ")
    created = run(replica.address, "--as", host, "--json", "create", "--title", "Mock interview",
                  "--topic", "Arrays", "--start", starts)  # fmt: skip
    assert created.code == 0, created
    room = json_format.Parse(created.out, pb.Room())
    until(lambda: holds(calendar, [room]))
    # The host's copy, beside their mail state on the room (`get --json`).
    until(lambda: _calendar_state(replica, host, room.room_id) == "STATE_WRITTEN")

    removed = run(replica.address, "--as", host, "calendar", "disconnect", "--remove-events")
    assert (removed.code, removed.out) == (
        0, "disconnected calendar; the sessions written to it are being removed\n"
    )  # fmt: skip
    until(lambda: holds(calendar, []))
    gone = run(replica.address, "--as", host, "calendar", "show")
    assert one_error_line(gone).startswith("error: NOT_FOUND CALENDAR_NOT_CONNECTED: ")

    for result in (connected, shown, removed):
        assert calendar.password not in result.out + result.err
    assert secrets_found(system.database_url, service_logs(system), [calendar.password]) == []


def _calendar_state(replica: SchedulingProcess, user: str, room_id: str) -> str:
    """The participant's calendar copy as `roomsctl --json get` shows it."""
    got = run(replica.address, "--as", user, "--json", "get", room_id)
    assert got.code == 0, got
    mine = [m for m in json.loads(got.out).get("mail", []) if m.get("userId") == user]
    return str(mine[0].get("calendar", {}).get("state", "")) if mine else ""
