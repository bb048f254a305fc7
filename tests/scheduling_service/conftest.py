"""A scheduling server process for the module's tests, and a channel to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.processes import SchedulingProcess


@pytest.fixture(scope="session")
def server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SchedulingProcess]:
    process = SchedulingProcess(database_url, tmp_path_factory.mktemp("logs")).start()
    yield process
    assert process.stop() == 0, process.log()


@pytest.fixture
async def stub(server: SchedulingProcess) -> AsyncIterator[pb_grpc.SchedulingServiceStub]:
    async with aio.insecure_channel(server.address) as channel:
        yield pb_grpc.SchedulingServiceStub(channel)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A direct connection for checking what is stored."""
    with psycopg.connect(
        database_url.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as conn:
        yield conn


@pytest.fixture(scope="session")
def second_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SchedulingProcess]:
    """Another replica on the same database."""
    process = SchedulingProcess(database_url, tmp_path_factory.mktemp("logs2")).start()
    yield process
    assert process.stop() == 0, process.log()
