"""Issue 10's mail findings, one test each, through a real gRPC server and a real SMTP
server; and the structural check turning a renderer regression into a permanent
failure that is never sent."""

from __future__ import annotations

from email.header import decode_header, make_header

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from notification.v1 import notification_pb2 as pb

from notification_service.render import headers, invite_bodies, reminder_bodies
from tests.notification_service.mail_strategies import (
    INVITE_HEADERS,
    INVITE_TREE,
    no_space,
    read_mail,
)
from tests.notification_service.notification_helpers import (
    GUEST,
    HOST,
    make_message,
    make_reminder,
    server_config,
    wait_for,
)

REPLY_TO_TITLE = "=?utf-8?q?Interview=0D=0AReply-To:_phish@evil.example?="
BODY_TITLE = "=?utf-8?q?Interview=0D=0A=0D=0A<h1>Owned</h1><a_href=3Dx>click</a>?="
NAME_CLAIM = "=?utf-8?q?Gus=0D=0ABcc:_victim@example.com?="
NUL_TITLE = "=?utf-8?q?Interview=00?="


async def _delivered(start_server, smtp_sink, message):
    running = await start_server(server_config(smtp_sink))
    reply = await running.deliver(message)
    assert reply.outcome == pb.OUTCOME_DELIVERED, reply.detail
    [received] = smtp_sink.received
    return received, read_mail(received.content)


def _raw_header(data: bytes, name: bytes) -> str:
    head = data.partition(b"\r\n\r\n")[0].replace(b"\r\n ", b" ")
    [line] = [line for line in head.split(b"\r\n") if line.startswith(name + b":")]
    return line.partition(b":")[2].strip().decode("ascii")


def _header_lines(data: bytes) -> list[bytes]:
    head = data.partition(b"\r\n\r\n")[0]
    return [line for line in head.split(b"\r\n") if line and not line.startswith(b" ")]


async def test_finding_1_a_reply_to_title_is_shown_literally(start_server, smtp_sink):
    received, read = await _delivered(start_server, smtp_sink, make_message(title=REPLY_TO_TITLE))
    assert read.header_names == INVITE_HEADERS
    assert "Reply-To" not in read.mail
    assert not any(line.lower().startswith(b"reply-to") for line in _header_lines(received.content))
    assert REPLY_TO_TITLE in read.subject
    assert REPLY_TO_TITLE in read.plain
    [event] = read.calendar.walk("VEVENT")
    assert str(event["SUMMARY"]) == REPLY_TO_TITLE


async def test_finding_1_a_body_replacing_title_leaves_the_body_alone(start_server, smtp_sink):
    _, read = await _delivered(start_server, smtp_sink, make_message(title=BODY_TITLE))
    assert read.header_names == INVITE_HEADERS
    assert read.tree == INVITE_TREE
    assert read.plain.startswith("You have a practice session.")
    assert BODY_TITLE in read.subject
    assert "<h1>Owned" not in read.html
    assert "&lt;h1&gt;Owned&lt;/h1&gt;" in read.html


async def test_finding_1_a_name_claim_stays_inside_to(start_server, smtp_sink):
    guest = pb.Participant(email=GUEST.email, display_name=NAME_CLAIM)
    message = make_message(
        recipient=pb.Recipient(email=GUEST.email, display_name=NAME_CLAIM),
        attendees=[HOST, guest],
    )
    received, read = await _delivered(start_server, smtp_sink, message)
    assert received.rcpt_tos == [GUEST.email]
    assert read.header_names == INVITE_HEADERS
    assert "Bcc" not in read.mail
    [(name, address)] = read.to
    assert address == GUEST.email
    assert no_space(name) == no_space(NAME_CLAIM)
    # An RFC 2047 decoder (adjacent encoded words joined) reads the claim exactly.
    raw = _raw_header(received.content, b"To")
    assert str(make_header(decode_header(raw))) == f"{NAME_CLAIM} <{GUEST.email}>"
    [event] = read.calendar.walk("VEVENT")
    assert event["ATTENDEE"][1].params["CN"] == NAME_CLAIM


async def test_finding_2_an_encoded_nul_title_renders_literally(start_server, smtp_sink):
    _, read = await _delivered(start_server, smtp_sink, make_message(title=NUL_TITLE))
    assert NUL_TITLE in read.subject
    assert "\x00" not in read.subject + read.plain + read.html


async def test_a_literal_nul_is_invalid_argument_never_internal(start_server):
    running = await start_server(server_config())
    for call in (running.deliver, running.render):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call(make_message(title="Interview\x00"))
        assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def _error_reason(err: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo")


def _decode_like_the_old_renderer(field: str, text: str) -> list[str]:
    # What `email`'s header registry did with a string: decode encoded words.
    return [str(make_header(decode_header(text)))]


async def test_the_structural_check_refuses_a_regressed_encoder_and_nothing_is_sent(
    start_server, smtp_sink, log_events, monkeypatch
):
    monkeypatch.setattr(headers, "unstructured_words", _decode_like_the_old_renderer)
    running = await start_server(server_config(smtp_sink))
    message = make_message(title=REPLY_TO_TITLE)

    reply = await running.deliver(message)
    assert reply.outcome == pb.OUTCOME_PERMANENT_FAILURE
    assert "header names" in reply.detail
    assert reply.message_id
    assert smtp_sink.received == []
    assert smtp_sink.handler.sessions == 0
    [failure] = log_events("render_failed")
    assert failure["level"] == "error"
    assert failure["kind"] == "invite"
    assert failure["idempotency_key"] == message.idempotency_key
    assert log_events("delivery_attempt") == []

    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await running.render(message)
    assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _error_reason(exc.value) == "UNRENDERABLE"
    # The server writes its rpc line after the status went out.
    await wait_for(lambda: len(log_events("rpc")) == 2)
    assert [line["code"] for line in log_events("rpc")] == ["OK", "INVALID_ARGUMENT"]
    assert log_events("rpc")[1]["reason"] == "UNRENDERABLE"


async def test_a_renderer_error_is_a_permanent_failure_not_internal(
    start_server, smtp_sink, log_events, monkeypatch
):
    def broken(*args, **kwargs):
        raise UnicodeError("a bug on some input")

    monkeypatch.setattr(invite_bodies, "format_when", broken)
    monkeypatch.setattr(reminder_bodies, "format_when", broken)
    running = await start_server(server_config(smtp_sink))
    reply = await running.deliver(make_message())
    assert reply.outcome == pb.OUTCOME_PERMANENT_FAILURE
    assert "renderer failed: UnicodeError" in reply.detail
    reminder = await running.deliver_reminder(make_reminder())
    assert reminder.outcome == pb.OUTCOME_PERMANENT_FAILURE
    assert smtp_sink.received == []
    failures = log_events("render_failed")
    assert [f["kind"] for f in failures] == ["invite", "reminder"]
    assert "UnicodeError" in failures[0]["exception"]
