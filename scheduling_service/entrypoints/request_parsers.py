"""scheduling.v1 requests parsed into the use cases' commands: every bad field named
in one reply, nothing stored.

The text hygiene both services share (servicekit.text) is applied here, where caller
text enters; the checks on times, durations and ids are the domain's
(domain/validation.py, which applies a room's own rules from domain/room.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from scheduling.v1 import scheduling_pb2 as pb

from scheduling_service.domain import queries
from scheduling_service.domain import validation as check
from scheduling_service.domain.calendar import (
    BasicCredentials,
    CalendarCredentials,
    OAuthCredentials,
)
from scheduling_service.domain.queries import RoomQuery
from scheduling_service.domain.users import User
from scheduling_service.domain.watch import WatchFilter
from scheduling_service.service_layer.calendars import ConnectCalendar
from scheduling_service.service_layer.rooms import CreateRoom, ListRooms, Reschedule
from scheduling_service.service_layer.watch import WatchRooms
from servicekit.text import first_control_character

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def text(
    v: check.Violations,
    field: str,
    value: str,
    *,
    max_len: int,
    required: bool = False,
    multiline: bool = False,
) -> str:
    if required and not value.strip():
        v.add(field, "is required")
    elif len(value) > max_len:
        v.add(field, f"must be at most {max_len} characters")
    elif first_control_character(value, multiline=multiline):
        v.add(field, "must not contain control characters")
    return value


def user_id(v: check.Violations, field: str, value: str) -> str:
    if not value:
        return value
    return text(v, field, value, max_len=check.USER_ID_MAX)


def _timestamp(
    v: check.Violations, field: str, ts: Timestamp, *, required: bool, whole_second: bool
) -> datetime | None:
    return check.timestamp(
        v, field, ts.seconds, ts.nanos, required=required, whole_second=whole_second
    )


def _duration(
    v: check.Violations, field: str, d: Duration, default: timedelta | None
) -> timedelta | None:
    return check.duration(v, field, d.seconds, d.nanos, default=default)


def create_room(request: pb.CreateRoomRequest, *, now: datetime, max_days: int) -> CreateRoom:
    v = check.Violations()
    text(v, "title", request.title, max_len=check.TITLE_MAX, required=True)
    text(v, "description", request.description, max_len=check.DESCRIPTION_MAX, multiline=True)
    text(v, "first_round_topic", request.first_round_topic, max_len=check.TOPIC_MAX, required=True)
    starts = _timestamp(v, "start_time", request.start_time, required=True, whole_second=True)
    check.session_start(v, "start_time", starts, now=now, max_advance_days=max_days)
    length = _duration(v, "duration", request.duration, check.DEFAULT_DURATION)
    request_id = check.request_id(v, "request_id", request.request_id)
    offsets = check.reminder_offsets(
        v, "reminder_offsets", [(d.seconds, d.nanos) for d in request.reminder_offsets]
    )
    v.raise_if_any()
    assert starts is not None and length is not None
    return CreateRoom(
        title=request.title,
        description=request.description,
        starts=starts,
        length=length,
        first_round_topic=request.first_round_topic,
        request_id=request_id,
        reminder_offsets=offsets,
    )


def room_id(
    request: pb.GetRoomRequest
    | pb.BookRoomRequest
    | pb.LeaveRoomRequest
    | pb.JoinWaitlistRequest
    | pb.LeaveWaitlistRequest,
) -> uuid.UUID:
    v = check.Violations()
    parsed = check.room_id(v, "room_id", request.room_id)
    if isinstance(request, pb.BookRoomRequest):
        check.request_id(v, "request_id", request.request_id)
    v.raise_if_any()
    return parsed


def list_rooms(request: pb.ListRoomsRequest) -> ListRooms:
    v = check.Violations()
    size = check.page_size(
        v, "page_size", request.page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE
    )
    participant = user_id(v, "participant_id", request.participant_id)
    after = _timestamp(v, "start_after", request.start_after, required=False, whole_second=False)
    before = _timestamp(v, "start_before", request.start_before, required=False, whole_second=False)
    if after is not None and before is not None and before <= after:
        v.add("start_before", "must be later than start_after")
    if len(request.page_token) > 512:
        v.add("page_token", "is not a page token from this API")
    if request.query:
        text(v, "query", request.query, max_len=queries.QUERY_MAX)
        problem = queries.query_problem(request.query)
        clean = len(request.query) <= queries.QUERY_MAX and not first_control_character(
            request.query, multiline=False
        )
        if problem is not None and clean:
            v.add("query", problem)
    shortest = _duration(v, "min_duration", request.min_duration, None)
    longest = _duration(v, "max_duration", request.max_duration, None)
    if shortest is not None and longest is not None and longest < shortest:
        v.add("max_duration", "must not be shorter than min_duration")
    v.raise_if_any()
    return ListRooms(
        query=RoomQuery(
            open_only=request.open_only,
            participant_id=participant or None,
            start_after=after,
            start_before=before,
            bookable=request.bookable,
            text=request.query,
            min_length=shortest,
            max_length=longest,
            respect_calendar=request.respect_calendar,
        ),
        page_size=size,
        page_token=request.page_token,
    )


def reschedule_room(
    request: pb.RescheduleRoomRequest, *, now: datetime, max_days: int
) -> Reschedule:
    v = check.Violations()
    parsed_id = check.room_id(v, "room_id", request.room_id)
    starts = _timestamp(v, "start_time", request.start_time, required=True, whole_second=True)
    check.session_start(v, "start_time", starts, now=now, max_advance_days=max_days)
    length = _duration(v, "duration", request.duration, None)
    _etag(v, request.etag)
    v.raise_if_any()
    assert starts is not None
    return Reschedule(room_id=parsed_id, starts=starts, length=length, etag=request.etag)


def cancel_room(request: pb.CancelRoomRequest) -> tuple[uuid.UUID, str, str]:
    v = check.Violations()
    parsed_id = check.room_id(v, "room_id", request.room_id)
    text(v, "reason", request.reason, max_len=check.REASON_MAX)
    _etag(v, request.etag)
    v.raise_if_any()
    return parsed_id, request.reason, request.etag


def watch_rooms(request: pb.WatchRoomsRequest, viewer: User) -> WatchRooms:
    v = check.Violations()
    if request.since_revision < 0:
        v.add("since_revision", "must not be negative")
    participant = user_id(v, "participant_id", request.participant_id)
    v.raise_if_any()
    return WatchRooms(
        since_revision=request.since_revision,
        filter=WatchFilter(open_only=request.open_only, participant_id=participant or None),
        viewer=viewer,
    )


def _etag(v: check.Violations, etag: str) -> None:
    if len(etag) > 64 or (etag and not etag.isascii()):
        v.add("etag", "is not an etag from this API")


URL_MAX = 2048
USERNAME_MAX = 256
PASSWORD_MAX = 1024
REFRESH_TOKEN_MAX = 4096


def connect_calendar(request: pb.ConnectCalendarRequest) -> ConnectCalendar:
    """The form of the request; what the URL may reach is the notification service's
    to decide (it is the one that connects)."""
    v = check.Violations()
    text(v, "url", request.url, max_len=URL_MAX, required=True)
    credentials: CalendarCredentials | None = None
    which = request.WhichOneof("credentials")
    if which == "basic":
        username = text(
            v, "basic.username", request.basic.username, max_len=USERNAME_MAX, required=True
        )
        password = _secret(v, "basic.password", request.basic.password, PASSWORD_MAX)
        credentials = BasicCredentials(username, password)
    elif which == "oauth":
        provider = request.oauth.provider
        if provider != "google":
            v.add("oauth.provider", "must be 'google'")
        token = _secret(v, "oauth.refresh_token", request.oauth.refresh_token, REFRESH_TOKEN_MAX)
        credentials = OAuthCredentials(provider, token)
    else:
        v.add("credentials", "basic or oauth is required")
    v.raise_if_any()
    assert credentials is not None
    return ConnectCalendar(request.url, credentials, request.email_invites)


def _secret(v: check.Violations, field: str, value: str, max_len: int) -> str:
    """Like `text`, but the violation never quotes the value."""
    if not value:
        v.add(field, "is required")
    elif len(value) > max_len:
        v.add(field, f"must be at most {max_len} characters")
    elif first_control_character(value):
        v.add(field, "must not contain control characters")
    return value
