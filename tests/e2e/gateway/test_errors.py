"""Every row of docs/http.md's error table, produced by the real service and seen
through the real gateway: the HTTP status the table gives for grpc-gateway, the gRPC
code, the ErrorInfo reason. The rows are read from the doc, so a row without a
scenario here, or a status that differs from the doc, fails."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
import pytest
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from roomsctl.tokens import mint
from tests.e2e.gateway import doc
from tests.e2e.gateway.errors import Observed, from_reply, from_stream_line
from tests.e2e.gateway.http import Reply
from tests.e2e.gateway.stack import DEV_SECRET, Stack, stack
from tests.e2e.gateway.users import create, ok, rfc3339, start_at, token, user

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROWS = doc.error_rows()
Scenario = Callable[[Stack, str, Path], Observed]
SCENARIOS: dict[tuple[str, str], list[Scenario]] = {}


def scenario(code: str, reason: str = "") -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS.setdefault((code, reason), []).append(fn)
        return fn

    return register


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.code}-{r.reason or 'none'}" for r in ROWS])
def test_error_row(row: doc.ErrorRow, gw: Stack, postgres_server: str, tmp_path: Path) -> None:
    scenarios = SCENARIOS.get((row.code, row.reason))
    assert scenarios, f"docs/http.md lists {row.code} {row.reason!r}: no scenario produces it"
    for produce in scenarios:
        seen = produce(gw, postgres_server, tmp_path)
        assert seen.http_status == row.gateway, (produce.__name__, seen)
        assert seen.code_name == row.code, (produce.__name__, seen)
        if not (seen.reason_may_be_missing and seen.reasons == []):
            assert seen.reasons == ([row.reason] if row.reason else []), (produce.__name__, seen)
        for detail in seen.details:
            if detail["@type"].endswith("/google.rpc.ErrorInfo"):
                assert detail["domain"] == "scheduling.v1"


def test_every_scenario_is_a_row_of_the_doc() -> None:
    assert set(SCENARIOS) <= {(r.code, r.reason) for r in ROWS}


# ---- the main stack ----


@scenario("OK")
def get_a_room(gw: Stack, *_: object) -> Observed:
    room = create(gw.http, user())
    reply = gw.http.call("GET", f"/v1/rooms/{room['roomId']}", token=token(user()))
    return Observed(reply.status, 0, [], "", [])


@scenario("INVALID_ARGUMENT", "INVALID_ARGUMENT")
def create_with_bad_fields(gw: Stack, *_: object) -> Observed:
    too_far = datetime.now(UTC) + timedelta(days=400)
    body = {"title": "", "startTime": rfc3339(too_far), "firstRoundTopic": "Arrays"}
    seen = from_reply(gw.http.call("POST", "/v1/rooms", token=token(user()), body=body))
    (bad,) = [d for d in seen.details if d["@type"].endswith("/google.rpc.BadRequest")]
    assert {v["field"] for v in bad["fieldViolations"]} == {"title", "start_time"}
    return seen


@scenario("INVALID_ARGUMENT", "INVALID_ARGUMENT")
def get_a_malformed_id(gw: Stack, *_: object) -> Observed:
    return from_reply(gw.http.call("GET", "/v1/rooms/not-a-uuid", token=token(user())))


@scenario("FAILED_PRECONDITION", "HOST_CANNOT_BOOK")
def host_books_own_room(gw: Stack, *_: object) -> Observed:
    host = user("host")
    room = create(gw.http, host)
    return from_reply(
        gw.http.call("POST", f"/v1/rooms/{room['roomId']}:book", token=token(host), body={})
    )


@scenario("FAILED_PRECONDITION", "ROOM_STARTED")
def book_after_the_start(gw: Stack, *_: object) -> Observed:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    room = create(gw.http, user("host"), startTime=rfc3339(starts), duration="300s")
    while datetime.now(UTC) <= starts:  # the clock reaching the start is the event
        time.sleep(0.05)
    return from_reply(
        gw.http.call("POST", f"/v1/rooms/{room['roomId']}:book", token=token(user()), body={})
    )


@scenario("UNAUTHENTICATED", "UNAUTHENTICATED")
def no_token(gw: Stack, *_: object) -> Observed:
    return from_reply(gw.http.call("GET", "/v1/rooms"))


@scenario("UNAUTHENTICATED", "UNAUTHENTICATED")
def expired_token(gw: Stack, *_: object) -> Observed:
    old = mint(user(), DEV_SECRET, now=time.time() - 7200, ttl_s=60)
    return from_reply(gw.http.call("GET", "/v1/rooms", token=old))


@scenario("UNAUTHENTICATED", "UNAUTHENTICATED")
def token_signed_with_another_secret(gw: Stack, *_: object) -> Observed:
    forged = mint(user(), "another-secret-of-at-least-32-bytes-long")
    return from_reply(gw.http.call("GET", "/v1/rooms", token=forged))


@scenario("PERMISSION_DENIED", "NOT_ROOM_HOST")
def reschedule_by_someone_else(gw: Stack, *_: object) -> Observed:
    room = create(gw.http, user("host"))
    body = {"startTime": rfc3339(start_at())}
    return from_reply(
        gw.http.call(
            "POST", f"/v1/rooms/{room['roomId']}:reschedule", token=token(user()), body=body
        )
    )


@scenario("PERMISSION_DENIED", "NOT_ROOM_HOST")
def cancel_by_someone_else(gw: Stack, *_: object) -> Observed:
    room = create(gw.http, user("host"))
    return from_reply(gw.http.call("DELETE", f"/v1/rooms/{room['roomId']}", token=token(user())))


@scenario("PERMISSION_DENIED", "NOT_ROOM_GUEST")
def leave_by_someone_else(gw: Stack, *_: object) -> Observed:
    room = create(gw.http, user("host"))
    ok(gw.http.call("POST", f"/v1/rooms/{room['roomId']}:book", token=token(user()), body={}))
    return from_reply(
        gw.http.call("POST", f"/v1/rooms/{room['roomId']}:leave", token=token(user()), body={})
    )


@scenario("NOT_FOUND", "ROOM_NOT_FOUND")
def get_a_room_that_never_was(gw: Stack, *_: object) -> Observed:
    return from_reply(gw.http.call("GET", f"/v1/rooms/{uuid.uuid4()}", token=token(user())))


@scenario("ALREADY_EXISTS", "ROOM_ALREADY_BOOKED")
def second_booking(gw: Stack, *_: object) -> Observed:
    room = create(gw.http, user("host"))
    path = f"/v1/rooms/{room['roomId']}:book"
    ok(gw.http.call("POST", path, token=token(user("first")), body={}))
    return from_reply(gw.http.call("POST", path, token=token(user("second")), body={}))


@scenario("ALREADY_EXISTS", "SCHEDULE_CONFLICT")
def overlapping_rooms_of_one_host(gw: Stack, *_: object) -> Observed:
    host, starts = user("host"), start_at()
    create(gw.http, host, startTime=rfc3339(starts), duration="3600s")
    overlapping = rfc3339(starts + timedelta(minutes=30))
    body = {"title": "Again", "startTime": overlapping, "firstRoundTopic": "Trees"}
    return from_reply(gw.http.call("POST", "/v1/rooms", token=token(host), body=body))


@scenario("ABORTED", "ETAG_MISMATCH")
def reschedule_with_a_stale_etag(gw: Stack, *_: object) -> Observed:
    host = user("host")
    room = create(gw.http, host)
    path = f"/v1/rooms/{room['roomId']}"
    ok(gw.http.call("POST", f"{path}:book", token=token(user()), body={}))  # a new etag
    body = {"startTime": rfc3339(start_at()), "etag": room["etag"]}
    return from_reply(gw.http.call("POST", f"{path}:reschedule", token=token(host), body=body))


@scenario("DEADLINE_EXCEEDED")
def a_watch_whose_deadline_passes_before_any_event(gw: Stack, *_: object) -> Observed:
    # grpc-gateway turns a Grpc-Timeout header into the call's deadline. Nothing
    # matches this watch (the watcher's own schedule, and they have none) and the first
    # heartbeat is due after 1 s: the deadline ends it.
    latest = create(gw.http, user())["revision"]
    watcher = user("nobody")
    query = {"participant_id": watcher, "since_revision": latest}
    headers = {"Grpc-Timeout": "200m"}
    with gw.http.stream("/v1/rooms:watch", token=token(watcher), query=query, headers=headers) as s:
        reply = Reply(s.status, json.loads(s.response.read()))
    return from_reply(reply)


# ---- stacks of their own (settings, or damage, that the main stack must not get) ----


@scenario("OUT_OF_RANGE", "REVISION_COMPACTED")
def watch_from_a_pruned_revision(_main: Stack, postgres_server: str, logs: Path) -> Observed:
    retention = {"WATCH_RETENTION_H": "0.0003", "WATCH_PRUNE_EVERY_S": "0.2"}
    with stack(postgres_server, logs, **retention) as own:
        for _ in range(2):
            create(own.http, user())
        deadline = time.monotonic() + 20
        with psycopg.connect(own.libpq_url()) as conn:
            while (conn.execute("SELECT compacted FROM room_events_horizon").fetchone() or (0,))[
                0
            ] < 2:
                assert time.monotonic() < deadline, "the change log was never pruned"
                time.sleep(0.1)
        query = {"since_revision": 1}
        return from_reply(own.http.call("GET", "/v1/rooms:watch", token=token(user()), query=query))


@scenario("INTERNAL", "INTERNAL")
def a_bug_a_table_renamed_under_the_service(
    _main: Stack, postgres_server: str, logs: Path
) -> Observed:
    with stack(postgres_server, logs) as own:
        room = create(own.http, user())
        with psycopg.connect(own.libpq_url(), autocommit=True) as conn:
            conn.execute("ALTER TABLE rooms RENAME TO rooms_moved_away")
            try:
                seen = from_reply(
                    own.http.call("GET", f"/v1/rooms/{room['roomId']}", token=token(user()))
                )
            finally:
                conn.execute("ALTER TABLE rooms_moved_away RENAME TO rooms")
        assert seen.message == "internal error"  # the cause is logged, never sent
        assert "rooms" not in json.dumps(seen.details)
        return seen


@scenario("UNAVAILABLE", "UNAVAILABLE")
def the_database_refuses_connections(_main: Stack, postgres_server: str, logs: Path) -> Observed:
    with stack(postgres_server, logs) as own:
        room = create(own.http, user())
        name = own.database_url.rsplit("/", 1)[1].split("?")[0]
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            try:
                return from_reply(
                    own.http.call("GET", f"/v1/rooms/{room['roomId']}", token=token(user()))
                )
            finally:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@scenario("UNAVAILABLE", "UNAVAILABLE")
def a_watch_on_a_replica_that_shuts_down(
    _main: Stack, postgres_server: str, logs: Path
) -> Observed:
    with stack(postgres_server, logs) as own:
        with own.http.stream("/v1/rooms:watch", token=token(user())) as stream:
            assert stream.status == 200
            assert stream.next()["result"]["type"] == "TYPE_SYNCED"
            assert own.service.process is not None
            own.service.process.terminate()  # SIGTERM
            last = stream.until(lambda line: "error" in line)[-1]
        assert own.service.stop() == 0
        # With the replica gone, the gateway itself answers 503 (and has no reason).
        gone = own.http.call("GET", "/v1/rooms", token=token(user()))
        assert (gone.status, gone.body["code"]) == (503, grpc.StatusCode.UNAVAILABLE.value[0])
        seen = from_stream_line(last)
        seen.reason_may_be_missing = seen.message == "Cancelling all calls"
        return seen


@scenario("RESOURCE_EXHAUSTED", "WATCHER_TOO_SLOW")
def a_watch_that_cannot_take_a_burst(_main: Stack, postgres_server: str, logs: Path) -> Observed:
    # A queue of one event: a burst of changes that reaches the replica's hub at once
    # is more than the watcher may fall behind, and the service cuts it.
    with stack(postgres_server, logs, WATCH_QUEUE_SIZE="1") as own:
        channel = grpc.insecure_channel(own.service.address)
        stub = pb_grpc.SchedulingServiceStub(channel)

        def create_directly(_: int) -> None:
            request = pb.CreateRoomRequest(title="Burst", first_round_topic="Arrays")
            request.start_time.FromDatetime(start_at())
            host = (("authorization", f"Bearer {token(user('host'))}"),)
            stub.CreateRoom(request, metadata=host, timeout=10)

        try:
            with (
                own.http.stream("/v1/rooms:watch", token=token(user())) as stream,
                ThreadPoolExecutor(8) as pool,
            ):
                assert stream.next()["result"]["type"] == "TYPE_SYNCED"
                for _ in range(30):  # bounded; one burst of eight almost always does
                    list(pool.map(create_directly, range(8)))
                    if "WATCHER_TOO_SLOW" in own.service.log():
                        break
                assert "WATCHER_TOO_SLOW" in own.service.log(), "the watcher was never cut"
                last = stream.until(lambda line: "error" in line)[-1]
        finally:
            channel.close()
        return from_stream_line(last)
