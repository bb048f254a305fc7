"""Structured logging on stderr: one JSON object a line, or one readable line an event.

Both services log one way: `log = get_logger(__name__)`, then
`log.info("event", key=value, ...)` (EventLog, at the end of this module). Records from
libraries (extra fields or none) are formatted the same way. Anything that is not
JSON-native is written with ``str()``.

`LOG_FORMAT` chooses the format: `json` (what log collectors read), `console` (for a
person: time, service, level, event, then the fields as key=value), or unset: console
when stderr is a terminal, JSON otherwise. Both services read it through `configure`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

FORMATS = ("json", "console")

# A console value longer than this is cut (LOG_FORMAT=json keeps it whole): a dry-run
# mail or a traceback in a field would otherwise fill the screen.
CONSOLE_VALUE_LIMIT = 300

# What a terminal could take for a line break, a cursor move or a colour, or what
# reorders the text it shows: C0 (with LF, CR, TAB, ESC), DEL, C1 (with NEL), the
# Unicode line and paragraph separators and the bidirectional controls. Each is
# written as an escape, so a value a caller controls stays inside its own line.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A bare value is one a reader cannot misread: no spaces, quotes, '=' or backslashes.
_BARE = re.compile(r"[^\s\"'=\\]+")


class LogFormatError(ValueError):
    """LOG_FORMAT holds something other than json or console."""


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a call site attached, in both call styles."""
    fields: dict[str, Any] = {}
    given = getattr(record, "fields", None)
    if isinstance(given, dict):
        fields.update(given)
    for key, value in record.__dict__.items():
        if key not in _RESERVED and key != "fields" and not key.startswith("_"):
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(_record_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """One line an event, in local time; fields without a value are left out:
    `12:00:01.234 scheduling_service INFO  rpc method=BookRoom code=OK latency_ms=3.1`.

    Every character a terminal would act on is escaped, so one event is one line
    whatever a caller put in it; a traceback follows on lines that start with `  | `,
    which no event line does.
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        parts = [
            f"{clock}.{int(record.msecs):03d}",
            self._service,
            f"{record.levelname:<5}",
            escape(record.getMessage()),
        ]
        # Unset fields (None, "") say nothing to a person; LOG_FORMAT=json keeps them.
        parts += [
            f"{escape(str(key))}={console_value(value)}"
            for key, value in _record_fields(record).items()
            if value is not None and value != ""
        ]
        line = " ".join(parts)
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            line += "".join(f"\n  | {escape(row)}" for row in trace.split("\n"))
        return line


def escape(text: str) -> str:
    """`text` with every terminal-unsafe character written as a visible escape."""
    return _UNSAFE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def console_value(value: Any) -> str:
    """A field's value as key=value shows it: bare when unambiguous, else quoted."""
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    if len(text) > CONSOLE_VALUE_LIMIT:
        text = f"{text[:CONSOLE_VALUE_LIMIT]}…(+{len(text) - CONSOLE_VALUE_LIMIT} chars)"
    if _BARE.fullmatch(text) and not _UNSAFE.search(text):
        return text
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escape(quoted)}"'


def choose_format(env: Mapping[str, str], stream: TextIO) -> str:
    """`LOG_FORMAT` when set; otherwise console for a terminal, JSON for anything else."""
    chosen = env.get("LOG_FORMAT", "").strip().lower()
    if chosen in FORMATS:
        return chosen
    if chosen:
        raise LogFormatError(f"LOG_FORMAT={env['LOG_FORMAT']!r} is not one of {', '.join(FORMATS)}")
    isatty = getattr(stream, "isatty", None)
    return "console" if isatty is not None and isatty() else "json"


def configure(
    service: str,
    level: str = "INFO",
    *,
    env: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Route the root logger to stderr in the format `choose_format` picks; idempotent.

    Raises LogFormatError for a LOG_FORMAT it does not know.
    """
    stream = sys.stderr if stream is None else stream
    chosen = choose_format(os.environ if env is None else env, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        ConsoleFormatter(service) if chosen == "console" else JsonFormatter(service)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The gRPC, asyncio and SQLAlchemy loggers are chatty at INFO; keep their warnings.
    for name in ("sqlalchemy", "asyncio", "grpc", "alembic", "aiosmtpd", "mail.log", "pgserver"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


class EventLog:
    """The one call style of both services: an event name and its fields,
    `log.info("rpc", code="OK", latency_ms=1.2)`, written as one JSON line."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)

    def debug(self, event: str, **fields: Any) -> None:
        self.log(logging.DEBUG, event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.log(logging.INFO, event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log(logging.WARNING, event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log(logging.ERROR, event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An error with the exception being handled (its traceback in `exception`)."""
        self.logger.error(event, exc_info=True, extra={"fields": fields})

    def log(
        self, level: int, event: str, *, exc_info: BaseException | bool = False, **fields: Any
    ) -> None:
        if self.logger.isEnabledFor(level):
            self.logger.log(level, event, exc_info=exc_info, extra={"fields": fields})


def get_logger(name: str) -> EventLog:
    return EventLog(name)
