"""Runs the schema migrations (Alembic, scheduling_service/migrations/) and the
start-up checks: the database can be reached, holds Unicode, and its schema is current.
The schema itself is described in adapters/tables/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import Connection
from sqlalchemy.exc import ArgumentError

from scheduling_service.adapters.database import (
    libpq_url,
    migration_connection,
    server_encoding,
)

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    pass


class DatabaseUnreachable(RuntimeError):
    """No connection could be made (down, wrong address, refused credentials)."""


class UnsupportedDatabase(RuntimeError):
    """Connected, but the database cannot hold what the service stores."""


@dataclass(frozen=True)
class Migration:
    before: str  # revision(s) the database was at, "none" when it had no schema
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def location(url: str) -> dict[str, str]:
    """Where `url` points, for logs: host (and port) and database name, never the
    user's password."""
    try:
        parts = conninfo_to_dict(libpq_url(url))
    except (ArgumentError, ValueError, psycopg.Error):
        return {"host": "?", "database": "?"}  # check_database says what is wrong
    host = str(parts.get("host") or "local socket")
    port = parts.get("port")
    if port and "," not in host:
        host = f"{host}:{port}"
    return {"host": host, "database": str(parts.get("dbname") or parts.get("user") or "")}


def check_database(url: str) -> None:
    """Raise DatabaseUnreachable or UnsupportedDatabase before anything else connects.

    The encoding is read here, with psycopg alone, because SQLAlchemy's first connect to
    a SQL_ASCII database already fails (psycopg hands it bytes, and its version check
    raises a TypeError that names nothing).
    """
    where = location(url)
    try:
        encoding = server_encoding(url)
    except psycopg.OperationalError as error:
        raise DatabaseUnreachable(" ".join(str(error).split())) from None
    except (ArgumentError, ValueError, psycopg.ProgrammingError) as error:
        # The messages name the bad part, never the password.
        problem = " ".join(str(error).split())
        raise DatabaseUnreachable(f"DATABASE_URL is not a PostgreSQL URL: {problem}") from None
    if encoding != "UTF8":
        raise UnsupportedDatabase(
            f"database {where['database']!r} on {where['host']} is encoded {encoding}:"
            " the service stores Unicode text and needs a UTF8 database (create it with"
            " ENCODING 'UTF8' TEMPLATE template0, and copy the data over if there is any)"
        )


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    # configparser interpolation would read a '%' in a password as a directive.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _revisions(conn: Connection) -> str:
    return ", ".join(sorted(MigrationContext.configure(conn).get_current_heads())) or "none"


def upgrade_to_head(url: str) -> Migration:
    """Bring the schema to the latest revision, in one transaction; say from where to where."""
    check_database(url)
    with migration_connection(url, transaction=True) as conn:
        before = _revisions(conn)
        cfg = _config(url)
        cfg.attributes["connection"] = conn  # migrations/env.py runs on this connection
        command.upgrade(cfg, "head")
        return Migration(before=before, after=_revisions(conn))


def check_current(url: str) -> None:
    check_database(url)
    heads = set(ScriptDirectory.from_config(_config(url)).get_heads())
    with migration_connection(url) as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != heads:
        raise SchemaOutOfDate(
            f"database schema is at {sorted(current) or 'nothing'}, the code needs"
            f" {sorted(heads)}: run `python -m scheduling_service migrate`"
        )
