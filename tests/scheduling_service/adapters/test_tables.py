"""The migrations and the Table metadata describe the same schema.

Both are built, each in a throwaway database (Alembic's upgrade; metadata.create_all),
and PostgreSQL's own catalog of each is compared: columns, constraints (CHECK and
EXCLUDE included, which Alembic's autogenerate does not compare) and indexes.
"""

from __future__ import annotations

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from scheduling_service.adapters import migrator, tables
from scheduling_service.adapters.database import sqlalchemy_url
from tests import postgres

pytestmark = pytest.mark.slow

_COLUMNS = """
    SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
           is_identity, identity_generation
      FROM information_schema.columns WHERE table_schema = 'public'
       AND table_name <> 'alembic_version'
"""
_CONSTRAINTS = """
    SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
       AND conrelid::regclass::text <> 'alembic_version'
"""
_INDEXES = """
    SELECT tablename, indexname, indexdef FROM pg_indexes
     WHERE schemaname = 'public' AND tablename <> 'alembic_version'
"""


def _catalog(url: str) -> dict[str, set[tuple[object, ...]]]:
    with psycopg.connect(postgres.libpq_url(url)) as conn:
        return {
            name: set(conn.execute(sql).fetchall())
            for name, sql in (
                ("columns", _COLUMNS),
                ("constraints", _CONSTRAINTS),
                ("indexes", _INDEXES),
            )
        }


def test_migrations_and_metadata_build_the_same_schema(postgres_server: str) -> None:
    with (
        postgres.fresh_database(postgres_server) as migrated,
        postgres.fresh_database(postgres_server) as declared,
    ):
        migrator.upgrade_to_head(migrated)
        engine = create_engine(sqlalchemy_url(declared))
        try:
            tables.metadata.create_all(engine)
        finally:
            engine.dispose()
        from_migrations, from_metadata = _catalog(migrated), _catalog(declared)
        assert from_migrations["columns"]  # the comparison is of something
        for part in ("columns", "constraints", "indexes"):
            assert from_migrations[part] - from_metadata[part] == set(), part
            assert from_metadata[part] - from_migrations[part] == set(), part


def test_alembic_sees_no_difference_either(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, tables.metadata) == []
    finally:
        engine.dispose()
