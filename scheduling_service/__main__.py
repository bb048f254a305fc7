"""`python -m scheduling_service migrate | serve`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from contextlib import ExitStack
from typing import Any

from scheduling_service.adapters import embedded_postgres, schema
from scheduling_service.config import ConfigError, Settings
from scheduling_service.entrypoints import outbox_cli
from servicekit import logs

log = logging.getLogger("scheduling_service")


def _database_url(settings: Settings, stack: ExitStack) -> str:
    if settings.database_url:
        return settings.database_url
    url, server = embedded_postgres.start(settings.embedded_db_dir)
    stack.callback(_release, server)
    return url


def _release(server: Any) -> None:
    # pgserver stops the server when its last user process exits; nothing else to do.
    del server


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
    logs.configure("scheduling_service", settings.log_level)

    with ExitStack() as stack:
        if args.command == "migrate":
            url = _database_url(settings, stack)
            schema.upgrade_to_head(url)
            log.info("schema is at head")
            return 0
        if args.command == "outbox":
            url = _database_url(settings, stack)
            return asyncio.run(outbox_cli.run(args, settings, url))
        if not settings.jwt_secret:
            log.error("JWT_SECRET is not set: refusing to serve without token verification")
            return 2
        url = _database_url(settings, stack)
        try:
            schema.check_current(url)
        except schema.SchemaOutOfDate as error:
            log.error(str(error))
            return 2
        from scheduling_service.entrypoints.server import serve

        asyncio.run(serve(settings, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
