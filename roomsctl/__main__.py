"""`roomsctl` / `python -m roomsctl`: create, get, list, book, leave, wait, unwait, reschedule,
cancel, watch, token, calendar (connect, show, disconnect), feed (rotate, url, revoke).

Exit codes are in roomsctl.errors (0 ok, 2 usage/INVALID_ARGUMENT, 3 NOT_FOUND,
4 conflicts, 5 PERMISSION_DENIED/UNAUTHENTICATED, 6 FAILED_PRECONDITION, 7 other).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from roomsctl import commands, credentials, errors, times, tokens
from roomsctl.output import Renderer

DEFAULT_TARGET = "127.0.0.1:50051"

# Ping an idle watch now and then so that NATs and proxies keep the connection;
# the server accepts pings every 10 s.
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


def _epilog() -> str:
    day = times.example_day()
    return f"""\
times: ISO 8601, with an offset ({day}T17:00:00Z, {day}T18:00+01:00) or
  without one, then read in --tz ({day}T18:00). Durations: 90 (minutes), 90m, 1h30m.
exit codes: 0 ok; 2 usage or INVALID_ARGUMENT; 3 NOT_FOUND; 4 ALREADY_EXISTS or ABORTED;
  5 PERMISSION_DENIED or UNAUTHENTICATED; 6 FAILED_PRECONDITION; 7 UNAVAILABLE and others.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(errors.EXIT_USAGE, f"error: usage: {message}\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: None = None
    ) -> argparse.Namespace:
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            # argparse would quote them; after `calendar` a stray value may be a secret.
            shown = _redacted(extra) if parsed.command == "calendar" else " ".join(extra)
            self.error(f"unrecognized arguments: {shown}")
        return parsed


_OPTION_NAME = re.compile(r"--?[a-z][a-z0-9-]*")


def _redacted(extra: Sequence[str]) -> str:
    """Option names as typed; every other word only counted, never shown."""
    shown: list[str] = []
    hidden = 0
    for word in extra:
        name, equals, _ = word.partition("=")
        if _OPTION_NAME.fullmatch(name):
            shown.append(name)
            hidden += bool(equals)
        else:
            hidden += 1
    if hidden:
        shown.append(f"({hidden} value{'s' if hidden > 1 else ''} not shown)")
    return " ".join(shown)


