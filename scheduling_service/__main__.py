"""`python -m scheduling_service migrate | serve | outbox …`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from scheduling_service.adapters import embedded_postgres, migrator
from scheduling_service.config import ConfigError, Settings
from scheduling_service.entrypoints import outbox_cli, workers
from servicekit import logs
from servicekit.logs import get_logger

log = get_logger("scheduling_service")

# RFC 7518 §3.2: an HS256 key of at least 256 bits; a shorter one can be guessed
# offline from any one token, and then anyone can sign in as anyone.
_JWT_SECRET_MIN_BYTES = 32


class NoDatabase(Exception):
    """Neither DATABASE_URL nor EMBEDDED_POSTGRES: a production command never guesses."""


def _database_url(settings: Settings) -> tuple[str, Any]:
    """DATABASE_URL, or an embedded server's when EMBEDDED_POSTGRES asks for one; the
    second item keeps that server in use for as long as the caller holds it (pgserver
    stops it when its last user exits)."""
    if settings.database_url:
        return settings.database_url, None
    if not settings.embedded_postgres:
        raise NoDatabase(
            "DATABASE_URL is not set: set it to the service's PostgreSQL"
            " (postgresql://user:password@host:5432/rooms), or set EMBEDDED_POSTGRES=true"
            " for a throwaway local database in development (make run does)"
        )
    return embedded_postgres.start(settings.embedded_db_dir)


def _jwt_secret_problem(secret: str) -> str | None:
    """Why `serve` must not verify tokens with this secret, or None. The message never
    holds the secret."""
    if not secret:
        return "JWT_SECRET is not set: refusing to serve without token verification"
    # Env has refused bytes that are not UTF-8 (surrogates are control characters to it).
    size = len(secret.encode("utf-8", "surrogateescape"))
    if size < _JWT_SECRET_MIN_BYTES:
        return (
            f"JWT_SECRET is {size} bytes: refusing to serve with an HS256 key shorter than"
            f" {_JWT_SECRET_MIN_BYTES} bytes (RFC 7518 §3.2); make one with"
            " python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduling_service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring the database schema to the latest version")
    sub.add_parser("serve", help="run the gRPC server until SIGTERM")
    outbox_cli.add_commands(sub)
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    try:
        logs.configure("scheduling_service", settings.log_level)
    except logs.LogFormatError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2

    problem = _jwt_secret_problem(settings.jwt_secret) if args.command == "serve" else None
    if problem:
        log.error(problem)
        return 2
    try:
        url, _embedded = _database_url(settings)
    except NoDatabase as error:
        log.error(str(error))
        return 2
    where = migrator.location(url)
    try:
        if args.command == "migrate":
            _migrate(url, where)
            return 0
        if args.command == "outbox":
            migrator.check_database(url)
            return asyncio.run(outbox_cli.run(args, settings, url))
        migrator.check_current(url)
    except migrator.DatabaseUnreachable as error:
        log.error("cannot connect to the database", **where, error=str(error))
        return 2
    except (migrator.UnsupportedDatabase, migrator.SchemaOutOfDate) as error:
        log.error(str(error), **where)
        return 2
    if settings.workers > 1:
        return workers.supervise(settings, url)
    from scheduling_service.entrypoints.server import serve  # after logging is set up

    asyncio.run(serve(settings, url))
    return 0


def _migrate(url: str, where: dict[str, str]) -> None:
    migration = migrator.upgrade_to_head(url)
    if migration.changed:
        log.info(
            "schema migrated",
            from_revision=migration.before,
            to_revision=migration.after,
            **where,
        )
    else:
        log.info("schema already current", revision=migration.after, **where)


if __name__ == "__main__":
    sys.exit(main())
