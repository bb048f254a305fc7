"""`roomsctl feed rotate|url|revoke` as a user types it: against a recording stand-in of
the service (what each command sends and prints, the parsing), then against the real
server on PostgreSQL (a new URL ends the previous one; revoking twice is NOT_FOUND)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.processes import SchedulingProcess
from tests.roomsctl.cli import closed_port, run
from tests.roomsctl.cli import field as field_of
from tests.scheduling_service.client import failure, new_user

# A roomsctl process per case (about half a second each), and a server: out of the quick loop.
pytestmark = pytest.mark.slow

TOKEN = "Zm9vYmFyLXRoZS10b2tlbi1vZi0yNTYtcmFuZG9tLWJpdHM"
HTTPS_URL = f"https://rooms.example.test/v1/calendarFeeds/{TOKEN}.ics"
HTTP_URL = f"http://localhost:8080/v1/calendarFeeds/{TOKEN}.ics"
ONCE = (
    "this URL is shown only once: subscribe to it now, and keep it to yourself "
    "(whoever holds it reads your sessions)"
)


@dataclass
class Recorder(pb_grpc.SchedulingServiceServicer):
    """Answers the feed RPCs with fixed messages and keeps what it was sent."""

    feed_url: str = HTTPS_URL
    has_feed: bool = True
    calls: list[tuple[str, Message, dict[str, Any]]] = field(default_factory=list)
    address: str = ""

    def _keep(self, name: str, request: Message, context: grpc.ServicerContext) -> None:
        self.calls.append((name, request, dict(context.invocation_metadata())))

    def RotateCalendarFeed(
        self, request: pb.RotateCalendarFeedRequest, context: grpc.ServicerContext
    ) -> pb.CalendarFeed:
        self._keep("RotateCalendarFeed", request, context)
        feed = pb.CalendarFeed(feed_url=self.feed_url, token=TOKEN)
        feed.create_time.FromJsonString("2030-01-31T17:00:00Z")
        return feed

    def RevokeCalendarFeed(
        self, request: pb.RevokeCalendarFeedRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        self._keep("RevokeCalendarFeed", request, context)
        if not self.has_feed:  # as the service answers it: NOT_FOUND with its reason
            info = error_details_pb2.ErrorInfo(reason="FEED_NOT_FOUND", domain="rooms.test")
            status = status_pb2.Status(code=code_pb2.NOT_FOUND, message="no calendar feed")
            status.details.add().Pack(info)
            context.abort_with_status(rpc_status.to_status(status))
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


def test_rotate_shows_the_url_its_webcal_form_and_that_it_is_shown_once(
    service: Recorder,
) -> None:
    done = run(service.address, "--as", "alice", "feed", "rotate")
    assert done.code == 0 and done.err == "", done
    assert isinstance(service.only("RotateCalendarFeed"), pb.RotateCalendarFeedRequest)
    assert service.calls[0][2]["authorization"].startswith("Bearer ")
    assert done.lines[0] == "new calendar feed; any previous feed URL stopped working just now"
    assert field_of(done, "url") == HTTPS_URL
    assert field_of(done, "webcal") == f"webcal://rooms.example.test/v1/calendarFeeds/{TOKEN}.ics"
    assert field_of(done, "created") == "2030-01-31 18:00 CET"  # --tz Europe/Berlin
    assert done.lines[-1] == ONCE


def test_an_http_feed_gets_no_webcal_link(service: Recorder) -> None:
    service.feed_url = HTTP_URL
    done = run(service.address, "--as", "alice", "feed", "rotate")
    assert done.code == 0, done
    assert field_of(done, "url") == HTTP_URL
    assert field_of(done, "webcal") == "none: webcal:// links are for https deployments only"
    assert "webcal://localhost" not in done.out


@pytest.mark.parametrize(
    "args", [["--json", "feed", "rotate"], ["feed", "rotate", "--json"],
             ["feed", "--json", "rotate"]],
)  # fmt: skip
def test_rotate_as_json_with_the_option_anywhere(service: Recorder, args: list[str]) -> None:
    done = run(service.address, "--as", "alice", *args)
    assert done.code == 0 and done.err == "", done
    assert len(done.lines) == 1
    assert json.loads(done.out) == {
        "feedUrl": HTTPS_URL,
        "token": TOKEN,
        "createTime": "2030-01-31T17:00:00Z",
    }


@pytest.mark.parametrize("json_option", [[], ["--json"]])
def test_url_prints_the_new_url_alone(service: Recorder, json_option: list[str]) -> None:
    done = run(service.address, "--as", "alice", *json_option, "feed", "url")
    assert done.code == 0, done
    assert done.out == HTTPS_URL + "\n"  # for `| xclip`: nothing else on stdout
    assert done.err == "note: this is a new feed URL; the previous one no longer works\n"
    assert isinstance(service.only("RotateCalendarFeed"), pb.RotateCalendarFeedRequest)


def test_url_help_says_it_makes_a_new_url_and_ends_the_previous_one() -> None:
    shown = run(f"127.0.0.1:{closed_port()}", "feed", "url", "--help")
    assert shown.code == 0, shown
    text = " ".join(shown.out.split())
    assert "It is a new URL, never the one you have" in text
    assert "keeps only a hash of the token" in text
    assert "the previous URL stops working now" in text


def test_revoke_says_the_url_no_longer_works(service: Recorder) -> None:
    done = run(service.address, "--as", "alice", "feed", "revoke")
    assert (done.code, done.out, done.err) == (
        0, "revoked calendar feed; its URL no longer works\n", ""
    )  # fmt: skip
    assert isinstance(service.only("RevokeCalendarFeed"), pb.RevokeCalendarFeedRequest)

    service.calls.clear()
    as_json = run(service.address, "--as", "alice", "--json", "feed", "revoke")
    assert (as_json.code, as_json.out) == (0, "{}\n")


def test_revoke_without_a_feed_is_not_found(service: Recorder) -> None:
    service.has_feed = False
    done = run(service.address, "--as", "alice", "feed", "revoke")
    assert (done.code, done.out) == (3, ""), done
    assert done.err == "error: NOT_FOUND FEED_NOT_FOUND: no calendar feed\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["feed"], "the following arguments are required: ACTION"),
        (["feed", "subscribe"], "invalid choice: 'subscribe'"),
        (["feed", "rotate", "now"], "unrecognized arguments: now"),
        (["feed", "url", "--old"], "unrecognized arguments: --old"),
    ],
)
def test_bad_arguments_are_usage_errors_and_call_nothing(
    service: Recorder, args: list[str], message: str
) -> None:
    done = run(service.address, "--as", "alice", *args)
    assert (done.code, done.out) == (2, ""), done
    last = done.err.splitlines()[-1]
    assert last.startswith("error: usage: ") and message in last, done.err
    assert service.calls == []


def test_an_unreachable_service_is_unavailable() -> None:
    target = f"127.0.0.1:{closed_port()}"
    done = run(target, "--as", "alice", "--timeout", "5", "feed", "url")
    assert (done.code, done.out) == (7, ""), done
    assert done.err.startswith(f"error: UNAVAILABLE: cannot reach {target}: ")


# Against the real server (the shared session-scoped process of tests/roomsctl/conftest.py).


def _read_feed(server: SchedulingProcess, token: str) -> grpc.StatusCode:
    """What GetCalendarFeed answers for `token` (it takes no bearer token)."""
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.SchedulingServiceStub(channel)
        try:
            stub.GetCalendarFeed(pb.GetCalendarFeedRequest(token=token), timeout=10)
        except grpc.RpcError as error:
            found = failure(error)
            assert found.reason == "FEED_NOT_FOUND", found
            return found.code
    return grpc.StatusCode.OK


def test_each_url_is_new_and_ends_the_one_before(server: SchedulingProcess) -> None:
    user = new_user()
    rotated = run(server.address, "--as", user, "--json", "feed", "rotate")
    assert rotated.code == 0, rotated
    first = json.loads(rotated.out)
    assert first["feedUrl"].endswith(f"/v1/calendarFeeds/{first['token']}.ics")
    assert _read_feed(server, first["token"]) == grpc.StatusCode.OK

    printed = run(server.address, "--as", user, "feed", "url")
    assert printed.code == 0, printed
    (second_url,) = printed.lines
    assert second_url != first["feedUrl"]
    second_token = second_url.rsplit("/", 1)[1].removesuffix(".ics")
    assert _read_feed(server, first["token"]) == grpc.StatusCode.NOT_FOUND
    assert _read_feed(server, second_token) == grpc.StatusCode.OK

    shown = run(server.address, "--as", user, "feed", "rotate")
    assert shown.code == 0, shown
    assert field_of(shown, "url").startswith(("http://", "https://"))
    assert shown.lines[-1] == ONCE
    assert _read_feed(server, second_token) == grpc.StatusCode.NOT_FOUND


def test_revoke_ends_the_feed_and_a_second_revoke_is_not_found(
    server: SchedulingProcess,
) -> None:
    user = new_user()
    printed = run(server.address, "--as", user, "feed", "url")
    assert printed.code == 0, printed
    token = printed.out.strip().rsplit("/", 1)[1].removesuffix(".ics")

    revoked = run(server.address, "--as", user, "feed", "revoke")
    assert (revoked.code, revoked.out) == (0, "revoked calendar feed; its URL no longer works\n")
    assert _read_feed(server, token) == grpc.StatusCode.NOT_FOUND

    again = run(server.address, "--as", user, "feed", "revoke")
    assert (again.code, again.out) == (3, ""), again
    (line,) = again.err.splitlines()
    assert line.startswith("error: NOT_FOUND FEED_NOT_FOUND")
