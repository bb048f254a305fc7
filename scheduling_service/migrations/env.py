"""Alembic environment: the caller (scheduling_service.adapters.migrator) hands over an open
connection in a transaction, so that it can read the revision before and after on it;
without one (the alembic command line), the URL it set."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from scheduling_service.adapters.database import migration_connection


def _run(connection: Connection) -> None:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if isinstance(given, Connection):
    _run(given)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "scheduling_service.adapters.migrator sets sqlalchemy.url"
    with migration_connection(url) as connection:
        _run(connection)
