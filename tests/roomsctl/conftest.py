"""The CLI runs against a real scheduling server process on real PostgreSQL; `calendar
connect` also against a notification service and a CalDAV server (`system`)."""

from __future__ import annotations

from tests.scheduling_service.conftest import server  # noqa: F401  (session-scoped process)
from tests.system.conftest import system  # noqa: F401  (a database and processes per test)
