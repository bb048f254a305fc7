"""The README's quick start, as a new user follows it: `make run`, wait for its banner,
then the README's commands word for word in a shell, ending with Ctrl-C.

The one difference from a person at a terminal: free ports and a temporary folder
(DEV_VAR_DIR), so that this test never meets a developer's own `make run`. They reach
the commands through the environment (SCHEDULING_TARGET, DEV_VAR_DIR), the way the
banner's `export` line hands them over, so the commands themselves stay as written.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import icalendar
import pytest

from tests.smtp_sink import free_port

REPO = Path(__file__).resolve().parent.parent.parent
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
BANNER_START = "Try it (another terminal, in this directory):"
BANNER_END = "Ctrl-C stops everything."

pytestmark = pytest.mark.slow  # starts processes


def readme_commands() -> list[str]:
    """The quick start's shell block that a person types once `make run` is up."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    [block] = [b for b in blocks if b.startswith("export JWT_SECRET=")]
    return commands_of(block)


def commands_of(block: str) -> list[str]:
    """Shell commands, a backslash-continued command as one item (its text unchanged)."""
    commands: list[str] = []
    pending = ""
    for line in block.splitlines(keepends=True):
        pending += line
        if not line.rstrip("\n").endswith("\\"):
            commands.append(pending.rstrip("\n"))
            pending = ""
    return [c for c in commands if c.strip()]


