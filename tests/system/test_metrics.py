"""Both services' Prometheus endpoints answer and move when RPCs happen."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.processes import NotificationProcess, SchedulingProcess
from tests.scheduling_service.client import auth, create_request, new_user
from tests.smtp_sink import free_port, start_sink

pytestmark = pytest.mark.slow  # starts PostgreSQL or service processes


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def test_metrics_move_with_rpcs_and_deliveries(database_url: str, tmp_path: Path) -> None:
    controller, sink = start_sink()
    notification_port, scheduling_metrics, notification_metrics = (free_port() for _ in range(3))
    notification = NotificationProcess(
        tmp_path, sink.port, port=notification_port, METRICS_PORT=str(notification_metrics)
    ).start()
    scheduling = SchedulingProcess(
        database_url,
        tmp_path,
        METRICS_PORT=str(scheduling_metrics),
        NOTIFICATION_TARGET=f"127.0.0.1:{notification_port}",
        RELAY_POLL_S="0.1",
    ).start()
    try:
        before = scrape(scheduling_metrics)
        async with aio.insecure_channel(scheduling.address) as channel:
            stub = pb_grpc.SchedulingServiceStub(channel)
            host, guest = new_user(), new_user()
            room = await stub.CreateRoom(create_request(), metadata=auth(host))
            await stub.BookRoom(
                pb.BookRoomRequest(room_id=room.room_id),
                metadata=auth(guest, email=f"{guest}@example.test"),
            )
            watch = stub.WatchRooms(pb.WatchRoomsRequest(since_revision=1), metadata=auth(host))
            await watch.read()
            during = scrape(scheduling_metrics)
            watch.cancel()
        for _ in range(100):  # the server learns of the cancel a moment later
            after = scrape(scheduling_metrics)
            if after["scheduling_watchers"] == 0:
                break
            await asyncio.sleep(0.05)

        created = 'scheduling_rpcs_total{code="OK",method="CreateRoom"}'
        assert after[created] == before.get(created, 0) + 1
        assert after['scheduling_rpc_latency_seconds_count{method="BookRoom"}'] >= 1
        assert during["scheduling_watchers"] == 1 and after["scheduling_watchers"] == 0
        assert after["scheduling_outbox_queued_total"] >= 1  # the guest has an address

        for _ in range(100):
            delivered = scrape(notification_metrics).get(
                'notification_deliveries_total{outcome="DELIVERED",provider="smtp"}', 0
            )
            if delivered >= 1:
                break
            await asyncio.sleep(0.1)
        assert delivered >= 1
        rpcs = scrape(notification_metrics)
        assert rpcs['notification_rpcs_total{code="OK",method="DeliverCalendarMessage"}'] >= 1
    finally:
        assert scheduling.stop() == 0
        assert notification.stop() == 0
        controller.stop()
