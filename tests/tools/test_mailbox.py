"""`python -m tools.mailbox` (`make mail`) on a Maildir filled the way `make run` fills it:
the notification service delivering by SMTP to aiosmtpd's Maildir handler, plus what
any other SMTP client may send that sink."""

from __future__ import annotations

import base64
import os
import re
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import grpc
import icalendar
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from notification.v1 import notification_pb2 as pb
from notification.v1 import notification_pb2_grpc as pb_grpc

from tests.processes import NotificationProcess
from tests.smtp_sink import free_port

REPO = Path(__file__).resolve().parents[2]
UID = "5d0c8a1e-2b7f-4c3a-9e61-0f4b8d2c7a90@rooms.localhost"
STAMP = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ROW = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  ")


@dataclass
class Stack:
    var: Path
    sink_port: int
    notification: NotificationProcess

    @property
    def maildir(self) -> Path:
        return self.var / "mail"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    var = tmp_path / "var"
    var.mkdir()
    sink = Controller(Mailbox(var / "mail"), hostname="127.0.0.1", port=free_port())
    sink.start()
    notification = NotificationProcess(tmp_path, smtp_port=sink.port).start()
    try:
        yield Stack(var, sink.port, notification)
    finally:
        notification.stop()
        sink.stop()


def deliver(address: str, method: int, sequence: int, dtstamp: datetime) -> None:
    event = pb.CalendarEvent(uid=UID, sequence=sequence, title="Mock interview")
    event.start_time.FromDatetime(STAMP + timedelta(days=3))
    event.end_time.FromDatetime(STAMP + timedelta(days=3, hours=1))
    if method == pb.METHOD_CANCEL:
        event.status = pb.EVENT_STATUS_CANCELLED
    people = [
        pb.Participant(email="alice@example.com", display_name="alice"),
        pb.Participant(email="bob@example.com", display_name="bob"),
    ]
    message = pb.CalendarMessage(
        method=method,  # type: ignore[arg-type]
        event=event,
        organizer=people[0],
        attendees=people,
        recipient=pb.Recipient(email="bob@example.com", display_name="bob", time_zone="UTC"),
        idempotency_key=f"outbox-{sequence}",
    )
    message.dtstamp.FromDatetime(dtstamp)
    with grpc.insecure_channel(address) as channel:
        reply = pb_grpc.NotificationServiceStub(channel).DeliverCalendarMessage(
            pb.DeliverCalendarMessageRequest(message=message), timeout=30
        )
    assert reply.outcome == pb.OUTCOME_DELIVERED, reply


