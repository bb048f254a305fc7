"""servicekit.logs: JSON for collectors, one readable line an event for a terminal.

The formatters are pure (unit tests with real LogRecords); which one a service picks is
checked on real processes whose stderr is a pseudo-terminal or a pipe.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from servicekit import logs
from tests.smtp_sink import free_port

# Every character the console format must not let through as itself.
UNSAFE = [chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]] + [
    "\u061c",
    "\u200e",
    "\u200f",
    *map(chr, range(0x2028, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]
CONSOLE_LINE = re.compile(
    r"\d\d:\d\d:\d\d\.\d{3} (?P<service>\S+) (?P<level>[A-Z]+) +(?P<rest>.*)", re.DOTALL
)


def _record(event: str = "rpc", level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    """A record as `logger.log(level, event, extra=extra)` makes it."""
    logger = logging.getLogger("tests.logs")
    return logger.makeRecord(logger.name, level, __file__, 1, event, (), None, extra=extra)


def console(record: logging.LogRecord) -> str:
    return logs.ConsoleFormatter("scheduling_service").format(record)


def test_console_line_shows_time_service_level_event_and_fields() -> None:
    record = _record("rpc", fields={"method": "BookRoom", "code": "OK", "latency_ms": 3.1})
    line = console(record)
    match = CONSOLE_LINE.fullmatch(line)
    assert match, line
    assert match["service"] == "scheduling_service"
    assert match["level"] == "INFO"
    assert match["rest"] == "rpc method=BookRoom code=OK latency_ms=3.1"


def test_the_event_logger_and_plain_records_reach_both_formats() -> None:
    styles = {
        "fields": _record("invite attempt", fields={"room_id": "r1", "attempt": 2}),
        "plain extra": _record("invite attempt", room_id="r1", attempt=2),
    }
    logger = logging.getLogger("tests.logs.style")
    logger.setLevel(logging.INFO)
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logs.JsonFormatter("scheduling_service"))
    logger.addHandler(handler)
    try:
        logs.get_logger("tests.logs.style").info("invite attempt", room_id="r1", attempt=2)
    finally:
        logger.removeHandler(handler)
    from_log_event = json.loads(captured.getvalue())
    for name, record in styles.items():
        entry = json.loads(logs.JsonFormatter("scheduling_service").format(record))
        assert (entry["event"], entry["room_id"], entry["attempt"]) == ("invite attempt", "r1", 2)
        assert entry["service"] == "scheduling_service" and entry["level"] == "info", name
        assert {k: from_log_event[k] for k in ("event", "room_id", "attempt")} == {
            k: entry[k] for k in ("event", "room_id", "attempt")
        }
        assert console(record).endswith(" invite attempt room_id=r1 attempt=2"), name


def test_console_quotes_what_could_be_misread_and_leaves_out_unset_fields() -> None:
    record = _record(
        "rpc",
        fields={
            "title": 'Mock "interview" = 1',
            "path": "C:\\temp",
            "empty": "",
            "none": None,
            "ok": False,
            "ids": [1, 2],
        },
    )
    rest = CONSOLE_LINE.fullmatch(console(record))["rest"]  # type: ignore[index]
    assert rest == ('rpc title="Mock \\"interview\\" = 1" path="C:\\\\temp" ok=False ids="[1, 2]"')


@pytest.mark.parametrize("char", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_no_value_can_forge_a_second_console_line(char: str) -> None:
    forged = f"x{char}12:00:00.000 scheduling_service ERROR  forged by=attacker"
    record = _record(forged, fields={f"k{char}": forged, "plain": f"a{char}b"})
    line = console(record)
    assert char not in line
    assert len(line.splitlines()) == 1
    # What was sent stays visible, as an escape, in the value it was sent in.
    assert "12:00:00.000 scheduling_service ERROR" in line
    escaped = logs.escape(char)
    assert escaped.startswith("\\") and len(escaped) > 1
    assert f'plain="a{escaped}b"' in line


def test_a_traceback_follows_on_marked_lines_that_no_event_line_looks_like() -> None:
    try:
        raise ValueError("bad\n12:00:00.000 scheduling_service INFO  forged")
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    first, *rest = console(record).split("\n")
    assert CONSOLE_LINE.fullmatch(first) and first.endswith(" failed")
    assert rest and all(line.startswith("  | ") for line in rest)
    assert any("ValueError: bad" in line for line in rest)
    assert json.loads(logs.JsonFormatter("s").format(record))["exception"].startswith("Traceback")


def test_long_console_values_are_cut_and_say_so() -> None:
    record = _record("dry_run_message", fields={"mime": "x" * 5000})
    line = console(record)
    assert len(line) < logs.CONSOLE_VALUE_LIMIT + 100
    assert f"(+{5000 - logs.CONSOLE_VALUE_LIMIT} chars)" in line
    entry = json.loads(logs.JsonFormatter("s").format(record))
    assert entry["mime"] == "x" * 5000  # JSON keeps everything


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("variable", "terminal", "expected"),
    [
        (None, True, "console"),
        (None, False, "json"),
        ("json", True, "json"),
        ("console", False, "console"),
        (" Console ", False, "console"),
    ],
)
def test_choose_format(variable: str | None, terminal: bool, expected: str) -> None:
    env = {} if variable is None else {"LOG_FORMAT": variable}
    stream = _Terminal() if terminal else io.StringIO()
    assert logs.choose_format(env, stream) == expected


def test_unknown_format_is_refused() -> None:
    with pytest.raises(logs.LogFormatError, match="LOG_FORMAT='yaml' is not one of json, console"):
        logs.choose_format({"LOG_FORMAT": "yaml"}, io.StringIO())


# What the services do with it, as processes.


def _notification_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LOG_FORMAT"}
    env.update(NOTIFICATION_LISTEN=f"127.0.0.1:{free_port()}", **extra)
    return env


def _first_lines_on_a_terminal(env: dict[str, str], until: str) -> str:
    """Run the notification service with stderr on a pseudo-terminal until `until`
    shows up; return what the terminal showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "notification_service", "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while until.encode() not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(leader, 4096)
                except OSError:  # the process closed the terminal
                    break
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        os.close(leader)
    return seen.decode(errors="replace")


