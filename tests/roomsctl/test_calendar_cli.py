"""`roomsctl calendar` as a user types it, against a recording stand-in of the service
(no PostgreSQL): what each command sends, what it prints, and that a calendar secret is
taken only from the environment or a prompt, never from an argument, and never shown."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from google.protobuf.message import Message
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from roomsctl.credentials import PASSWORD_ENV
from tests.roomsctl.cli import Result, cli_env, closed_port, command, run

# A roomsctl process per case (about half a second each): out of the quick loop.
pytestmark = pytest.mark.slow

SECRET = "s3cret-Pa55-never-shown"
URL = "https://calendar.example.test/dav/"
COLLECTION = "https://calendar.example.test/dav/alice/work/"
CONNECTED = pb.CalendarConnection(
    calendar_url=COLLECTION,
    provider="caldav",
    state=pb.CalendarConnection.STATE_ACTIVE,
    email_invites=True,
)
CONNECTED.create_time.FromJsonString("2030-01-31T17:00:00Z")
BROKEN = pb.CalendarConnection()
BROKEN.CopyFrom(CONNECTED)
BROKEN.state = pb.CalendarConnection.STATE_BROKEN
BROKEN.broken_reason = "the calendar server refused the credentials (401)"
BROKEN.email_invites = False
BROKEN.last_write_time.FromJsonString("2030-02-01T09:30:00Z")


@dataclass
class Recorder(pb_grpc.SchedulingServiceServicer):
    """Answers the calendar RPCs with fixed messages and keeps what it was sent."""

    calls: list[tuple[str, Message, dict[str, Any]]] = field(default_factory=list)
    address: str = ""

    def _keep(self, name: str, request: Message, context: grpc.ServicerContext) -> None:
        self.calls.append((name, request, dict(context.invocation_metadata())))

    def ConnectCalendar(
        self, request: pb.ConnectCalendarRequest, context: grpc.ServicerContext
    ) -> pb.CalendarConnection:
        self._keep("ConnectCalendar", request, context)
        return CONNECTED

    def GetCalendarConnection(
        self, request: pb.GetCalendarConnectionRequest, context: grpc.ServicerContext
    ) -> pb.CalendarConnection:
        self._keep("GetCalendarConnection", request, context)
        return BROKEN

    def DisconnectCalendar(
        self, request: pb.DisconnectCalendarRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        self._keep("DisconnectCalendar", request, context)
        return empty_pb2.Empty()

    def only(self, name: str) -> Message:
        assert [c[0] for c in self.calls] == [name], self.calls
        return self.calls[0][1]


@pytest.fixture
def service() -> Iterator[Recorder]:
    recorder = Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_SchedulingServiceServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    recorder.address = f"127.0.0.1:{port}"
    try:
        yield recorder
    finally:
        server.stop(0)


def field_of(result: Result, label: str) -> str:
    for line in result.lines:
        if line.startswith("  ") and line[2:13].rstrip() == label:
            return line[14:]
    raise AssertionError(f"no {label!r} in:\n{result.out}")


def never_shown(result: Result, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.out and secret not in result.err, result


def test_connect_sends_the_password_from_the_environment(service: Recorder) -> None:
    env = cli_env(**{PASSWORD_ENV: SECRET})
    done = run(service.address, "--as", "alice", "calendar", "connect", URL,
               "--username", "alice@example.test", "--email-invites", env=env)  # fmt: skip
    assert done.code == 0 and done.err == "", done
    never_shown(done, SECRET)
    request = service.only("ConnectCalendar")
    assert isinstance(request, pb.ConnectCalendarRequest)
    assert request.url == URL and request.email_invites
    assert request.WhichOneof("credentials") == "basic"
    assert (request.basic.username, request.basic.password) == ("alice@example.test", SECRET)
    assert service.calls[0][2]["authorization"].startswith("Bearer ")

    assert done.lines[0] == "connected calendar"
    assert field_of(done, "calendar") == COLLECTION
    assert field_of(done, "provider") == "caldav"
    assert field_of(done, "state") == "ACTIVE"
    assert field_of(done, "e-mail") == "invitations and reminders"
    assert field_of(done, "connected") == "2030-01-31 18:00 CET"  # --tz Europe/Berlin
    assert field_of(done, "last write") == "none yet"


def test_connect_without_email_invites_asks_for_none(service: Recorder) -> None:
    env = cli_env(**{PASSWORD_ENV: SECRET})
    done = run(service.address, "--as", "alice", "--json", "calendar", "connect", URL,
               "--username", "alice", env=env)  # fmt: skip
    assert done.code == 0, done
    request = service.only("ConnectCalendar")
    assert isinstance(request, pb.ConnectCalendarRequest) and not request.email_invites
    shown = json.loads(done.out)
    assert shown["calendarUrl"] == COLLECTION and shown["state"] == "STATE_ACTIVE"
    never_shown(done, SECRET)


def test_connect_with_a_google_refresh_token_from_a_named_variable(service: Recorder) -> None:
    token = "1//0g-refresh-token-never-shown"
    env = cli_env(MY_GOOGLE_TOKEN=token)
    done = run(service.address, "--as", "alice", "calendar", "connect",
               "https://apidata.googleusercontent.com/caldav/v2/",
               "--google-refresh-token-env", "MY_GOOGLE_TOKEN", env=env)  # fmt: skip
    assert done.code == 0, done
    never_shown(done, token)
    request = service.only("ConnectCalendar")
    assert isinstance(request, pb.ConnectCalendarRequest)
    assert request.WhichOneof("credentials") == "oauth"
    assert (request.oauth.provider, request.oauth.refresh_token) == ("google", token)


def test_connect_asks_for_the_password_on_a_terminal(service: Recorder) -> None:
    """Without ROOMSCTL_CALENDAR_PASSWORD, on a terminal: a prompt that does not echo."""
    argv = command(service.address, "--as", "alice", "calendar", "connect", URL,
                   "--username", "alice")  # fmt: skip
    env = cli_env()
    env.pop(PASSWORD_ENV, None)
    # A terminal of its own (spawned, not forked: this process runs gRPC threads).
    terminal, tty = pty.openpty()
    process = subprocess.Popen(
        argv, stdin=tty, stdout=tty, stderr=tty, env=env, start_new_session=True
    )
    os.close(tty)
    seen = b""
    try:
        seen = _read_until(terminal, b"calendar password for alice: ")
        os.write(terminal, SECRET.encode() + b"\n")
        seen += _read_until(terminal, None)
    finally:
        code = process.wait(30)
        os.close(terminal)
    assert code == 0, seen
    assert SECRET.encode() not in seen  # no echo, not printed
    assert b"connected calendar" in seen
    request = service.only("ConnectCalendar")
    assert isinstance(request, pb.ConnectCalendarRequest)
    assert (request.basic.username, request.basic.password) == ("alice", SECRET)


def _read_until(fd: int, marker: bytes | None, within_s: float = 30.0) -> bytes:
    """From the pty until `marker` has come, or until it closes (None)."""
    got = b""
    deadline = time.monotonic() + within_s
    while marker is None or marker not in got:
        assert time.monotonic() < deadline, got
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            assert marker is None, got
            return got
        got += chunk
    return got


def test_without_the_variable_or_a_terminal_the_password_is_not_guessed(
    service: Recorder,
) -> None:
    env = cli_env()
    env.pop(PASSWORD_ENV, None)
    done = run(service.address, "--as", "alice", "calendar", "connect", URL,
               "--username", "alice", env=env)  # fmt: skip
    assert done.code == 2 and done.out == "", done
    assert done.err.startswith(f"error: calendar connect --username needs the password: set "
                               f"{PASSWORD_ENV}, or run it on a terminal")  # fmt: skip
    assert service.calls == []


@pytest.mark.parametrize(
    "secret_args",
    [
        ["--password", SECRET],
        [f"--password={SECRET}"],
        ["--refresh-token", SECRET],
        ["--google-refresh-token", SECRET],
        [SECRET],  # a stray value after the URL
        [f"--pass={SECRET}"],  # no abbreviation of anything
        ["--google-refresh", SECRET],
    ],
)
def test_a_secret_as_an_argument_is_refused_and_never_shown(
    service: Recorder, secret_args: list[str]
) -> None:
    env = cli_env(**{PASSWORD_ENV: "from-the-environment"})
    done = run(service.address, "--as", "alice", "calendar", "connect", URL,
               "--username", "alice", *secret_args, env=env)  # fmt: skip
    assert done.code == 2 and done.out == "", done
    never_shown(done, SECRET)
    assert done.err.splitlines()[-1].startswith("error: usage: ")
    assert service.calls == []


def test_the_password_option_says_where_a_password_goes(service: Recorder) -> None:
    done = run(service.address, "calendar", "connect", URL, "--password", SECRET)
    assert done.code == 2
    last = done.err.splitlines()[-1]
    assert last.startswith("error: usage: --password is not accepted: ")
    assert PASSWORD_ENV in last and "--google-refresh-token-env" in last
    never_shown(done, SECRET)


def test_a_token_given_in_place_of_a_variable_name_is_never_shown(service: Recorder) -> None:
    token = "1//0g-pasted-token-" + "x" * 20
    pasted = run(service.address, "--as", "alice", "calendar", "connect", URL,
                 "--google-refresh-token-env", token)  # fmt: skip
    assert pasted.code == 2 and pasted.out == "", pasted
    assert pasted.err.startswith("error: --google-refresh-token-env takes the NAME")
    never_shown(pasted, token)

    unset = run(service.address, "--as", "alice", "calendar", "connect", URL,
                "--google-refresh-token-env", "ROOMSCTL_TEST_UNSET_TOKEN")  # fmt: skip
    assert unset.code == 2 and "is not set or is empty" in unset.err, unset
    assert service.calls == []


def test_a_url_carrying_a_password_is_refused(service: Recorder) -> None:
    env = cli_env(**{PASSWORD_ENV: "from-the-environment"})
    done = run(service.address, "--as", "alice", "calendar", "connect",
               f"https://alice:{SECRET}@calendar.example.test/dav/",
               "--username", "alice", env=env)  # fmt: skip
    assert done.code == 2 and done.err.startswith("error: the calendar URL carries a password")
    never_shown(done, SECRET)
    assert service.calls == []


def test_username_and_refresh_token_exclude_each_other(service: Recorder) -> None:
    both = run(service.address, "calendar", "connect", URL, "--username", "a",
               "--google-refresh-token-env", "X")  # fmt: skip
    assert both.code == 2 and "not allowed with" in both.err
    neither = run(service.address, "calendar", "connect", URL)
    assert neither.code == 2 and "one of the arguments --username" in neither.err
    assert service.calls == []


def test_show_a_broken_connection(service: Recorder) -> None:
    shown = run(service.address, "--as", "alice", "calendar", "show")
    assert shown.code == 0 and shown.err == "", shown
    assert isinstance(service.only("GetCalendarConnection"), pb.GetCalendarConnectionRequest)
    assert shown.lines[0] == "calendar connection"
    assert field_of(shown, "state") == (
        "BROKEN: the calendar server refused the credentials (401) "
        "(writes wait: connect again with new credentials)"
    )
    assert field_of(shown, "e-mail") == "reminders only"
    assert field_of(shown, "last write") == "2030-02-01 10:30 CET"


@pytest.mark.parametrize(
    "args", [["--json", "calendar", "show"], ["calendar", "show", "--json"],
             ["calendar", "--json", "show"]],
)  # fmt: skip
def test_show_as_json_with_the_option_anywhere(service: Recorder, args: list[str]) -> None:
    shown = run(service.address, "--as", "alice", *args)
    assert shown.code == 0, shown
    assert len(shown.lines) == 1
    assert json.loads(shown.out) == {
        "calendarUrl": COLLECTION,
        "provider": "caldav",
        "state": "STATE_BROKEN",
        "brokenReason": "the calendar server refused the credentials (401)",
        "createTime": "2030-01-31T17:00:00Z",
        "lastWriteTime": "2030-02-01T09:30:00Z",
    }


def test_disconnect_with_and_without_removing_the_events(service: Recorder) -> None:
    kept = run(service.address, "--as", "alice", "calendar", "disconnect")
    assert (kept.code, kept.out) == (
        0, "disconnected calendar; the sessions written to it stay there\n"
    )  # fmt: skip
    request = service.only("DisconnectCalendar")
    assert isinstance(request, pb.DisconnectCalendarRequest) and not request.remove_events

    service.calls.clear()
    removed = run(service.address, "--as", "alice", "--json", "calendar", "disconnect",
                  "--remove-events")  # fmt: skip
    assert (removed.code, removed.out) == (0, "{}\n")
    request = service.only("DisconnectCalendar")
    assert isinstance(request, pb.DisconnectCalendarRequest) and request.remove_events


def test_an_unreachable_service_is_unavailable_and_the_secret_stays_unseen() -> None:
    target = f"127.0.0.1:{closed_port()}"
    env = cli_env(**{PASSWORD_ENV: SECRET})
    done = run(target, "--as", "alice", "--timeout", "5", "calendar", "connect", URL,
               "--username", "alice", env=env)  # fmt: skip
    assert done.code == 7, done
    assert done.err.startswith(f"error: UNAVAILABLE: cannot reach {target}: ")
    never_shown(done, SECRET)
