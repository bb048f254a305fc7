"""A throwaway PostgreSQL database for the test session.

TEST_DATABASE_URL, when set, names a server to create the database in; otherwise an
embedded server (pgserver) starts in a temporary directory and is deleted afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
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
def fresh_database(server: str, *, template: str = "template1") -> Iterator[str]:
    """Create a database on `server` (empty, or a copy of `template`), yield its URL,
    drop it afterwards."""
    name = f"rooms_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = _database(server, name)
    try:
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Per server: a database at the schema's head, migrated once per test process, that
# each migrated database is copied from (a copy takes milliseconds, a migration ~1 s).
_templates: dict[str, str] = {}


@contextmanager
def migrated_database(server: str) -> Iterator[str]:
    """A new database on `server` at the latest schema; dropped afterwards."""
    if server not in _templates:
        from scheduling_service.adapters import migrator

        name = f"rooms_template_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        migrator.upgrade_to_head(_database(server, name))
        atexit.register(_drop, server, name)
        _templates[server] = name
    with fresh_database(server, template=_templates[server]) as url:
        yield url


def _drop(server: str, name: str) -> None:
    # A server the session started itself is gone by now; a given one keeps no litter.
    with contextlib.suppress(psycopg.Error), psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _database(server: str, name: str) -> str:
    return make_url(server).set(database=name).render_as_string(hide_password=False)