class _Refused(argparse.Action):
    """An option that would put a secret on the command line: refused, value unseen."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        parser.error(
            f"{option_string} is not accepted: a secret on the command line lands in the "
            f"shell history and in ps; the password comes from {credentials.PASSWORD_ENV} "
            "or the prompt, a refresh token from --google-refresh-token-env VAR"
        )


def _add_global_options(
    parser: argparse.ArgumentParser, env: Mapping[str, str], *, defaults: bool
) -> None:
    """Options accepted before and after the subcommand; after it, unset means unchanged."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--target",
        default=default(env.get("SCHEDULING_TARGET") or DEFAULT_TARGET),
        help=f"scheduling service host:port (env SCHEDULING_TARGET; default {DEFAULT_TARGET})",
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        default=default(None),
        help="act as USER with a development token signed here (needs the secret)",
    )
    who.add_argument("--token", default=default(None), help="bearer token (env ROOMS_TOKEN)")
    parser.add_argument(
        "--jwt-secret",
        default=default(None),
        help="HS256 secret for --as (env JWT_SECRET); development only",
    )
    parser.add_argument(
        "--email",
        default=default(None),
        help="with --as: the token's email claim, where invites go (default USER@example.com)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="proto3 JSON output, one object per line",
    )
    parser.add_argument(
        "--tz", default=default(None), help="time zone for times shown and typed (default: local)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=default(None),
        help=f"deadline in seconds (default {commands.DEFAULT_TIMEOUT_S:g}); watch: stop after it",
    )


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = _Parser(
        prog="roomsctl",
        description="Command-line client of the practice-room scheduling service.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(parser, env, defaults=True)
    # The same options after the subcommand (`roomsctl watch --json`) override them.
    common = _Parser(add_help=False)
    _add_global_options(common, env, defaults=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = sub.add_parser("create", parents=[common], help="create a room (you are its host)")
    create.add_argument("--title", required=True)
    create.add_argument("--start", required=True, help="start time")
    create.add_argument("--topic", required=True, help="topic of the first round")
    create.add_argument("--duration", help="default 60 minutes")
    create.add_argument("--description")
    create.add_argument("--request-id", help="UUID: a retry with it returns the same room")
    create.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the new room's id, for a shell: ROOM=$(roomsctl create -q ...)",
    )

    get = sub.add_parser("get", parents=[common], help="show one room")
    get.add_argument("room_id")

    listing = sub.add_parser("list", parents=[common], help="list rooms by start time")
    listing.add_argument("--open-only", action="store_true", help="only rooms without a guest")
    listing.add_argument("--participant", metavar="USER", help="only rooms USER hosts or booked")
    listing.add_argument("--after", help="only rooms starting at or after this time")
    listing.add_argument("--before", help="only rooms starting before this time")
    listing.add_argument(
        "--bookable",
        action="store_true",
        help="only rooms you could book now (open, not yours, not started, clear of your sessions)",
    )
    listing.add_argument(
        "--query",
        metavar="WORDS",
        help="only rooms with every word in title, topics or description",
    )
    listing.add_argument("--min-duration", metavar="DURATION", help="e.g. 45m")
    listing.add_argument("--max-duration", metavar="DURATION", help="e.g. 2h")
    listing.add_argument("--page-size", type=int)
    listing.add_argument("--page-token")
    listing.add_argument("--all", action="store_true", help="follow every page")

    book = sub.add_parser("book", parents=[common], help="book an open room")
    book.add_argument("room_id")
    book.add_argument("--request-id")

    leave = sub.add_parser("leave", parents=[common], help="withdraw from a room you booked")
    leave.add_argument("room_id")

    wait = sub.add_parser(
        "wait",
        parents=[common],
        help="join a taken room's waitlist (first in line: held for you, by e-mail)",
    )
    wait.add_argument("room_id")
    unwait = sub.add_parser(
        "unwait", parents=[common], help="leave a room's waitlist (and any hold you have)"
    )
    unwait.add_argument("room_id")

    reschedule = sub.add_parser("reschedule", parents=[common], help="move a room you host")
    reschedule.add_argument("room_id")
    reschedule.add_argument("--start", required=True, help="new start time")
    reschedule.add_argument("--duration", help="new length (default: unchanged)")
    reschedule.add_argument("--etag", help="act only if the room is still at this etag")

    cancel = sub.add_parser("cancel", parents=[common], help="cancel a room you host")
    cancel.add_argument("room_id")
    cancel.add_argument("--reason", help="told to the participants")
    cancel.add_argument("--etag", help="act only if the room is still at this etag")

    watch = sub.add_parser(
        "watch", parents=[common], help="print changes as they happen, until Ctrl-C"
    )
    watch.add_argument(
        "--since", type=int, metavar="REVISION", help="resume after REVISION (default: snapshot)"
    )
    watch.add_argument("--open-only", action="store_true")
    watch.add_argument("--participant", metavar="USER")

    sub.add_parser(
        "token",
        parents=[common],
        help="print the bearer token --as USER sends (for grpcurl and other clients)",
    )

    _add_calendar(sub, common)
    _add_feed(sub, common)
    return parser


def _add_calendar(sub: Any, common: argparse.ArgumentParser) -> None:
    calendar = sub.add_parser(
        "calendar",
        parents=[common],
        help="your own calendar (CalDAV, Google): connect, show, disconnect",
        description="Each session you host or book is written into your connected calendar.",
    )
    actions = calendar.add_subparsers(dest="calendar_command", required=True, metavar="ACTION")

    connect = actions.add_parser(
        "connect",
        parents=[common],
        # No abbreviations: `--google-refresh-token SECRET` must not pass as `...-env`.
        allow_abbrev=False,
        help="connect it (connecting again replaces the connection)",
        description=(
            "Connect your calendar: the service checks it (it takes events, you may write "
            "it) before answering. Secrets are never arguments: the password comes from "
            f"{credentials.PASSWORD_ENV}, or is asked for on a terminal; a Google refresh "
            "token from the environment variable named by --google-refresh-token-env."
        ),
    )
    connect.add_argument(
        "url",
        metavar="URL",
        help="https URL of the calendar collection, or of the server or principal to find it",
    )
    how = connect.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--username",
        help=f"CalDAV user name; its (app) password from {credentials.PASSWORD_ENV} or a prompt",
    )
    how.add_argument(
        "--google-refresh-token-env",
        metavar="VAR",
        help="name of the environment variable that holds a Google OAuth refresh token",
    )
    connect.add_argument(
        "--email-invites",
        action="store_true",
        help="keep the e-mail invitations too (default: only the calendar; reminders "
        "are e-mail either way)",
    )
    for refused in ("--password", "--refresh-token", "--google-refresh-token"):
        connect.add_argument(refused, nargs="?", action=_Refused, help=argparse.SUPPRESS)

    actions.add_parser("show", parents=[common], help="show your calendar connection")
    disconnect = actions.add_parser(
        "disconnect", parents=[common], help="stop writing sessions into your calendar"
    )
    disconnect.add_argument(
        "--remove-events",
        action="store_true",
        help="also delete the sessions already written into it (in the background)",
    )


