"""`python -m scheduling_service outbox …`: operators' view of undelivered invites."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime, timedelta

from scheduling_service.adapters.database import PostgresDatabase
from scheduling_service.config import Settings
from scheduling_service.service_layer.ports import UnitOfWork


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = subparsers.add_parser("outbox", help="list, retry or purge invite messages")
    actions = outbox.add_subparsers(dest="action", required=True)
    failed = actions.add_parser("failed", help="list messages given up on, as JSON lines")
    failed.add_argument("--limit", type=int, default=100)
    retry = actions.add_parser("retry", help="queue failed messages again")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, action="append", dest="ids", help="an outbox id")
    which.add_argument("--all", action="store_true", help="every failed message")
    purge = actions.add_parser("purge", help="delete finished messages past a retention")
    purge.add_argument("--older-than-hours", type=float, help="default OUTBOX_RETENTION_H (168)")


async def run(args: argparse.Namespace, settings: Settings, database_url: str) -> int:
    database = PostgresDatabase(database_url, settings)
    await database.open()
    try:
        return await database.run(lambda uow: _act(args, settings, uow))
    finally:
        await database.close()


async def _act(args: argparse.Namespace, settings: Settings, uow: UnitOfWork) -> int:
    if args.action == "failed":
        failed = await uow.outbox.failed(args.limit)
        for message in failed:
            print(json.dumps(dataclasses.asdict(message), default=str))
        if not failed:
            print("no failed messages", file=sys.stderr)
    elif args.action == "retry":
        ids = await uow.outbox.retry_failed(None if args.all else args.ids)
        print(f"queued again: {len(ids)} {ids}")
        skipped = set(args.ids or ()) - set(ids)
        if skipped:
            print(
                f"not queued (not failed, unknown, or superseded): {sorted(skipped)}",
                file=sys.stderr,
            )
    else:
        hours = args.older_than_hours
        if hours is None:
            hours = settings.outbox_retention_h
        deleted = await uow.outbox.purge(datetime.now(UTC) - timedelta(hours=hours))
        print(f"deleted: {deleted}")
    return 0
