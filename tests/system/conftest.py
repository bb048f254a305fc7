"""A whole mail path per test: PostgreSQL, an SMTP sink, and the service processes a
test starts through `System` (tests/system/mail_system.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres
from tests.caldav_servers import Radicale, Xandikos
from tests.smtp_sink import start_sink
from tests.system.mail_system import System


@pytest.fixture
def system(postgres_server: str, tmp_path: Path) -> Iterator[System]:
    controller, sink = start_sink()
    with postgres.migrated_database(postgres_server) as url:
        running = System(url, sink, tmp_path)
        try:
            yield running
        finally:
            codes = [p.stop() for p in reversed(running.processes) if p.process.poll() is None]
            controller.stop()
            assert all(code == 0 for code in codes), codes


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    (tmp_path / "radicale").mkdir()
    server = Radicale(tmp_path / "radicale")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def xandikos(tmp_path: Path) -> Iterator[Xandikos]:
    (tmp_path / "xandikos").mkdir()
    server = Xandikos(tmp_path / "xandikos")
    server.start()
    try:
        yield server
    finally:
        server.stop()
