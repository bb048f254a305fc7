"""Session-wide fixtures: one throwaway PostgreSQL, one migrated database; and the
`slow` mark on every test that needs a database or a server process (`pytest -m "not
slow"` is the quick loop; modules that start processes themselves mark themselves)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scheduling_service.adapters import schema
from tests import postgres

# Fixtures that start PostgreSQL or a service process, directly or through another.
_SLOW_FIXTURES = {"postgres_server", "database_url", "server", "second_server", "db"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with postgres.server_url() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(postgres_server: str) -> Iterator[str]:
    """A database at the latest schema, shared by the session's tests."""
    with postgres.fresh_database(postgres_server) as url:
        schema.upgrade_to_head(url)
        yield url