def _add_feed(sub: Any, common: argparse.ArgumentParser) -> None:
    feed = sub.add_parser(
        "feed",
        parents=[common],
        help="a secret URL your calendar application subscribes to: rotate, url, revoke",
        description=(
            "Your sessions, hosted and booked, as an iCalendar feed that any calendar "
            "application can subscribe to by URL (Google Calendar: add other calendars, "
            "from URL; Outlook: subscribe from web; Apple Calendar: new calendar "
            "subscription). The URL is the credential: whoever holds it reads your "
            "sessions, so keep it to yourself, and rotate it if it leaks. The service keeps "
            "only a hash of its token, so it cannot show a URL again: `rotate` and `url` "
            "make a new one and end the previous one at once."
        ),
    )
    actions = feed.add_subparsers(dest="feed_command", required=True, metavar="ACTION")
    actions.add_parser(
        "rotate",
        parents=[common],
        help="make a new feed URL and end the previous one; shows the URL once",
        description=(
            "Make a new feed URL (the first, or in place of the one you have: that one stops "
            "working now) and show it, with its webcal:// form, this once."
        ),
    )
    actions.add_parser(
        "url",
        parents=[common],
        help="like rotate, but print only the new URL (roomsctl feed url | xclip)",
        description=(
            "Make a new feed URL and print it alone on stdout, for scripts "
            "(`roomsctl feed url | xclip`; --json changes nothing). It is a new URL, never "
            "the one you have: the service keeps only a hash of the token, so it cannot "
            "show an existing one; the previous URL stops working now."
        ),
    )
    actions.add_parser(
        "revoke",
        parents=[common],
        help="end your feed: its URL stops working (NOT_FOUND when you have none)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        tz = times.zone(args.tz)
        token = tokens.resolve(
            as_user=args.as_user,
            token=args.token,
            jwt_secret=args.jwt_secret,
            env=os.environ,
            email=args.email,
            zone_name=getattr(tz, "key", None),
        )
        if args.command == "token":
            return commands.print_token(token)
        with grpc.insecure_channel(args.target, options=CHANNEL_OPTIONS) as channel:
            ctx = commands.Context(
                stub=pb_grpc.SchedulingServiceStub(channel),
                metadata=tokens.metadata(token),
                timeout=args.timeout,
                render=Renderer(json=args.json, tz=tz),
                tz=tz,
            )
            return commands.COMMANDS[args.command](ctx, args)
    except errors.CliError as error:
        print(f"error: {errors.one_line(error.message)}", file=sys.stderr)
        return error.exit_code
    except grpc.RpcError as error:
        failure = errors.describe(error)
        print(failure.line(args.target), file=sys.stderr)
        return failure.exit_code
    except KeyboardInterrupt:
        return errors.EXIT_INTERRUPTED
    except BrokenPipeError:
        # `roomsctl watch | head`: the reader left; stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