class Shell:
    """One bash a test types into, command by command, reading what it prints."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: Ctrl-C goes to it alone
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def type(self, command: str) -> str:
        """Send `command`; return the marker whose line tells its exit code."""
        marker = f"__exit_{uuid.uuid4().hex}__"
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\necho {marker} $?\n")
        self.process.stdin.flush()
        return marker

    def read_until(self, pattern: str, timeout: float = 60) -> list[str]:
        """Lines up to and including the first that contains `pattern`."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while not seen or pattern not in seen[-1]:
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} within {timeout} s; saw:\n" + "\n".join(seen)
            try:
                seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                continue
        return seen

    def run(self, command: str) -> tuple[int, str]:
        """Type `command`, wait for it to finish: (exit code, what it printed)."""
        marker = self.type(command)
        *output, last = self.read_until(marker)
        return int(last.split()[-1]), "\n".join(output)

    def interrupt(self) -> None:
        """Ctrl-C, as a terminal sends it to its foreground job."""
        os.killpg(self.process.pid, signal.SIGINT)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def test_quick_start_word_for_word(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("scheduling", "notification", "smtp", "metrics")}
    # As at a terminal: nothing of the outer `make test` (MAKEFLAGS, MAKELEVEL) leaks in.
    outer = {"DATABASE_URL", "JWT_SECRET", "SCHEDULING_TARGET", "LOG_FORMAT", "MAKEFLAGS",
             "MAKELEVEL", "MFLAGS", "DEV_VAR_DIR"}  # fmt: skip
    env = {
        **{k: v for k, v in os.environ.items() if k not in outer},
        "SCHEDULING_LISTEN": f"127.0.0.1:{ports['scheduling']}",
        "NOTIFICATION_LISTEN": f"127.0.0.1:{ports['notification']}",
        "DEV_SMTP_PORT": str(ports["smtp"]),
        "METRICS_PORT": str(ports["metrics"]),
        "DEV_VAR_DIR": str(tmp_path),
    }
    log_path = tmp_path / "run.log"
    stack = subprocess.Popen(
        ["make", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("wb"),
        start_new_session=True,  # its own process group, like a terminal's job
    )
    shell = Shell({**env, "SCHEDULING_TARGET": env["SCHEDULING_LISTEN"]})
    try:
        banner = _wait_for_banner(stack, log_path)
        _check_banner(banner, tmp_path, env["SCHEDULING_LISTEN"], log_path)
        _follow_the_readme(shell, tmp_path)
    finally:
        shell.close()
        os.killpg(stack.pid, signal.SIGINT)  # Ctrl-C
        stack.wait(timeout=60)
    # make itself reports the interrupt; what counts is that everything it started stopped.
    log = log_path.read_text()
    assert "devstack: everything stopped cleanly" in log, log[-3000:]
    assert log.count('"event": "stopped"') == 2


def _follow_the_readme(shell: Shell, var: Path) -> None:
    export, create, book, reschedule, mail, watch = readme_commands()

    assert shell.run(export) == (0, "")
    code, out = shell.run(create)
    assert (code, out) == (0, ""), out  # the id went into $ROOM, nothing to copy
    code, booked = shell.run(book)
    assert code == 0, booked
    room_id = re.fullmatch(rf"booked room ({UUID})", booked.splitlines()[0])
    assert room_id, booked
    assert re.search(r"^  guest +bob$", booked, re.MULTILINE), booked
    code, moved = shell.run(reschedule)
    assert code == 0, moved
    assert moved.startswith(f"rescheduled room {room_id[1]}")
    assert re.search(r"^  sequence +2$", moved, re.MULTILINE), moved

    # A person reads the output before typing on; the relay delivers in the meantime.
    _wait_for_messages(var / "mail", 4)
    uid = f"{room_id[1]}@rooms.localhost"
    code, listed = shell.run(mail)
    assert code == 0, listed
    rows = [line.split(None, 6) for line in listed.splitlines() if re.match(r"\d{4}-", line)]
    assert sorted((to, method, seq, row_uid) for _, _, to, method, seq, row_uid, _ in rows) == [
        ("alice@example.com", "REQUEST", "1", uid),
        ("alice@example.com", "REQUEST", "2", uid),
        ("bob@example.com", "REQUEST", "1", uid),
        ("bob@example.com", "REQUEST", "2", uid),
    ]
    # The booking invites; the reschedule updates and says so (issue 15).
    subjects = {seq: [] for seq in ("1", "2")}
    for *_, seq, _, subject in rows:
        subjects[seq].append(subject)
    assert all(s.startswith("Invitation: Mock interview") for s in subjects["1"]), rows
    assert all(s.startswith("Updated invitation: Mock interview") for s in subjects["2"]), rows
    assert f"4 calendar files in {var / 'ics'}/" in listed
    imported = [_calendar(path) for path in sorted((var / "ics").glob("*.ics"))]
    assert sorted(imported) == [("REQUEST", uid, 1)] * 2 + [("REQUEST", uid, 2)] * 2
    # What make mail shows is what was delivered.
    delivered = sorted(_delivered(path) for path in (var / "mail" / "new").iterdir())
    assert delivered == sorted((to, seq) for _, _, to, _, seq, _, _ in rows)

    marker = shell.type(watch)
    seen = shell.read_until("SYNCED")
    assert any(f"SNAPSHOT {room_id[1]}" in line for line in seen), seen
    shell.interrupt()
    *_, last = shell.read_until(marker)
    assert last.split()[-1] == "0"  # Ctrl-C ends watch cleanly


def _wait_for_banner(stack: subprocess.Popen[bytes], log_path: Path) -> list[str]:
    deadline = time.monotonic() + 120
    while True:
        log = log_path.read_text()
        if BANNER_END in log:
            lines = log.split(BANNER_START, 1)[1].split(BANNER_END, 1)[0].splitlines()
            return [line.removeprefix("    ") for line in lines if line.strip()]
        assert stack.poll() is None, log[-3000:]
        assert time.monotonic() < deadline, log[-3000:]
        time.sleep(0.1)


def _check_banner(banner: list[str], var: Path, target: str, log_path: Path) -> None:
    """The banner shows the README's commands, after an export line for this stack;
    and it appears only after both services said they serve."""
    export, *rest = commands_of("\n".join(banner))
    readme_export, *readme_rest = readme_commands()
    assert rest == readme_rest
    assert export == f"{readme_export} SCHEDULING_TARGET={target} DEV_VAR_DIR={var}"
    before_banner = log_path.read_text().split(BANNER_START, 1)[0]
    events = [json.loads(line) for line in before_banner.splitlines() if line.startswith("{")]
    seen = {(e["service"], e["event"], e.get("ready")) for e in events}
    assert ("scheduling_service", "readiness", True) in seen, before_banner
    assert ("notification_service", "serving", None) in seen, before_banner


def _wait_for_messages(maildir: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(list((maildir / "new").glob("*"))) < count:
        assert time.monotonic() < deadline, f"fewer than {count} messages in {maildir}"
        time.sleep(0.1)


def _calendar(path: Path) -> tuple[str, str, int]:
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    event = calendar.walk("VEVENT")[0]
    return str(calendar["METHOD"]), str(event["UID"]), int(event["SEQUENCE"])


def _delivered(path: Path) -> tuple[str, str]:
    """(recipient, SEQUENCE) of one delivered message, read as a mail client would."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    attachment = next(p for p in message.walk() if p.get_content_type() == "application/ics")
    event = icalendar.Calendar.from_ical(attachment.get_content()).walk("VEVENT")[0]
    return str(message["To"]).split("<")[-1].strip(">"), str(event["SEQUENCE"])
