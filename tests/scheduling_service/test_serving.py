"""The process: refuses to run misconfigured, serves health, stops gracefully."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import grpc
import psycopg
import pytest
from alembic.script import ScriptDirectory
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from sqlalchemy.engine import make_url

import scheduling_service
from scheduling_service.adapters import migrator
from tests import postgres
from tests.processes import JWT_SECRET, SchedulingProcess
from tests.scheduling_service.client import auth, create_request, failure, future, new_user, ts
from tests.smtp_sink import free_port

pytestmark = pytest.mark.slow  # starts processes


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scheduling_service", "serve"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_serve_without_jwt_secret(database_url) -> None:
    result = _serve({"DATABASE_URL": database_url, "JWT_SECRET": ""})
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr


@pytest.mark.parametrize("command", ["serve", "migrate", "outbox failed"])
def test_refuses_to_guess_a_database(command: str, tmp_path) -> None:
    env = {**os.environ, "JWT_SECRET": JWT_SECRET, "EMBEDDED_DB_DIR": str(tmp_path / "pg")}
    env.pop("DATABASE_URL", None)
    env.pop("EMBEDDED_POSTGRES", None)
    result = subprocess.run(
        [sys.executable, "-m", "scheduling_service", *command.split()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "DATABASE_URL is not set" in result.stderr
    assert "EMBEDDED_POSTGRES=true" in result.stderr
    assert not (tmp_path / "pg").exists()  # nothing was started


def test_refuses_to_serve_an_unmigrated_database(postgres_server) -> None:
    with postgres.fresh_database(postgres_server) as empty:
        result = _serve({"DATABASE_URL": empty, "JWT_SECRET": JWT_SECRET})
    assert result.returncode == 2
    assert "python -m scheduling_service migrate" in result.stderr


async def test_health_and_reflection_need_no_token(server) -> None:
    async with aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "scheduling.v1.SchedulingService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_sigterm_lets_in_flight_calls_finish(database_url, tmp_path) -> None:
    replica = SchedulingProcess(database_url, tmp_path).start()
    host = new_user()
    room = asyncio.run(_create(replica.address, host))
    with psycopg.connect(postgres.libpq_url(database_url)) as blocker:
        # Hold the room's row lock so that the reschedules below are in flight.
        blocker.execute("SELECT 1 FROM rooms WHERE room_id = %s FOR UPDATE", [room.room_id])

        async def scenario() -> list[str]:
            async with aio.insecure_channel(replica.address) as channel:
                stub = pb_grpc.SchedulingServiceStub(channel)
                calls = [
                    asyncio.ensure_future(
                        stub.RescheduleRoom(
                            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
                            metadata=auth(host),
                            timeout=30,
                        )
                    )
                    for _ in range(3)
                ]
                await _wait_for_lock_waiters(database_url, 3)
                assert replica.process is not None
                replica.process.terminate()  # SIGTERM
                await asyncio.sleep(0.5)
                blocker.rollback()  # release the lock: the calls can finish now
                outcomes = []
                for call in calls:
                    try:
                        await call
                        outcomes.append("OK")
                    except grpc.RpcError as error:
                        outcomes.append(error.code().name)
                return outcomes

        outcomes = asyncio.run(scenario())
    assert outcomes == ["OK", "OK", "OK"]
    assert replica.stop() == 0
    assert '"event": "stopped"' in replica.log()


async def _create(address: str, host: str) -> pb.Room:
    async with aio.insecure_channel(address) as channel:
        stub = pb_grpc.SchedulingServiceStub(channel)
        return await stub.CreateRoom(create_request(), metadata=auth(host))


async def _wait_for_lock_waiters(database_url: str, count: int) -> None:
    deadline = time.monotonic() + 10
    async with await psycopg.AsyncConnection.connect(
        postgres.libpq_url(database_url), autocommit=True
    ) as conn:
        while time.monotonic() < deadline:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND application_name = 'scheduling_service'"
            )
            row = await cur.fetchone()
            if row and row[0] >= count:
                return
            await asyncio.sleep(0.05)
    raise TimeoutError("the calls never reached the lock")


async def test_an_unexpected_failure_is_internal_without_details(postgres_server, tmp_path) -> None:
    with postgres.migrated_database(postgres_server) as url:
        with psycopg.connect(postgres.libpq_url(url), autocommit=True) as conn:
            # A rule the code knows nothing about: its violation is a bug to the service.
            conn.execute("ALTER TABLE rooms ADD CONSTRAINT short_titles CHECK (length(title) < 5)")
        replica = SchedulingProcess(url, tmp_path).start()
        try:
            async with aio.insecure_channel(replica.address) as channel:
                stub = pb_grpc.SchedulingServiceStub(channel)
                with pytest.raises(grpc.RpcError) as raised:
                    await stub.CreateRoom(create_request(title="Long title"), metadata=auth("u"))
            seen = failure(raised.value)
            assert (seen.code, seen.reason, seen.message) == (
                grpc.StatusCode.INTERNAL,
                "INTERNAL",
                "internal error",
            )
        finally:
            assert replica.stop() == 0
        assert "short_titles" in replica.log()  # the operator sees the cause


async def test_database_unreachable_is_unavailable_and_not_ready(postgres_server, tmp_path) -> None:
    with postgres.migrated_database(postgres_server) as url:
        replica = SchedulingProcess(url, tmp_path).start()
        name = url.rsplit("/", 1)[-1].split("?")[0]
        try:
            with psycopg.connect(postgres_server, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    [name],
                )
                async with aio.insecure_channel(replica.address) as channel:
                    stub = pb_grpc.SchedulingServiceStub(channel)
                    for call in (
                        stub.CreateRoom(create_request(), metadata=auth(new_user())),
                        stub.ListRooms(pb.ListRoomsRequest(), metadata=auth(new_user())),
                    ):
                        with pytest.raises(grpc.RpcError) as raised:
                            await call
                        assert failure(raised.value).code == grpc.StatusCode.UNAVAILABLE
                    health = health_pb2_grpc.HealthStub(channel)
                    request = health_pb2.HealthCheckRequest(
                        service="scheduling.v1.SchedulingService"
                    )
                    deadline = time.monotonic() + 10
                    while (
                        await health.Check(request)
                    ).status == health_pb2.HealthCheckResponse.SERVING:
                        assert time.monotonic() < deadline, "readiness never dropped"
                        await asyncio.sleep(0.1)
                    live = await health.Check(health_pb2.HealthCheckRequest(service=""))
                    assert live.status == health_pb2.HealthCheckResponse.SERVING  # liveness
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                    room = await stub.CreateRoom(create_request(), metadata=auth(new_user()))
                    assert room.room_id
        finally:
            assert replica.stop() == 0


async def test_connections_the_database_dropped_are_replaced_without_an_error(
    postgres_server, tmp_path
) -> None:
    with postgres.migrated_database(postgres_server) as url:
        replica = SchedulingProcess(url, tmp_path).start()
        name = url.rsplit("/", 1)[-1].split("?")[0]
        try:
            async with aio.insecure_channel(replica.address) as channel:
                stub = pb_grpc.SchedulingServiceStub(channel)
                host = new_user()
                rooms = [
                    await stub.CreateRoom(create_request(), metadata=auth(host)) for _ in range(3)
                ]
                with psycopg.connect(postgres_server, autocommit=True) as admin:
                    # What a database restart does to the pool: every session is gone.
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND application_name = 'scheduling_service'",
                        [name],
                    )
                # The first calls after it succeed: the pool's dead sessions are replaced.
                got = await stub.GetRoom(
                    pb.GetRoomRequest(room_id=rooms[0].room_id), metadata=auth(host)
                )
                assert got.room_id == rooms[0].room_id
                await stub.CreateRoom(create_request(), metadata=auth(host))
        finally:
            assert replica.stop() == 0


async def test_workers_share_the_port_and_stop_together(database_url, tmp_path) -> None:
    metrics = free_port()
    replica = SchedulingProcess(
        database_url, tmp_path, SCHEDULING_WORKERS="2", METRICS_PORT=str(metrics)
    ).start()
    try:
        # The replica answers once one worker listens; each worker serves its metrics
        # once its gRPC port is bound: wait for both, or the kernel has one to pick.
        for port in (metrics, metrics + 1):
            _until_serving(port)
        # A connection each (grpc shares one between channels to one address unless each
        # channel keeps its own pool): the kernel spreads connections over the workers.
        own_connection = [("grpc.use_local_subchannel_pool", 1)]
        for _ in range(24):
            async with aio.insecure_channel(replica.address, options=own_connection) as channel:
                stub = pb_grpc.SchedulingServiceStub(channel)
                await stub.ListRooms(pb.ListRoomsRequest(page_size=1), metadata=auth("u"))
        served = [_listed(metrics + i) for i in range(2)]
        assert sum(served) == 24 and all(n > 0 for n in served), served
    finally:
        assert replica.stop() == 0
    assert replica.log().count('"event": "stopped"') == 2


def _until_serving(port: int, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            _listed(port)
            return
        except OSError:
            assert time.monotonic() < deadline, f"no worker serves metrics on {port}"
            time.sleep(0.1)


def _listed(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith('scheduling_rpcs_total{code="OK",method="ListRooms"}'):
                return float(line.split()[-1])
    return 0.0


# Start-up messages: what an operator reads when migrate or serve meets the database.


def _run_command(command: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET}
    env.pop("LOG_FORMAT", None)
    return subprocess.run(
        [sys.executable, "-m", "scheduling_service", *command.split()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _only_line(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """The one log line a failed start writes: JSON, since stderr is a pipe here."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    entry = json.loads(lines[0])
    assert isinstance(entry, dict)
    return entry


