"""The load kinds that drive the services: `bench.clients:<factory>` in a LoadSpec.

Each scheduling client holds one channel per load process and one user (token) per
worker; the rows a kind works on (room ids) come in the spec's params.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration

from bench.load import Call, Client, Exhausted, LoadSpec, channels, metadata, ts


class SchedulingClient:
    """One channel per process (or `connections` of them, so that several server
    workers sharing a port each get some), and one user per worker (p<index>-w<worker>)."""

    def __init__(self, spec: LoadSpec) -> None:
        from scheduling.v1 import scheduling_pb2_grpc

        self.spec = spec
        self.channels = channels(spec.target, int(spec.params.get("connections", 1)))
        self.stubs = [scheduling_pb2_grpc.SchedulingServiceStub(c) for c in self.channels]
        prefix = spec.params.get("user_prefix", "user")
        self.auth = [metadata(f"{prefix}-p{spec.index}-w{w}") for w in range(spec.in_flight)]

    def stub_for(self, worker: int) -> Any:
        return self.stubs[worker % len(self.stubs)]

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


class CreateRooms(SchedulingClient):
    def caller(self, worker: int) -> Call:
        from scheduling.v1 import scheduling_pb2 as pb

        stub = self.stub_for(worker)

        base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        slot = iter(range(10**9))
        auth = self.auth[worker]

        async def call() -> object:
            request = pb.CreateRoomRequest(
                title="Mock system design",
                description="Design a URL shortener.\nBring a pen.",
                start_time=ts(base + timedelta(minutes=5 * next(slot))),
                duration=Duration(seconds=300),
                first_round_topic="Warm-up",
                request_id=str(uuid.uuid4()),
            )
            return await stub.CreateRoom(request, metadata=auth)

        return call


class BookRooms(SchedulingClient):
    """Each booking takes the next seeded room of this process's share."""

    def __init__(self, spec: LoadSpec) -> None:
        super().__init__(spec)
        self.rooms = iter(spec.params["room_ids"])

    def caller(self, worker: int) -> Call:
        from scheduling.v1 import scheduling_pb2 as pb

        stub = self.stub_for(worker)

        auth = self.auth[worker]

        async def call() -> object:
            room_id = next(self.rooms, None)
            if room_id is None:
                raise Exhausted
            request = pb.BookRoomRequest(room_id=room_id, request_id=str(uuid.uuid4()))
            return await stub.BookRoom(request, metadata=auth)

        return call


class GetRooms(SchedulingClient):
    def caller(self, worker: int) -> Call:
        from scheduling.v1 import scheduling_pb2 as pb

        stub = self.stub_for(worker)

        ids = self.spec.params["room_ids"]
        auth = self.auth[worker]
        position = iter(range(worker * 7919, 10**12))

        async def call() -> object:
            room_id = ids[next(position) % len(ids)]
            return await stub.GetRoom(pb.GetRoomRequest(room_id=room_id), metadata=auth)

        return call


class ListRooms(SchedulingClient):
    """A page starting at a random point of the seeded time range (a seek, not a scan);
    with `bookable` or `query` in the params, a search (as `users`, when given: the
    seeded hosts, whose own sessions `bookable` must step around)."""

    def caller(self, worker: int) -> Call:
        from scheduling.v1 import scheduling_pb2 as pb

        stub = self.stub_for(worker)

        first = datetime.fromisoformat(self.spec.params["first_start"])
        span_s = int(self.spec.params["span_s"])
        page_size = int(self.spec.params.get("page_size", 50))
        bookable = bool(self.spec.params.get("bookable", False))
        query = str(self.spec.params.get("query", ""))
        users = self.spec.params.get("users")
        auth = metadata(users[worker % len(users)]) if users else self.auth[worker]
        rng = random.Random(worker)

        async def call() -> object:
            after = first + timedelta(seconds=rng.randrange(max(1, span_s)))
            request = pb.ListRoomsRequest(
                page_size=page_size, start_after=ts(after), bookable=bookable, query=query
            )
            response = await stub.ListRooms(request, metadata=auth)
            if len(response.rooms) != page_size and response.next_page_token:
                raise RuntimeError("short page")
            return response

        return call


class DeliverInvites:
    """DeliverCalendarMessage of one fixed message, to the notification service."""

    def __init__(self, spec: LoadSpec) -> None:
        from notification.v1 import notification_pb2 as npb
        from notification.v1 import notification_pb2_grpc

        self.channel = channels(spec.target, 1)[0]
        self.stub = notification_pb2_grpc.NotificationServiceStub(self.channel)
        message = npb.CalendarMessage.FromString(spec.params["message"])
        self.request = npb.DeliverCalendarMessageRequest(message=message)
        self.delivered = npb.OUTCOME_DELIVERED

    def caller(self, worker: int) -> Call:
        async def call() -> object:
            response = await self.stub.DeliverCalendarMessage(self.request, timeout=30)
            if response.outcome != self.delivered:
                raise RuntimeError(f"outcome {response.outcome}: {response.detail}")
            return response

        return call

    async def close(self) -> None:
        await self.channel.close()


async def create_rooms(spec: LoadSpec) -> Client:
    return CreateRooms(spec)


async def book_rooms(spec: LoadSpec) -> Client:
    return BookRooms(spec)


async def get_rooms(spec: LoadSpec) -> Client:
    return GetRooms(spec)


async def list_rooms(spec: LoadSpec) -> Client:
    return ListRooms(spec)


async def deliver_invites(spec: LoadSpec) -> Client:
    return DeliverInvites(spec)


def invite(target: str) -> tuple[bytes, bytes]:
    """A booking REQUEST (serialized CalendarMessage) and the MIME the service renders."""
    from notification.v1 import notification_pb2 as npb
    from notification.v1 import notification_pb2_grpc

    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    message = npb.CalendarMessage(
        method=npb.METHOD_REQUEST,
        event=npb.CalendarEvent(
            uid="5f0c6a44-9d0e-4c55-8a53-0d6f3c1f2b11@rooms.localhost",
            sequence=1,
            start_time=ts(starts),
            end_time=ts(starts + timedelta(hours=1)),
            title="Mock system design",
            description="Design a URL shortener.\nBring a pen.",
        ),
        organizer=npb.Participant(email="host@example.test", display_name="Hosting Person"),
        attendees=[
            npb.Participant(email="host@example.test", display_name="Hosting Person"),
            npb.Participant(email="guest@example.test", display_name="Guest Person"),
        ],
        recipient=npb.Recipient(
            email="guest@example.test", display_name="Guest Person", time_zone="Europe/Paris"
        ),
        dtstamp=ts(datetime.now(UTC).replace(microsecond=0)),
        idempotency_key="bench",
    )
    with grpc.insecure_channel(target) as channel:
        stub = notification_pb2_grpc.NotificationServiceStub(channel)
        rendered = stub.RenderCalendarMessage(
            npb.RenderCalendarMessageRequest(message=message), timeout=10
        )
    return message.SerializeToString(), rendered.mime
