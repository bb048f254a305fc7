"""The service over a real gRPC port, delivering to a real SMTP sink."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import grpc
import icalendar
import pytest
import vobject
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from notification.v1 import notification_pb2 as pb

from notification_service.entrypoints.server import SERVICE_NAME
from tests.notification_service.notification_helpers import (
    GUEST,
    HOST,
    START,
    free_port,
    make_message,
    server_config,
    smtp_settings,
)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _calendar_part(received):
    parts = [p for p in received.parsed().walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    return parts[0]


def _vevent(ics: bytes) -> icalendar.Event:
    [event] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    return event


def _bad_request(err: grpc.aio.AioRpcError) -> tuple[set[str], list[tuple[str, str]]]:
    """(BadRequest fields, [(ErrorInfo reason, domain)]) from the rich status."""
    status = rpc_status.from_call(err)
    assert status is not None
    fields: set[str] = set()
    infos = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields |= {v.field for v in bad.field_violations}
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append((info.reason, info.domain))
    return fields, infos


async def test_request_and_cancel_arrive_and_parse_back(start_server, smtp_sink):
    running = await start_server(server_config(smtp_sink))
    request = make_message(sequence=1)
    cancel = make_message(method=pb.METHOD_CANCEL, sequence=2, cancel_reason="Host is ill")
    replies = [await running.deliver(request), await running.deliver(cancel)]
    assert [r.outcome for r in replies] == [pb.OUTCOME_DELIVERED, pb.OUTCOME_DELIVERED]
    received = smtp_sink.received
    assert len(received) == 2
    events = []
    for sent, reply, mail in zip((request, cancel), replies, received, strict=True):
        assert mail.rcpt_tos == [sent.recipient.email]
        assert str(mail.parsed()["Message-ID"]) == f"<{reply.message_id}>"
        part = _calendar_part(mail)
        ics = part.get_payload(decode=True)
        method = pb.Method.Name(sent.method).removeprefix("METHOD_")
        assert part.get_param("method") == method
        calendar = icalendar.Calendar.from_ical(ics)
        assert str(calendar["METHOD"]) == method
        assert str(calendar["VERSION"]) == "2.0" and str(calendar["PRODID"])
        event = _vevent(ics)
        events.append(event)
        assert str(event["UID"]) == sent.event.uid
        assert int(event["SEQUENCE"]) == sent.event.sequence
        assert event.decoded("DTSTAMP") == sent.dtstamp.ToDatetime(tzinfo=START.tzinfo)
        assert event.decoded("DTSTART") == START
        assert event.decoded("DTEND") == START + timedelta(hours=1)
        assert str(event["SUMMARY"]) == sent.event.title
        assert str(event["DESCRIPTION"]) == sent.event.description
        assert str(event["ORGANIZER"]).lower() == "mailto:rooms@localhost"
        assert event["ORGANIZER"].params["CN"] == "Practice Rooms"
        attendees = event["ATTENDEE"]
        assert [str(a).lower() for a in attendees] == [
            f"mailto:{HOST.email}",
            f"mailto:{GUEST.email}",
        ]
        assert [a.params["CN"] for a in attendees] == [HOST.display_name, GUEST.display_name]
        for attendee in attendees:
            assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
            assert attendee.params["PARTSTAT"] == "ACCEPTED"
            assert attendee.params["RSVP"] == "FALSE"
        parsed = vobject.readOne(ics.decode())
        assert parsed.method.value == method
        assert parsed.vevent.uid.value == sent.event.uid
        assert int(parsed.vevent.sequence.value) == sent.event.sequence
        assert parsed.vevent.summary.value == sent.event.title
        assert parsed.vevent.dtstart.value == START
        assert len(parsed.vevent.attendee_list) == 2

    request_event, cancel_event = events
    assert str(request_event["STATUS"]) == "CONFIRMED"
    assert request_event.walk("VALARM")[0].decoded("TRIGGER") == -timedelta(minutes=15)
    assert str(cancel_event["STATUS"]) == "CANCELLED"
    assert int(cancel_event["SEQUENCE"]) > int(request_event["SEQUENCE"])
    assert str(cancel_event["UID"]) == str(request_event["UID"])
    assert "Host is ill" in received[1].parsed().get_body(("plain",)).get_content()


async def test_uninvite_reaches_only_the_leaving_guest(start_server, smtp_sink):
    running = await start_server(server_config(smtp_sink))
    reply = await running.deliver(make_message(method=pb.METHOD_CANCEL, sequence=3, uninvite=True))
    assert reply.outcome == pb.OUTCOME_DELIVERED
    event = _vevent(_calendar_part(smtp_sink.received[0]).get_payload(decode=True))
    assert "STATUS" not in event
    assert str(event["ATTENDEE"]).lower() == f"mailto:{GUEST.email}"


async def test_non_ascii_names_and_titles_survive(start_server, smtp_sink):
    running = await start_server(server_config(smtp_sink))
    zoe = pb.Participant(email="zoe@example.com", display_name="Zoë Ångström")
    message = make_message(
        title="面试练习 — Zoë",
        attendees=[HOST, zoe],
        recipient=pb.Recipient(email=zoe.email, display_name=zoe.display_name),
    )
    assert (await running.deliver(message)).outcome == pb.OUTCOME_DELIVERED
    mail = smtp_sink.received[0].parsed()
    assert mail["To"].addresses[0].display_name == "Zoë Ångström"
    assert "面试练习 — Zoë" in str(mail["Subject"])
    assert "面试练习 — Zoë" in mail.get_body(("html",)).get_content()
    event = _vevent(_calendar_part(smtp_sink.received[0]).get_payload(decode=True))
    assert str(event["SUMMARY"]) == "面试练习 — Zoë"
    assert event["ATTENDEE"][1].params["CN"] == "Zoë Ångström"


HOSTILE_TITLES = {
    "crlf": "Interview\r\nBcc: victim@example.com",
    "lone-cr": "Interview\rX-Injected: yes",
    "lf": "Interview\nX-Injected: yes",
    "nul": "Interview\x00",
    "line-separator": "Interview\u2028STATUS:CANCELLED",
    "too-long": "x" * 201,
}


@pytest.mark.parametrize("title", HOSTILE_TITLES.values(), ids=HOSTILE_TITLES.keys())
async def test_hostile_titles_are_rejected_and_nothing_is_sent(
    start_server, smtp_sink, log_events, title
):
    running = await start_server(server_config(smtp_sink))
    for rpc in ("deliver", "render"):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            if rpc == "deliver":
                await running.deliver(make_message(title=title))
            else:
                await running.stub.RenderCalendarMessage(
                    pb.RenderCalendarMessageRequest(message=make_message(title=title)), timeout=10
                )
        assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        fields, infos = _bad_request(exc.value)
        assert fields == {"message.event.title"}
        assert infos == [("INVALID_ARGUMENT", "notification.v1")]
    assert smtp_sink.received == []
    assert [line["code"] for line in log_events("rpc")] == ["INVALID_ARGUMENT"] * 2
    assert log_events("delivery_attempt") == []


@pytest.mark.parametrize(
    "recipient",
    [
        pb.Recipient(email="guest@example.org\r\nBcc: victim@example.com"),
        pb.Recipient(email="guest@example.org", display_name="Gus\nBcc: victim@example.com"),
        pb.Recipient(email="Gus <guest@example.org>"),
        pb.Recipient(email="guest@example.org", time_zone="Mars/Base"),
    ],
)
async def test_hostile_recipients_are_rejected(start_server, smtp_sink, recipient):
    running = await start_server(server_config(smtp_sink))
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.deliver(make_message(recipient=recipient))
    assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    fields, _ = _bad_request(exc.value)
    assert fields and all(f.startswith("message.recipient.") for f in fields)
    assert smtp_sink.received == []


async def test_empty_or_unknown_input_is_invalid_argument_not_unknown(start_server):
    running = await start_server(server_config())
    for message in (pb.CalendarMessage(), make_message(method=7)):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await running.deliver(message)
        assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "message.method" in _bad_request(exc.value)[0]


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [
        ("451 4.3.0 try later", pb.OUTCOME_TEMPORARY_FAILURE),
        ("550 5.1.1 no such user", pb.OUTCOME_PERMANENT_FAILURE),
        ("disconnect", pb.OUTCOME_TEMPORARY_FAILURE),
        ("not-listening", pb.OUTCOME_TEMPORARY_FAILURE),
    ],
)
async def test_smtp_failures_are_outcomes_logged_and_the_service_stays_healthy(
    start_server, smtp_sink, log_events, mode, outcome
):
    config = server_config(smtp_sink)
    if mode == "not-listening":
        config = replace(config, smtp=smtp_settings(port=free_port()))
    else:
        smtp_sink.handler.mode = mode
    running = await start_server(config)
    reply = await running.deliver(make_message())
    assert reply.outcome == outcome
    assert reply.detail
    assert smtp_sink.received == []

    [attempt] = log_events("delivery_attempt")
    assert attempt["outcome"] == pb.Outcome.Name(outcome).removeprefix("OUTCOME_")
    assert attempt["provider"] == "smtp"
    assert attempt["uid"] == make_message().event.uid
    assert attempt["recipient"] == GUEST.email
    assert attempt["detail"] == reply.detail
    if mode[0].isdigit():
        assert attempt["smtp_code"] == int(mode[:3])
    [rpc] = log_events("rpc")
    assert rpc["method"] == "DeliverCalendarMessage"
    assert rpc["code"] == "OK"
    assert rpc["outcome"] == attempt["outcome"]
    assert rpc["itip_method"] == "REQUEST"
    assert isinstance(rpc["latency_ms"], float)

    assert await running.health_status("") == SERVING
    assert await running.health_status(SERVICE_NAME) == SERVING


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_bad_smtp_password_is_logged_as_a_configuration_error(
    start_server, auth_smtp_sink, log_events
):
    config = server_config(auth_smtp_sink)
    config = replace(config, smtp=replace(config.smtp, username="rooms", password="wrong-password"))
    running = await start_server(config)
    reply = await running.deliver(make_message())
    assert reply.outcome == pb.OUTCOME_TEMPORARY_FAILURE
    [line] = log_events("delivery_configuration_error")
    assert line["level"] == "error"
    assert line["config_error"] is True
    assert "wrong-password" not in str(line)


async def test_dry_run_sends_nothing_and_logs_the_rendered_message(
    start_server, smtp_sink, log_events
):
    # Pointed at a working relay, but NOTIFICATIONS_ENABLED is false.
    config = replace(server_config(smtp_sink), notifications_enabled=False)
    running = await start_server(config)
    message = make_message()
    reply = await running.deliver(message)
    assert reply.outcome == pb.OUTCOME_DRY_RUN
    await asyncio.sleep(0.2)
    assert smtp_sink.received == []
    assert smtp_sink.handler.sessions == 0
    [line] = log_events("dry_run_message")
    rendered = await running.stub.RenderCalendarMessage(
        pb.RenderCalendarMessageRequest(message=message), timeout=10
    )
    assert line["mime"].encode() == rendered.mime
    assert f"Message-ID: <{reply.message_id}>" in line["mime"]


async def test_twenty_concurrent_deliveries_each_arrive_once(start_server, smtp_sink):
    running = await start_server(server_config(smtp_sink))
    messages = [
        make_message(uid=f"session-{i}@rooms.localhost", title=f"Session {i}") for i in range(20)
    ]
    replies = await asyncio.gather(*(running.deliver(m) for m in messages))
    assert {r.outcome for r in replies} == {pb.OUTCOME_DELIVERED}
    received_ids = sorted(str(m.parsed()["Message-ID"]) for m in smtp_sink.received)
    assert received_ids == sorted(f"<{r.message_id}>" for r in replies)
    uids = sorted(
        str(_vevent(_calendar_part(m).get_payload(decode=True))["UID"]) for m in smtp_sink.received
    )
    assert uids == sorted(m.event.uid for m in messages)


async def test_render_matches_what_deliver_sends(start_server, smtp_sink):
    running = await start_server(server_config(smtp_sink))
    message = make_message(recipient=pb.Recipient(email=GUEST.email, time_zone=""))
    render = pb.RenderCalendarMessageRequest(message=message)
    first = await running.stub.RenderCalendarMessage(render, timeout=10)
    again = await running.stub.RenderCalendarMessage(render, timeout=10)
    assert first.mime == again.mime and first.ics == again.ics
    await running.deliver(message)
    part = _calendar_part(smtp_sink.received[0])
    assert part.get_payload(decode=True) == first.ics
    body = smtp_sink.received[0].parsed().get_body(("plain",)).get_content()
    assert "(UTC)" in body  # an empty zone falls back to UTC


async def test_auth_token_guards_the_service_but_not_health_or_reflection(start_server):
    running = await start_server(server_config(auth_token="s3cret-token"))
    for metadata in (
        (),
        (("authorization", "Bearer wrong"),),
        (("authorization", "s3cret-token"),),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await running.deliver(make_message(), metadata=metadata)
        assert exc.value.code() is grpc.StatusCode.UNAUTHENTICATED
    reply = await running.deliver(
        make_message(), metadata=(("authorization", "Bearer s3cret-token"),)
    )
    assert reply.outcome == pb.OUTCOME_DRY_RUN
    assert await running.health_status(SERVICE_NAME) == SERVING

    stub = reflection_pb2_grpc.ServerReflectionStub(running.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for answer in stub.ServerReflectionInfo(iter([request]), timeout=10):
        names = {s.name for s in answer.list_services_response.service}
        assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


async def test_stop_turns_health_to_not_serving(start_server):
    running = await start_server(server_config())
    assert await running.health_status(SERVICE_NAME) == SERVING
    await running.server.stop(grace=0.1)
    for name in ("", SERVICE_NAME):
        reply = await running.server.health.Check(health_pb2.HealthCheckRequest(service=name), None)
        assert reply.status == NOT_SERVING