def _with_password(url: str, password: str) -> str:
    """`url` with a password (ignored by the test server's trust authentication)."""
    parsed = make_url(url)
    if parsed.password:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def test_migrate_says_from_which_revision_to_which_and_where(postgres_server) -> None:
    migrations = Path(scheduling_service.__file__).parent / "migrations"
    heads = ScriptDirectory(str(migrations)).get_heads()
    with postgres.fresh_database(postgres_server) as empty:
        url = _with_password(empty, "pw-never-in-logs")
        password = make_url(url).password
        expected_place = migrator.location(url)
        first = _run_command("migrate", url)
        again = _run_command("migrate", url)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    migrated = _only_line(first)
    assert migrated["event"] == "schema migrated"
    assert (migrated["from_revision"], migrated["to_revision"]) == ("none", ", ".join(heads))
    assert migrated["database"] == make_url(url).database
    assert migrated["host"] == expected_place["host"] and migrated["host"]
    current = _only_line(again)
    assert current["event"] == "schema already current"
    assert current["revision"] == ", ".join(heads)
    assert str(password) not in first.stderr + again.stderr


@pytest.mark.parametrize("command", ["migrate", "serve", "outbox failed"])
def test_an_unreachable_database_is_one_line_and_exit_2(command: str) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://rooms:pw-never-in-logs@127.0.0.1:{port}/rooms"
    result = _run_command(command, url)
    assert result.returncode == 2
    entry = _only_line(result)
    assert entry["event"] == "cannot connect to the database"
    assert (entry["host"], entry["database"]) == (f"127.0.0.1:{port}", "rooms")
    assert "Connection refused" in str(entry["error"])
    assert "pw-never-in-logs" not in result.stderr


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_a_sql_ascii_database_is_refused_and_says_so(command: str, postgres_server) -> None:
    name = f"rooms_ascii_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0")
    try:
        url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
        result = _run_command(command, url)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    assert result.returncode == 2
    entry = _only_line(result)
    assert entry["level"] == "error"
    assert f"database '{name}'" in str(entry["event"])
    assert "is encoded SQL_ASCII" in str(entry["event"])
    assert "needs a UTF8 database" in str(entry["event"])
