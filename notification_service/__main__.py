"""`python -m notification_service serve`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from notification_service.entrypoints.config import Config, ConfigError, check_exposure
from servicekit.logs import LogFormatError, configure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m notification_service",
        description="Renders calendar invitations and delivers them by e-mail.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve gRPC on NOTIFICATION_LISTEN until SIGTERM")
    parser.parse_args(argv)

    try:
        config = Config.from_env()
        check_exposure(config)
        configure("notification_service", config.log_level)
    except (ConfigError, LogFormatError) as exc:
        print(f"notification_service: configuration error: {exc}", file=sys.stderr)
        return 2

    from notification_service.entrypoints.server import serve  # after logging is set up

    try:
        asyncio.run(serve(config))
    except ConfigError as exc:
        print(f"notification_service: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
