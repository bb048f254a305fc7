"""Session-wide fixtures: one throwaway PostgreSQL, one migrated database; a whole mail
path per test (`system`, tests/mail_system.py); and the `slow` mark on every test that
needs a database or a server process (`pytest -m "not slow"` is the quick loop; modules
that start processes themselves mark themselves)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres
from tests.mail_system import System
from tests.smtp_sink import start_sink

# Fixtures that start PostgreSQL or a service process, directly or through another.
_SLOW_FIXTURES = {"postgres_server", "database_url", "server", "second_server", "db", "system"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        needs_servers = _SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        if needs_servers or item.get_closest_marker("e2e"):  # e2e: gateways, containers
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def system(postgres_server: str, tmp_path: Path) -> Iterator[System]:
    controller, sink = start_sink()
    with postgres.migrated_database(postgres_server) as url:
        running = System(url, sink, tmp_path)
        try:
            yield running
        finally:
            codes = [p.stop() for p in reversed(running.processes) if p.process.poll() is None]
            controller.stop()
            assert all(code == 0 for code in codes), codes


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with postgres.server_url() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(postgres_server: str) -> Iterator[str]:
    """A database at the latest schema, shared by the session's tests."""
    with postgres.migrated_database(postgres_server) as url:
        yield url
