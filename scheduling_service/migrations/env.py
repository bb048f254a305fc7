"""Alembic environment: the URL comes from the caller (scheduling_service.schema)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from scheduling_service.adapters.database import sqlalchemy_url

url = context.config.get_main_option("sqlalchemy.url")
assert url, "scheduling_service.schema sets sqlalchemy.url"
engine = create_engine(sqlalchemy_url(url))
with engine.connect() as connection:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