def test_a_service_on_a_terminal_prints_readable_lines() -> None:
    shown = _first_lines_on_a_terminal(_notification_env(), until="serving")
    line = next(row for row in shown.splitlines() if " serving " in row)
    match = CONSOLE_LINE.fullmatch(line.rstrip("\r"))
    assert match, shown
    assert (match["service"], match["level"]) == ("notification_service", "INFO")
    assert match["rest"].startswith("serving listen=127.0.0.1:")
    assert "{" not in shown


def test_log_format_json_wins_over_a_terminal() -> None:
    shown = _first_lines_on_a_terminal(_notification_env(LOG_FORMAT="json"), until='"serving"')
    line = next(row for row in shown.splitlines() if '"serving"' in row)
    assert json.loads(line)["service"] == "notification_service"


def test_not_a_terminal_means_json() -> None:
    env = _notification_env()
    process = subprocess.Popen(
        [sys.executable, "-m", "notification_service", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = json.loads(process.stderr.readline())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert first["service"] == "notification_service"


@pytest.mark.parametrize("service", ["notification_service", "scheduling_service"])
def test_both_services_refuse_an_unknown_log_format(service: str) -> None:
    command = "serve" if service == "notification_service" else "migrate"
    result = subprocess.run(
        [sys.executable, "-m", service, command],
        env=_notification_env(LOG_FORMAT="yaml", DATABASE_URL="postgresql://nowhere/x"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "configuration error: LOG_FORMAT='yaml' is not one of json, console"
    )
    assert len(result.stderr.splitlines()) == 1
