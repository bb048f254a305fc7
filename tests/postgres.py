"""A throwaway PostgreSQL database for the test session.

TEST_DATABASE_URL, when set, names a server to create the database in; otherwise an
embedded server (pgserver) starts in a temporary directory and is deleted afterwards.
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url


def libpq_url(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def server_url(variable: str = "TEST_DATABASE_URL") -> Iterator[str]:
    """The server `variable` names (a libpq URL), or a throwaway embedded one."""
    given = os.environ.get(variable)
    if given:
        yield libpq_url(given)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        with tempfile.TemporaryDirectory(prefix="rooms-pg-") as data_dir:
            server = pgserver.get_server(data_dir, cleanup_mode="delete")
            try:
                yield str(server.get_uri())
            finally:
                server.cleanup()


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """Create an empty database on `server`, yield its URL, drop it afterwards."""
    name = f"rooms_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
