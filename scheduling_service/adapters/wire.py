"""Domain objects as scheduling.v1 messages: the API's replies, and the change log's
stored form (so an event is serialized once, when it is written)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from scheduling.v1 import scheduling_pb2 as pb

from scheduling_service.domain.calendar import Connection, ConnectionState
from scheduling_service.domain.calendar_links import add_to_calendar
from scheduling_service.domain.changes import Change
from scheduling_service.domain.mail import CopyStatus, MailKind, MailState, MailStatus
from scheduling_service.domain.room import Room
from scheduling_service.domain.visibility import RoomView
from scheduling_service.domain.waitlist import WaitlistView

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)

EVENT_TYPES: dict[Change, pb.RoomEvent.Type] = {
    Change.CREATED: pb.RoomEvent.TYPE_CREATED,
    Change.BOOKED: pb.RoomEvent.TYPE_BOOKED,
    Change.LEFT: pb.RoomEvent.TYPE_LEFT,
    Change.RESCHEDULED: pb.RoomEvent.TYPE_RESCHEDULED,
    Change.CANCELLED: pb.RoomEvent.TYPE_CANCELLED,
    Change.WAITLIST: pb.RoomEvent.TYPE_WAITLIST,
}


def timestamp(value: datetime) -> Timestamp:
    """An aware datetime as a Timestamp (cheaper than Timestamp.FromDatetime)."""
    return Timestamp(seconds=(value - _EPOCH) // _SECOND, nanos=value.microsecond * 1000)


def room_message(view: RoomView, *, with_version: bool = True, with_links: bool = True) -> pb.Room:
    """The room as its viewer may see it; `with_version=False` leaves out revision and
    etag (the change log adds them), `with_links=False` the add-to-calendar links
    (ListRooms pages, where building them costs a fifth of the throughput, and
    WatchRooms events, each stored and sent to every watcher, which links as long as
    the description would double)."""
    room = view.room
    message = pb.Room(
        room_id=str(room.room_id),
        host_id=room.host_id,
        guest_id=room.guest_id or "",
        title=room.title,
        description=room.description,
        start_time=timestamp(room.starts),
        end_time=timestamp(room.ends),
        ics_uid=room.ics_uid,
        sequence=room.sequence,
        create_time=timestamp(room.create_time),
        update_time=timestamp(room.update_time),
        rounds=[
            pb.Round(
                round_id=str(r.round_id),
                number=r.number,
                topic=r.topic,
                create_time=timestamp(r.create_time),
            )
            for r in room.rounds
        ],
        booked=view.booked,
        reminder_offsets=[
            Duration(seconds=int(offset.total_seconds())) for offset in room.reminder_offsets
        ],
        mail=_participant_mail(room) if view.private else [],
    )
    waitlist = view.shown_waitlist
    if not waitlist.empty:
        message.waitlist.CopyFrom(_waitlist(waitlist))
    if with_links:
        # From the room as this viewer sees it: where the description is hidden from
        # them, the view has cleared it, so the links cannot carry it either.
        links = add_to_calendar(room.title, room.description, room.starts, room.ends)
        message.add_to_calendar.google_url = links.google_url
        message.add_to_calendar.outlook_url = links.outlook_url
    if with_version:
        message.revision = room.revision
        message.etag = room.etag
    return message


def _waitlist(waitlist: WaitlistView) -> pb.RoomWaitlist:
    message = pb.RoomWaitlist(
        length=waitlist.length,
        your_position=waitlist.your_position,
        hold_is_yours=waitlist.hold_is_yours,
        waiting_user_ids=waitlist.waiting,
    )
    if waitlist.hold_until is not None:
        message.hold_until.CopyFrom(timestamp(waitlist.hold_until))
    return message


_MAIL_STATUS = {
    MailStatus.PENDING: pb.ParticipantMail.STATE_PENDING,
    MailStatus.SENT: pb.ParticipantMail.STATE_SENT,
    MailStatus.FAILED: pb.ParticipantMail.STATE_FAILED,
    MailStatus.NOT_SENT: pb.ParticipantMail.STATE_NOT_SENT,
}
_MAIL_KIND = {
    MailKind.INVITATION: pb.ParticipantMail.KIND_INVITATION,
    MailKind.UPDATE: pb.ParticipantMail.KIND_UPDATE,
    MailKind.CANCELLATION: pb.ParticipantMail.KIND_CANCELLATION,
    MailKind.REMINDER: pb.ParticipantMail.KIND_REMINDER,
}


_COPY_STATUS = {
    CopyStatus.PENDING: pb.CalendarWrite.STATE_PENDING,
    CopyStatus.WRITTEN: pb.CalendarWrite.STATE_WRITTEN,
    CopyStatus.REMOVED: pb.CalendarWrite.STATE_REMOVED,
    CopyStatus.WAITING: pb.CalendarWrite.STATE_WAITING,
    CopyStatus.FAILED: pb.CalendarWrite.STATE_FAILED,
}


def _participant_mail(room: Room) -> list[pb.ParticipantMail]:
    """One entry per participant with a mail or a calendar copy: the copy beside the mail."""
    entries = {state.user_id: _mail(state) for state in room.mail}
    for copy in room.calendar:
        entry = entries.setdefault(copy.user_id, pb.ParticipantMail(user_id=copy.user_id))
        entry.calendar.state = _COPY_STATUS[copy.status]
        entry.calendar.update_time.CopyFrom(timestamp(copy.update_time))
    return list(entries.values())


_CONNECTION_STATES = {
    ConnectionState.ACTIVE: pb.CalendarConnection.STATE_ACTIVE,
    ConnectionState.BROKEN: pb.CalendarConnection.STATE_BROKEN,
}


def connection_message(connection: Connection) -> pb.CalendarConnection:
    """A calendar connection as its owner sees it: never its credentials."""
    message = pb.CalendarConnection(
        calendar_url=connection.calendar_url,
        provider=connection.provider,
        state=_CONNECTION_STATES.get(connection.state, pb.CalendarConnection.STATE_UNSPECIFIED),
        broken_reason=connection.broken_reason,
        email_invites=connection.email_invites,
        create_time=timestamp(connection.create_time),
    )
    if connection.last_write_time is not None:
        message.last_write_time.CopyFrom(timestamp(connection.last_write_time))
    return message


def _mail(state: MailState) -> pb.ParticipantMail:
    return pb.ParticipantMail(
        user_id=state.user_id,
        state=_MAIL_STATUS[state.status],
        kind=_MAIL_KIND[state.kind],
        not_sent_reason=state.not_sent_reason,
        update_time=timestamp(state.update_time),
    )


def event_message(
    kind: pb.RoomEvent.Type, stored_room: bytes, revision: int, event_time: datetime
) -> bytes:
    """A change-log event as sent: the stored room (without version) with the revision,
    as the etag too."""
    room = pb.Room.FromString(stored_room)
    room.revision = revision
    room.etag = str(revision)
    return pb.RoomEvent(
        type=kind, room=room, revision=revision, event_time=timestamp(event_time)
    ).SerializeToString()


class EventMarkers:
    """The stream's own events (ports.Markers): SYNCED and HEARTBEAT, serialized."""

    @staticmethod
    def synced(revision: int) -> bytes:
        return _marker(pb.RoomEvent.TYPE_SYNCED, revision)

    @staticmethod
    def heartbeat(revision: int) -> bytes:
        return _marker(pb.RoomEvent.TYPE_HEARTBEAT, revision)


def _marker(kind: pb.RoomEvent.Type, revision: int) -> bytes:
    return pb.RoomEvent(
        type=kind, revision=revision, event_time=timestamp(datetime.now(UTC))
    ).SerializeToString()
