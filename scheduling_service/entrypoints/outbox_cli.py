"""`python -m scheduling_service outbox …`: operators' view of undelivered invites,
reminders and notices, and of calendar copies given up on (their lines carry
`"kind": "calendar"` and are keyed by room and user)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import uuid
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
    which.add_argument(
        "--calendar",
        action="append",
        dest="copies",
        metavar="ROOM_ID:USER_ID",
        type=_copy_key,
        help="a calendar copy",
    )
    which.add_argument("--all", action="store_true", help="every failed message and copy")
    purge = actions.add_parser("purge", help="delete finished messages past a retention")
    purge.add_argument("--older-than-hours", type=float, help="default OUTBOX_RETENTION_H (168)")


def _copy_key(value: str) -> tuple[uuid.UUID, str]:
    room, sep, user = value.partition(":")
    try:
        if not sep or not user:
            raise ValueError(value)
        return uuid.UUID(room), user
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not ROOM_ID:USER_ID") from None


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
        copies = await uow.calendars.failed(args.limit)
        for message in failed:
            print(json.dumps({"kind": "mail", **dataclasses.asdict(message)}, default=str))
        for copy in copies:
            print(json.dumps({"kind": "calendar", **dataclasses.asdict(copy)}, default=str))
        if not failed and not copies:
            print("no failed messages", file=sys.stderr)
    elif args.action == "retry":
        if args.all or args.ids:
            ids = await uow.outbox.retry_failed(None if args.all else args.ids)
            print(f"queued again: {len(ids)} {ids}")
            skipped = set(args.ids or ()) - set(ids)
            if skipped:
                print(
                    f"not queued (not failed, unknown, or superseded): {sorted(skipped)}",
                    file=sys.stderr,
                )
        if args.all or args.copies:
            keys = await uow.calendars.retry_failed(None if args.all else args.copies)
            print(f"calendar copies queued again: {len(keys)}")
            missed = set(args.copies or ()) - set(keys)
            if missed:
                shown = sorted(f"{room}:{user}" for room, user in missed)
                print(f"not queued (not failed, or unknown): {shown}", file=sys.stderr)
    else:
        hours = args.older_than_hours
        if hours is None:
            hours = settings.outbox_retention_h
        before = datetime.now(UTC) - timedelta(hours=hours)
        deleted = await uow.outbox.purge(before)
        removed = await uow.calendars.purge(before)
        print(f"deleted: {deleted}")
        print(f"calendar copies deleted: {removed}")
    return 0
