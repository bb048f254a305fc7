"""Session-wide fixtures: one throwaway PostgreSQL, one migrated database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scheduling_service.adapters import schema
from tests import postgres


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
