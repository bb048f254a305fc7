"""Structured logging: one JSON object a line on stderr.

Call sites pass their fields with ``extra={"fields": {...}}``; `log_event` is the
short form. Anything that is not JSON-native is written with ``str()``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


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
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key != "fields" and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(service: str, level: str = "INFO") -> None:
    """Route the root logger to stderr as JSON lines; idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The gRPC, asyncio and SQLAlchemy loggers are chatty at INFO; keep their warnings.
    for name in ("sqlalchemy", "asyncio", "grpc", "alembic", "aiosmtpd", "mail.log", "pgserver"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": fields})


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
