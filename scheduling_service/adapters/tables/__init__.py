"""The schema as SQLAlchemy Table metadata: what the migrations build, in one place to
read. The service's own statements are plain SQL on psycopg (adapters/*_sql.py); this
metadata is for Alembic, and a test checks that the migrations and it agree.

One module a part: rooms.py (users, rooms, rounds, slots, the change log), outbox.py,
calendars.py (connections, copies, feeds, busy time), waitlist.py.
"""

from __future__ import annotations

from scheduling_service.adapters.tables import calendars, outbox, rooms, waitlist
from scheduling_service.adapters.tables.base import metadata

__all__ = ["calendars", "metadata", "outbox", "rooms", "waitlist"]
