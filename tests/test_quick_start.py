"""The README's quick start, as a new user runs it: `make run`, then the CLI.

The one difference from a person at a terminal: free ports and a temporary folder
(DEV_VAR_DIR) instead of the defaults, so that this test never meets a developer's
own `make run`.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

from tests.smtp_sink import free_port

REPO = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"

pytestmark = pytest.mark.slow  # starts processes


def _roomsctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roomsctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_make_run_then_book_and_reschedule_with_the_cli(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("scheduling", "notification", "smtp", "metrics")}
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")},
        "SCHEDULING_LISTEN": f"127.0.0.1:{ports['scheduling']}",
        "NOTIFICATION_LISTEN": f"127.0.0.1:{ports['notification']}",
        "DEV_SMTP_PORT": str(ports["smtp"]),
        "METRICS_PORT": str(ports["metrics"]),
        "DEV_VAR_DIR": str(tmp_path),
    }
    stack = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "run.log").open("wb"),
        start_new_session=True,  # its own process group, like a terminal's job
    )
    try:
        cli = {**env, "JWT_SECRET": DEV_SECRET, "SCHEDULING_TARGET": env["SCHEDULING_LISTEN"]}
        _wait_until_serving(cli, stack, tmp_path)
        start = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT10:00:00Z")
        created = _roomsctl(
            cli, "--json", "--as", "alice", "create", "--title", "Mock interview",
            "--topic", "Arrays", "--start", start,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        room_id = json.loads(created.stdout)["roomId"]
        booked = _roomsctl(cli, "--as", "bob", "book", room_id)
        assert booked.returncode == 0, booked.stderr
        later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT10:00:00Z")
        moved = _roomsctl(cli, "--as", "alice", "reschedule", room_id, "--start", later)
        assert moved.returncode == 0, moved.stderr
        assert "sequence    2" in moved.stdout

        inbox = tmp_path / "mail" / "new"
        deadline = time.monotonic() + 30
        while len(list(inbox.glob("*"))) < 4:
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(0.1)
        invites = [_invite(path) for path in sorted(inbox.iterdir())]
        assert sorted((to, seq) for to, seq, _ in invites) == [
            ("alice@example.com", 1),
            ("alice@example.com", 2),
            ("bob@example.com", 1),
            ("bob@example.com", 2),
        ]
        assert {uid for _, _, uid in invites} == {f"{room_id}@rooms.localhost"}
    finally:
        os.killpg(stack.pid, signal.SIGINT)  # Ctrl-C
        stack.wait(timeout=60)
    # make itself reports the interrupt; what counts is that everything it started stopped.
    log = (tmp_path / "run.log").read_text()
    assert "devstack: everything stopped cleanly" in log, log[-3000:]
    assert log.count('"event": "stopped"') == 2


def _invite(path: Path) -> tuple[str, int, str]:
    """What a calendar client would import from one delivered message."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    attachment = next(
        part for part in message.walk() if part.get_content_type() == "application/ics"
    )
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    event = calendar.walk("VEVENT")[0]
    assert str(calendar["METHOD"]) == "REQUEST"
    return str(message["To"]).split("<")[-1].strip(">"), int(event["SEQUENCE"]), str(event["UID"])


def _wait_until_serving(env: dict[str, str], stack: subprocess.Popen[bytes], logs: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert stack.poll() is None, (logs / "run.log").read_text()[-3000:]
        if _roomsctl(env, "--as", "probe", "list").returncode == 0:
            return
        assert time.monotonic() < deadline, (logs / "run.log").read_text()[-3000:]
        time.sleep(0.3)
