"""scheduling.v1.SchedulingService: protobuf in, use case, protobuf out.

Errors travel as domain exceptions; the interceptor turns them into statuses.
"""

from __future__ import annotations

import asyncio
import contextlib

from google.api import httpbody_pb2
from google.protobuf import empty_pb2, timestamp_pb2
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from scheduling_service import metrics
from scheduling_service.adapters import wire
from scheduling_service.domain import calendar_feed, errors
from scheduling_service.domain.visibility import RoomView
from scheduling_service.entrypoints import request_parsers
from scheduling_service.entrypoints.interceptor import current_user
from scheduling_service.service_layer.calendar_feeds import CalendarFeedService
from scheduling_service.service_layer.calendars import CalendarService
from scheduling_service.service_layer.hub import EndReason
from scheduling_service.service_layer.ports import utc_now
from scheduling_service.service_layer.rooms import RoomService
from scheduling_service.service_layer.waitlist import WaitlistService
from scheduling_service.service_layer.watch import WatchService
from servicekit.interceptor import annotate

_WithRoomId = (
    pb.GetRoomRequest
    | pb.BookRoomRequest
    | pb.LeaveRoomRequest
    | pb.RescheduleRoomRequest
    | pb.CancelRoomRequest
    | pb.JoinWaitlistRequest
    | pb.LeaveWaitlistRequest
)


def _time_left(context: aio.ServicerContext) -> float | None:
    return context.time_remaining()


def _reply(view: RoomView) -> pb.Room:
    annotate(room_id=str(view.room.room_id))
    return wire.room_message(view)


def _about(request: _WithRoomId) -> None:
    """Name the room on the call's log line, as the caller sent it (even if malformed)."""
    annotate(room_id=request.room_id or None)


