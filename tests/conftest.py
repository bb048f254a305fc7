"""Session-wide fixtures: one throwaway PostgreSQL and one migrated database.

Markers are explicit: a module whose tests start PostgreSQL or a service process says
`pytestmark = pytest.mark.slow`, and `pytest -m "not slow"` is the quick loop. A test
that needs PostgreSQL without the mark is a collection error, so the quick loop never
starts a database by accident.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import postgres


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        # fixturenames is the closure pytest resolved: a fixture of the same name that
        # needs no database (a fake) does not count.
        if "postgres_server" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests that start PostgreSQL must be marked slow:\n  " + "\n  ".join(unmarked)
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with postgres.server_url() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(postgres_server: str) -> Iterator[str]:
    """A database at the latest schema, shared by the session's tests."""
    with postgres.migrated_database(postgres_server) as url:
        yield url
