"""`roomsctl watch`: live changes, one JSON object per event, until Ctrl-C (exit 0)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from typing import Any

import pytest

from tests.processes import SchedulingProcess
from tests.roomsctl.cli import cli_env, command, run
from tests.scheduling_service.client import future, new_user

pytestmark = pytest.mark.slow  # starts PostgreSQL or service processes


class Watcher:
    def __init__(self, target: str, *args: str) -> None:
        self.process = subprocess.Popen(
            command(target, "--as", new_user("watcher"), "--json", "watch", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []  # drained as it comes: a full pipe would block the CLI
        threading.Thread(target=self._read, daemon=True).start()
        self._errors_read = threading.Thread(target=self._read_errors, daemon=True)
        self._errors_read.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        self.errors.extend(self.process.stderr)

    def until(self, wanted: str, room_id: str = "", timeout: float = 20.0) -> dict[str, Any]:
        """The first event of type `wanted` (for `room_id`), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"no {wanted} event in {timeout}s: {self.stop()}") from None
            event = json.loads(line)  # every line is one whole JSON object
            if event.get("type") == wanted and (
                not room_id or event.get("room", {}).get("roomId") == room_id
            ):
                return event

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        self._errors_read.join(5)  # the pipe's end: everything the CLI wrote
        return code, "".join(self.errors)


def test_watch_prints_a_created_event_and_exits_0_on_ctrl_c(server: SchedulingProcess) -> None:
    watcher = Watcher(server.address)
    try:
        watcher.until("TYPE_SYNCED")  # the snapshot is complete; live changes follow
        host = new_user("host")
        created = run(
            server.address,
            "--as",
            host,
            "--json",
            "create",
            "--title",
            "Watched",
            "--start",
            future().isoformat(),
            "--topic",
            "Graphs",
        )
        assert created.code == 0, created
        room_id = json.loads(created.out)["roomId"]

        event = watcher.until("TYPE_CREATED", room_id)
        assert event["room"]["hostId"] == host and event["room"]["title"] == "Watched"
        assert int(event["revision"]) > 0
    finally:
        code, err = watcher.stop()
    assert (code, err) == (0, "")


def test_watch_for_a_while_in_text_then_exit_0(server: SchedulingProcess) -> None:
    result = run(server.address, "--as", new_user(), "watch", "--timeout", "2")
    assert (result.code, result.err) == (0, "")
    synced = [line for line in result.lines if " SYNCED " in line]
    assert len(synced) == 1 and synced[0].endswith("(snapshot complete; live changes follow)")
