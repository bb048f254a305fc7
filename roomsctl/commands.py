"""One function per subcommand: build the request, call, render. Errors propagate."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import tzinfo

import grpc
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from roomsctl import credentials, times
from roomsctl.errors import CliError
from roomsctl.output import Renderer

# Unary calls get this deadline unless --timeout says otherwise; `watch` gets none.
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Context:
    stub: pb_grpc.SchedulingServiceStub
    metadata: tuple[tuple[str, str], ...]
    timeout: float | None
    render: Renderer
    tz: tzinfo

    @property
    def unary_timeout(self) -> float:
        return DEFAULT_TIMEOUT_S if self.timeout is None else self.timeout


def create(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.CreateRoomRequest(
        title=args.title,
        description=args.description or "",
        start_time=times.timestamp(times.parse_time(args.start, ctx.tz, "--start")),
        first_round_topic=args.topic,
        request_id=args.request_id or "",
    )
    if args.duration:
        request.duration.CopyFrom(times.parse_duration(args.duration, "--duration"))
    room = ctx.stub.CreateRoom(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    if args.quiet:
        print(room.room_id, flush=True)
    else:
        ctx.render.room(room, f"created room {room.room_id}")
    return 0


def get(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.GetRoomRequest(room_id=args.room_id)
    room = ctx.stub.GetRoom(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    ctx.render.room(room, f"room {room.room_id}")
    return 0


def list_rooms(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.ListRoomsRequest(
        page_size=args.page_size or 0,
        page_token=args.page_token or "",
        open_only=args.open_only,
        participant_id=args.participant or "",
        bookable=args.bookable,
        query=args.query or "",
    )
    if args.min_duration:
        request.min_duration.CopyFrom(times.parse_duration(args.min_duration, "--min-duration"))
    if args.max_duration:
        request.max_duration.CopyFrom(times.parse_duration(args.max_duration, "--max-duration"))
    if args.after:
        request.start_after.CopyFrom(
            times.timestamp(times.parse_time(args.after, ctx.tz, "--after"))
        )
    if args.before:
        request.start_before.CopyFrom(
            times.timestamp(times.parse_time(args.before, ctx.tz, "--before"))
        )
    pages: list[str] = []

    def rooms() -> Iterator[pb.Room]:
        while True:
            page = ctx.stub.ListRooms(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
            yield from page.rooms
            if not page.next_page_token or not args.all:
                pages.append(page.next_page_token)
                return
            request.page_token = page.next_page_token

    ctx.render.rooms(rooms())
    if pages and pages[-1]:
        print(f"more rooms: --page-token {pages[-1]} (or --all)", file=sys.stderr)
    return 0


def book(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.BookRoomRequest(room_id=args.room_id, request_id=args.request_id or "")
    room = ctx.stub.BookRoom(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    ctx.render.room(room, f"booked room {room.room_id}")
    return 0


def leave(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.LeaveRoomRequest(room_id=args.room_id)
    room = ctx.stub.LeaveRoom(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    ctx.render.room(room, f"left room {room.room_id}")
    return 0


def wait(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.JoinWaitlistRequest(room_id=args.room_id)
    room = ctx.stub.JoinWaitlist(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    place = room.waitlist.your_position
    ctx.render.room(room, f"waiting for room {room.room_id}: number {place} in line")
    return 0


def unwait(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.LeaveWaitlistRequest(room_id=args.room_id)
    room = ctx.stub.LeaveWaitlist(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    ctx.render.room(room, f"no longer waiting for room {room.room_id}")
    return 0


def reschedule(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.RescheduleRoomRequest(
        room_id=args.room_id,
        start_time=times.timestamp(times.parse_time(args.start, ctx.tz, "--start")),
        etag=args.etag or "",
    )
    if args.duration:
        request.duration.CopyFrom(times.parse_duration(args.duration, "--duration"))
    room = ctx.stub.RescheduleRoom(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    ctx.render.room(room, f"rescheduled room {room.room_id}")
    return 0


def cancel(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.CancelRoomRequest(
        room_id=args.room_id, reason=args.reason or "", etag=args.etag or ""
    )
    empty = ctx.stub.CancelRoom(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    ctx.render.cancelled(args.room_id, empty)
    return 0


def watch(ctx: Context, args: argparse.Namespace) -> int:
    """Print every change until Ctrl-C, or for --timeout seconds; both exit 0."""
    request = pb.WatchRoomsRequest(
        since_revision=args.since or 0,
        open_only=args.open_only,
        participant_id=args.participant or "",
    )
    call = ctx.stub.WatchRooms(request, metadata=ctx.metadata, timeout=ctx.timeout)
    # Ctrl-C cancels the call rather than raising KeyboardInterrupt wherever the main
    # thread happens to be, grpc's internals included: twice in full test runs a
    # watch so interrupted never exited. The stream then ends CANCELLED.
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: call.cancel())
    try:
        for event in call:
            ctx.render.event(event)
    except grpc.RpcError:
        # Our own cancel (Ctrl-C) and the end of --timeout are no failures.
        done = {grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED}
        if isinstance(call, grpc.Call) and call.code() in done:
            return 0
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


def calendar_connect(ctx: Context, args: argparse.Namespace) -> int:
    """Connect the caller's own calendar; the secret is read from the environment or a
    prompt (roomsctl.credentials), never from an argument, and never shown."""
    request = credentials.connect_request(
        url=args.url,
        username=args.username,
        refresh_token_env=args.google_refresh_token_env,
        email_invites=args.email_invites,
        env=os.environ,
    )
    connection = ctx.stub.ConnectCalendar(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    ctx.render.connection(connection, "connected calendar")
    return 0


def calendar_show(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.GetCalendarConnectionRequest()
    connection = ctx.stub.GetCalendarConnection(
        request, metadata=ctx.metadata, timeout=ctx.unary_timeout
    )
    ctx.render.connection(connection, "calendar connection")
    return 0


def calendar_disconnect(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.DisconnectCalendarRequest(remove_events=args.remove_events)
    empty = ctx.stub.DisconnectCalendar(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    ctx.render.disconnected(empty, remove_events=args.remove_events)
    return 0


CALENDAR_COMMANDS: dict[str, Callable[[Context, argparse.Namespace], int]] = {
    "connect": calendar_connect,
    "show": calendar_show,
    "disconnect": calendar_disconnect,
}


def calendar(ctx: Context, args: argparse.Namespace) -> int:
    return CALENDAR_COMMANDS[args.calendar_command](ctx, args)


def feed_rotate(ctx: Context, args: argparse.Namespace) -> int:
    feed = _rotate_feed(ctx)
    ctx.render.feed(feed)
    return 0


def feed_url(ctx: Context, args: argparse.Namespace) -> int:
    """`rotate` for scripts: the new URL alone on stdout (`roomsctl feed url | xclip`); the
    warning that the previous one ended goes to stderr, where a pipe does not take it."""
    feed = _rotate_feed(ctx)
    print(feed.feed_url, flush=True)
    print("note: this is a new feed URL; the previous one no longer works", file=sys.stderr)
    return 0


def _rotate_feed(ctx: Context) -> pb.CalendarFeed:
    request = pb.RotateCalendarFeedRequest()
    return ctx.stub.RotateCalendarFeed(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)


def feed_revoke(ctx: Context, args: argparse.Namespace) -> int:
    request = pb.RevokeCalendarFeedRequest()
    empty = ctx.stub.RevokeCalendarFeed(request, metadata=ctx.metadata, timeout=ctx.unary_timeout)
    ctx.render.feed_revoked(empty)
    return 0


FEED_COMMANDS: dict[str, Callable[[Context, argparse.Namespace], int]] = {
    "rotate": feed_rotate,
    "url": feed_url,
    "revoke": feed_revoke,
}


def feed(ctx: Context, args: argparse.Namespace) -> int:
    return FEED_COMMANDS[args.feed_command](ctx, args)


def print_token(token: str | None) -> int:
    """What `--as USER` would send, for clients that take a token (grpcurl -H)."""
    if not token:
        raise CliError("token needs --as USER (and JWT_SECRET or --jwt-secret) to sign one")
    print(token, flush=True)
    return 0


COMMANDS: dict[str, Callable[[Context, argparse.Namespace], int]] = {
    "create": create,
    "get": get,
    "list": list_rooms,
    "book": book,
    "leave": leave,
    "wait": wait,
    "unwait": unwait,
    "reschedule": reschedule,
    "cancel": cancel,
    "watch": watch,
    "calendar": calendar,
    "feed": feed,
}
