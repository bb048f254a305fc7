"""Alembic environment: the URL comes from the caller (adapters/schema.py)."""

from __future__ import annotations

from alembic import context

from scheduling_service.adapters.database import migration_connection

url = context.config.get_main_option("sqlalchemy.url")
assert url, "adapters/schema.py sets sqlalchemy.url"
with migration_connection(url) as connection:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
