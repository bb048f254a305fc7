"""Schema migrations (Alembic) and the start-up check that the schema is current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from scheduling_service.adapters.database import migration_connection

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    pass


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    # configparser interpolation would read a '%' in a password as a directive.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_to_head(url: str) -> None:
    command.upgrade(_config(url), "head")


def check_current(url: str) -> None:
    heads = set(ScriptDirectory.from_config(_config(url)).get_heads())
    with migration_connection(url) as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != heads:
        raise SchemaOutOfDate(
            f"database schema is at {sorted(current) or 'nothing'}, the code needs"
            f" {sorted(heads)}: run `python -m scheduling_service migrate`"
        )
