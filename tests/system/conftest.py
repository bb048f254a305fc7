"""A whole mail path per test: PostgreSQL, an SMTP sink, and the service processes a
test starts through `System` (tests/system/mail_system.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres
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
