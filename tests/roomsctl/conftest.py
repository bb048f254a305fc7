"""The CLI runs against a real scheduling server process on real PostgreSQL."""

from __future__ import annotations

from tests.scheduling_service.conftest import server  # noqa: F401  (session-scoped process)
