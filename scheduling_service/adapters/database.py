"""Engine construction: one place that knows the driver, pool and session settings."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from scheduling_service.config import Settings


def sqlalchemy_url(url: str) -> str:
    """Accept plain `postgresql://` URLs too, and always use the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def async_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        connect_args={
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}"
            f" -c lock_timeout={settings.db_statement_timeout_ms}"
            " -c idle_in_transaction_session_timeout=60000 -c timezone=UTC",
            "application_name": "scheduling_service",
            "connect_timeout": 5,
        },
    )


def sync_engine(url: str) -> Engine:
    return create_engine(sqlalchemy_url(url), connect_args={"connect_timeout": 5})


def libpq_url(url: str) -> str:
    """The same database as a plain libpq URL, for psycopg connections of our own."""
    return (
        make_url(sqlalchemy_url(url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