def send_raw(port: int, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(message)


def mailbox(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEV_VAR_DIR": str(var)}
    return subprocess.run(
        [sys.executable, "-m", "tools.mailbox", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if ROW.match(line)]


def test_lists_each_message_and_writes_importable_calendars(stack: Stack) -> None:
    deliver(stack.notification.address, pb.METHOD_REQUEST, 1, STAMP)
    deliver(stack.notification.address, pb.METHOD_CANCEL, 2, STAMP + timedelta(hours=1))
    reminder = EmailMessage()
    reminder["From"], reminder["To"] = "rooms@example.test", "bob@example.com"
    reminder["Subject"] = "Reminder: Mock interview"
    reminder["Date"] = format_datetime(STAMP - timedelta(hours=1))  # sent last, listed first
    reminder.set_content("In one hour.")
    send_raw(stack.sink_port, reminder)

    listed = mailbox(stack.var)
    assert listed.returncode == 0, listed.stderr
    header, *_ = listed.stdout.splitlines()
    assert header.split() == ["SENT", "(UTC)", "TO", "METHOD", "SEQ", "UID", "SUBJECT"]
    found = [row.split(None, 6) for row in rows(listed.stdout)]
    assert [tuple(r[:6]) for r in found] == [
        ("2026-11-20", "08:00:00Z", "bob@example.com", "-", "-", "-"),  # no calendar
        ("2026-11-20", "09:00:00Z", "bob@example.com", "REQUEST", "1", UID),
        ("2026-11-20", "10:00:00Z", "bob@example.com", "CANCEL", "2", UID),
    ]
    assert found[0][6] == "Reminder: Mock interview"
    assert "Mock interview" in found[1][6] and "Mock interview" in found[2][6]

    ics_dir = stack.var / "ics"
    assert f"2 calendar files in {ics_dir}/" in listed.stdout
    written = sorted(ics_dir.iterdir())
    assert [p.name for p in written] == [
        "20261120T090000Z-bob-REQUEST-seq1-5d0c8a1e.ics",
        "20261120T100000Z-bob-CANCEL-seq2-5d0c8a1e.ics",
    ]
    for path, (method, sequence) in zip(written, [("REQUEST", 1), ("CANCEL", 2)], strict=True):
        calendar = icalendar.Calendar.from_ical(path.read_bytes())
        event = calendar.walk("VEVENT")[0]
        assert (str(calendar["METHOD"]), str(event["UID"]), int(event["SEQUENCE"])) == (
            method,
            UID,
            sequence,
        )

    again = mailbox(stack.var)  # the same names: nothing piles up
    assert again.stdout == listed.stdout
    assert sorted(ics_dir.iterdir()) == written


def test_what_another_smtp_client_sent_stays_one_line_and_inside_the_folder(
    stack: Stack,
) -> None:
    # Raw bytes, as any client may send them: encoded words that decode to CR LF and
    # ESC (a naive listing would print them as they are), a calendar naming paths.
    calendar = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nMETHOD:REQUEST\r\n"
        b"BEGIN:VEVENT\r\nUID:../../../etc/passwd\r\nSEQUENCE:7\r\n"
        b"DTSTAMP:20261120T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    hostile = (
        b"From: x@example.test\r\n"
        b"To: =?utf-8?q?=1B[2J?= <../../evil@example.com>\r\n"
        b"Subject: =?utf-8?q?hi=0D=0A2026-01-01_00:00:00Z__forged=1B[31m?=\r\n"
        b"Date: " + format_datetime(STAMP).encode() + b"\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
        b"--b\r\nContent-Type: text/calendar; method=REQUEST; name=../../x.ics\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(calendar).replace(b"\n", b"\r\n")
        + b"--b--\r\n"
    )
    with smtplib.SMTP("127.0.0.1", stack.sink_port, timeout=30) as smtp:
        smtp.sendmail("x@example.test", ["evil@example.com"], hostile)

    listed = mailbox(stack.var)
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\r" not in listed.stdout
    [row] = rows(listed.stdout)
    assert "hi\\r\\n2026-01-01 00:00:00Z  forged\\x1b[31m" in row
    assert len(listed.stdout.split("\n\n")[0].splitlines()) == 2  # the header and one row
    written = list((stack.var / "ics").iterdir())
    assert len(written) == 1
    assert written[0].name == "20261120T090000Z-_evil-REQUEST-seq7-_.ics"
    assert "1 calendar file in " in listed.stdout


def test_empty_and_missing_folders_say_so(tmp_path: Path) -> None:
    missing = mailbox(tmp_path / "nowhere")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"no mail folder at {tmp_path / 'nowhere' / 'mail'}: `make run` creates it"
    )
    for folder in ("new", "cur", "tmp"):
        (tmp_path / "var" / "mail" / folder).mkdir(parents=True)
    empty = mailbox(tmp_path / "var")
    assert empty.returncode == 0
    assert empty.stdout.startswith(f"no messages in {tmp_path / 'var' / 'mail'} yet")


def test_an_unreadable_calendar_is_listed_with_question_marks(stack: Stack) -> None:
    broken = (
        b"From: x@example.test\r\nTo: bob@example.com\r\nSubject: broken\r\n"
        b"Date: " + format_datetime(STAMP).encode() + b"\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/calendar; method=CANCEL\r\n\r\nBEGIN:VCALENDAR\r\nnot ical\r\n"
    )
    with smtplib.SMTP("127.0.0.1", stack.sink_port, timeout=30) as smtp:
        smtp.sendmail("x@example.test", ["bob@example.com"], broken)
    listed = mailbox(stack.var)
    assert listed.returncode == 0, listed.stderr
    [row] = rows(listed.stdout)
    assert row.split()[2:7] == ["bob@example.com", "CANCEL", "?", "?", "broken"]