class SchedulingServicer(pb_grpc.SchedulingServiceServicer):
    def __init__(
        self,
        rooms: RoomService,
        watch_service: WatchService,
        calendars: CalendarService,
        feeds: CalendarFeedService,
        waitlist: WaitlistService,
        *,
        max_advance_days: int,
    ) -> None:
        self._rooms = rooms
        self._waitlist = waitlist
        self._watch_service = watch_service
        self._calendars = calendars
        self._feeds = feeds
        self._max_days = max_advance_days

    async def CreateRoom(
        self, request: pb.CreateRoomRequest, context: aio.ServicerContext
    ) -> pb.Room:
        command = request_parsers.create_room(request, now=utc_now(), max_days=self._max_days)
        room = await self._rooms.create_room(current_user.get(), command, _time_left(context))
        return _reply(room)

    async def GetRoom(self, request: pb.GetRoomRequest, context: aio.ServicerContext) -> pb.Room:
        _about(request)
        room_id = request_parsers.room_id(request)
        room = await self._rooms.get_room(current_user.get(), room_id, _time_left(context))
        return _reply(room)

    async def ListRooms(
        self, request: pb.ListRoomsRequest, context: aio.ServicerContext
    ) -> pb.ListRoomsResponse:
        command = request_parsers.list_rooms(request)
        page = await self._rooms.list_rooms(current_user.get(), command, _time_left(context))
        return pb.ListRoomsResponse(
            # No add-to-calendar links in a page: they cost a fifth of its throughput
            # (docs/performance.md); GetRoom has them.
            rooms=[wire.room_message(room, with_links=False) for room in page.rooms],
            next_page_token=page.next_page_token,
        )

    async def BookRoom(self, request: pb.BookRoomRequest, context: aio.ServicerContext) -> pb.Room:
        _about(request)
        room = await self._rooms.book_room(
            current_user.get(),
            request_parsers.room_id(request),
            _time_left(context),
            respect_calendar=request.respect_calendar,
        )
        return _reply(room)

    async def LeaveRoom(
        self, request: pb.LeaveRoomRequest, context: aio.ServicerContext
    ) -> pb.Room:
        _about(request)
        room = await self._rooms.leave_room(
            current_user.get(), request_parsers.room_id(request), _time_left(context)
        )
        return _reply(room)

    async def RescheduleRoom(
        self, request: pb.RescheduleRoomRequest, context: aio.ServicerContext
    ) -> pb.Room:
        _about(request)
        command = request_parsers.reschedule_room(request, now=utc_now(), max_days=self._max_days)
        room = await self._rooms.reschedule_room(current_user.get(), command, _time_left(context))
        return _reply(room)

    async def CancelRoom(
        self, request: pb.CancelRoomRequest, context: aio.ServicerContext
    ) -> empty_pb2.Empty:
        _about(request)
        room_id, reason, etag = request_parsers.cancel_room(request)
        await self._rooms.cancel_room(
            current_user.get(), room_id, reason=reason, etag=etag, time_left_s=_time_left(context)
        )
        return empty_pb2.Empty()

    async def JoinWaitlist(
        self, request: pb.JoinWaitlistRequest, context: aio.ServicerContext
    ) -> pb.Room:
        _about(request)
        room = await self._waitlist.join(
            current_user.get(), request_parsers.room_id(request), _time_left(context)
        )
        return _reply(room)

    async def LeaveWaitlist(
        self, request: pb.LeaveWaitlistRequest, context: aio.ServicerContext
    ) -> pb.Room:
        _about(request)
        room = await self._waitlist.leave(
            current_user.get(), request_parsers.room_id(request), _time_left(context)
        )
        return _reply(room)

    async def WatchRooms(self, request: pb.WatchRoomsRequest, context: aio.ServicerContext) -> None:
        # Written with context.write rather than yield, so that a watcher stuck on a
        # full connection can still be ended: ending its subscription cancels this
        # task wherever it waits, and the status says why.
        caller = current_user.get()
        command = request_parsers.watch_rooms(request, caller)
        await self._rooms.register(caller, _time_left(context))
        session = self._watch_service.open(command)
        this_task = asyncio.current_task()
        assert this_task is not None
        metrics.WATCHERS.inc()
        try:
            async with contextlib.aclosing(session.events()) as events:
                async for data in events:
                    await context.write(data)  # bytes: serialized once (see interceptor)
        except asyncio.CancelledError:
            if session.end_reason is None:
                raise  # the client went away
            this_task.uncancel()
            if session.end_reason is EndReason.OVERFLOW:
                raise errors.WatcherTooSlow(
                    "the watcher fell too far behind; resume from its last revision"
                ) from None
            raise errors.Unavailable(
                "the server is shutting down; resume from the last revision"
            ) from None
        finally:
            metrics.WATCHERS.dec()
            session.close()

    async def ConnectCalendar(
        self, request: pb.ConnectCalendarRequest, context: aio.ServicerContext
    ) -> pb.CalendarConnection:
        command = request_parsers.connect_calendar(request)
        connection = await self._calendars.connect(current_user.get(), command, _time_left(context))
        annotate(provider=connection.provider)
        return wire.connection_message(connection)

    async def GetCalendarConnection(
        self, request: pb.GetCalendarConnectionRequest, context: aio.ServicerContext
    ) -> pb.CalendarConnection:
        connection = await self._calendars.get(current_user.get(), _time_left(context))
        return wire.connection_message(connection)

    async def DisconnectCalendar(
        self, request: pb.DisconnectCalendarRequest, context: aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self._calendars.disconnect(
            current_user.get(),
            remove_events=request.remove_events,
            time_left_s=_time_left(context),
        )
        return empty_pb2.Empty()

    async def RotateCalendarFeed(
        self, request: pb.RotateCalendarFeedRequest, context: aio.ServicerContext
    ) -> pb.CalendarFeed:
        issued = await self._feeds.rotate(current_user.get(), _time_left(context))
        annotate(feed=calendar_feed.label(issued.token))
        created = timestamp_pb2.Timestamp()
        created.FromDatetime(issued.create_time)
        return pb.CalendarFeed(feed_url=issued.url, token=issued.token, create_time=created)

    async def RevokeCalendarFeed(
        self, request: pb.RevokeCalendarFeedRequest, context: aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self._feeds.revoke(current_user.get(), _time_left(context))
        return empty_pb2.Empty()

    async def GetCalendarFeed(
        self, request: pb.GetCalendarFeedRequest, context: aio.ServicerContext
    ) -> httpbody_pb2.HttpBody:
        # No bearer token: the feed token is the credential (the interceptor lets
        # this method through unauthenticated).
        annotate(feed=calendar_feed.label(request.token))
        feed = await self._feeds.read(request.token, _if_none_match(context), _time_left(context))
        headers = [("etag", feed.etag), ("cache-control", FEED_CACHE_CONTROL)]
        if feed.body is None:
            # grpc-gateway's convention for an HTTP status of the service's choosing.
            headers.append(("x-http-code", "304"))
        await context.send_initial_metadata(headers)
        return httpbody_pb2.HttpBody(content_type=FEED_CONTENT_TYPE, data=feed.body or b"")


FEED_CONTENT_TYPE = "text/calendar; charset=utf-8"
# Clients may keep the body but ask again each time (a conditional GET answers 304).
FEED_CACHE_CONTROL = "private, max-age=0, must-revalidate"
# grpc-gateway forwards If-None-Match as `grpcgateway-if-none-match` and turns
# `x-http-code` into the status; a gRPC client sends `feed-if-none-match`. A bare
# `if-none-match` (as Envoy's transcoder forwards it) is ignored: Envoy would answer
# the empty body with 200, and the client would take it for an empty calendar.
_CONDITIONAL_HEADERS = ("grpcgateway-if-none-match", "feed-if-none-match")


def _if_none_match(context: aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key in _CONDITIONAL_HEADERS and isinstance(value, str):
            return value
    return None
