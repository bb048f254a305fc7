"""What a command prints: text for people, or proto3 JSON (one object a line) for scripts.

JSON is google.protobuf.json_format's proto3 mapping, the same a gRPC-JSON gateway
prints: lowerCamelCase names, int64 as strings, times in UTC (`...Z`), durations as
`"3600s"`, and fields at their zero value left out (an open room has no `guestId`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import tzinfo
from typing import TextIO

from google.protobuf import json_format
from google.protobuf.message import Message
from scheduling.v1 import scheduling_pb2 as pb

from roomsctl import times


def to_json(message: Message) -> str:
    return json_format.MessageToJson(message, indent=None, ensure_ascii=False)


def event_name(event: pb.RoomEvent) -> str:
    return pb.RoomEvent.Type.Name(event.type).removeprefix("TYPE_")


class Renderer:
    def __init__(self, *, json: bool, tz: tzinfo, out: TextIO | None = None) -> None:
        self.json = json
        self.tz = tz
        self.out = out or sys.stdout

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def room(self, room: pb.Room, headline: str = "") -> None:
        if self.json:
            self._line(to_json(room))
            return
        if headline:
            self._line(headline)
        for label, value in room_fields(room, self.tz):
            self._line(f"  {label:<11} {value}")

    def rooms(self, rooms: Iterable[pb.Room]) -> int:
        count = 0
        for room in rooms:
            if self.json:
                self._line(to_json(room))
            else:
                if count == 0:
                    self._line(f"{'ROOM':<36}  {'WHEN':<36}  {'HOST':<16}  {'GUEST':<16}  TITLE")
                self._line(room_row(room, self.tz))
            count += 1
        if count == 0 and not self.json:
            self._line("no rooms")
        return count

    def cancelled(self, room_id: str, empty: Message) -> None:
        if self.json:
            self._line(to_json(empty))
        else:
            self._line(f"cancelled room {room_id}")

    def connection(self, connection: pb.CalendarConnection, headline: str = "") -> None:
        """A calendar connection: it never carries credentials, so all of it is shown."""
        if self.json:
            self._line(to_json(connection))
            return
        if headline:
            self._line(headline)
        for label, value in connection_fields(connection, self.tz):
            self._line(f"  {label:<11} {value}")

    def disconnected(self, empty: Message, *, remove_events: bool) -> None:
        if self.json:
            self._line(to_json(empty))
        elif remove_events:
            self._line("disconnected calendar; the sessions written to it are being removed")
        else:
            self._line("disconnected calendar; the sessions written to it stay there")

    def feed(self, feed: pb.CalendarFeed) -> None:
        """A new feed URL: shown this once (the service keeps only a hash of its token)."""
        if self.json:
            self._line(to_json(feed))
            return
        self._line("new calendar feed; any previous feed URL stopped working just now")
        for label, value in feed_fields(feed, self.tz):
            self._line(f"  {label:<11} {value}")
        self._line(
            "this URL is shown only once: subscribe to it now, and keep it to yourself "
            "(whoever holds it reads your sessions)"
        )

    def feed_revoked(self, empty: Message) -> None:
        if self.json:
            self._line(to_json(empty))
        else:
            self._line("revoked calendar feed; its URL no longer works")

    def event(self, event: pb.RoomEvent) -> None:
        if self.json:
            self._line(to_json(event))
            return
        if event.type == pb.RoomEvent.TYPE_HEARTBEAT:
            return  # a resume point, not a change: --json shows it
        line = f"#{event.revision} {event_name(event)}"
        if event.HasField("event_time"):
            line = f"{times.show(event.event_time, self.tz)}  {line}"
        if event.HasField("room"):
            room = event.room
            line += (
                f" {room.room_id} {times.show_span(room.start_time, room.end_time, self.tz)}"
                f" host {room.host_id} guest {room.guest_id or '(open)'} {room.title!r}"
            )
            if room.HasField("waitlist"):
                line += f" ({waitlist_line(room.waitlist, self.tz)})"
        elif event.type == pb.RoomEvent.TYPE_SYNCED:
            line += " (snapshot complete; live changes follow)"
        self._line(line)


def room_fields(room: pb.Room, tz: tzinfo) -> list[tuple[str, str]]:
    fields = [
        ("room", room.room_id),
        ("title", room.title),
        ("when", times.show_span(room.start_time, room.end_time, tz)),
        ("host", room.host_id),
        ("guest", room.guest_id or "(open)"),
    ]
    if room.description:
        fields.append(("description", " ".join(room.description.split())))
    fields.extend(
        ("round", f"{r.number}. {r.topic}") for r in sorted(room.rounds, key=lambda r: r.number)
    )
    if room.HasField("waitlist"):
        fields.append(("waitlist", waitlist_line(room.waitlist, tz)))
        if room.waitlist.waiting_user_ids:
            fields.append(("waiting", ", ".join(room.waitlist.waiting_user_ids)))
    fields += [
        ("etag", room.etag),
        ("revision", str(room.revision)),
        ("sequence", str(room.sequence)),
        ("ics uid", room.ics_uid),
    ]
    return fields


def waitlist_line(waitlist: pb.RoomWaitlist, tz: tzinfo) -> str:
    """E.g. '3 waiting; you are number 2; held until 2030-01-31 18:15 CET' (a hold's end
    in the zone shown, and whether it is the reader's)."""
    parts = [f"{waitlist.length} waiting"]
    if waitlist.your_position:
        parts.append(f"you are number {waitlist.your_position}")
    if waitlist.HasField("hold_until"):
        held = times.show(waitlist.hold_until, tz)
        parts.append(
            f"held for you until {held}" if waitlist.hold_is_yours else f"held until {held}"
        )
    return "; ".join(parts)


def connection_state(connection: pb.CalendarConnection) -> str:
    state = pb.CalendarConnection.State.Name(connection.state).removeprefix("STATE_")
    if connection.state == pb.CalendarConnection.STATE_BROKEN:
        reason = " ".join(connection.broken_reason.split())
        state += f": {reason}" if reason else ""
        state += " (writes wait: connect again with new credentials)"
    return state


def connection_fields(connection: pb.CalendarConnection, tz: tzinfo) -> list[tuple[str, str]]:
    invites = "invitations and reminders" if connection.email_invites else "reminders only"
    fields = [
        ("calendar", connection.calendar_url),
        ("provider", connection.provider),
        ("state", connection_state(connection)),
        ("e-mail", invites),
    ]
    if connection.HasField("create_time"):
        fields.append(("connected", times.show(connection.create_time, tz)))
    last_write = (
        times.show(connection.last_write_time, tz)
        if connection.HasField("last_write_time")
        else "none yet"
    )
    fields.append(("last write", last_write))
    return fields


def webcal_url(feed_url: str) -> str | None:
    """The feed URL as a `webcal://` link, which opens a calendar application's subscribe
    dialog; None for an http URL: clients differ on whether webcal:// fetches over http
    or https, so such a link to an http-only deployment would work in some of them only
    (and over http the token travels in the clear)."""
    scheme, sep, rest = feed_url.partition("://")
    return f"webcal://{rest}" if sep and scheme.lower() == "https" else None


def feed_fields(feed: pb.CalendarFeed, tz: tzinfo) -> list[tuple[str, str]]:
    webcal = webcal_url(feed.feed_url)
    fields = [
        ("url", feed.feed_url),
        ("webcal", webcal or "none: webcal:// links are for https deployments only"),
    ]
    if feed.HasField("create_time"):
        fields.append(("created", times.show(feed.create_time, tz)))
    return fields


def room_row(room: pb.Room, tz: tzinfo) -> str:
    when = times.show_span(room.start_time, room.end_time, tz)
    guest = room.guest_id or "(open)"
    return f"{room.room_id:<36}  {when:<36}  {room.host_id:<16}  {guest:<16}  {room.title}"
