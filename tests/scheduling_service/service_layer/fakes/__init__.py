"""In-memory stand-ins for the service layer's ports (service_layer/ports.py).

They keep the adapters' semantics where the use cases depend on them: a change's writes
are queued and applied at commit only if the guard holds (the room is still the version
the rules saw), a lost race brings back the room as it stands, the exclusion constraint
refuses overlapping slots, revisions rise by one per change. They hold no rules of their
own: what a change writes to the outbox (who is mailed, who is skipped, who holds the
event, which reminders go and come) and to the change log arrives decided by the domain
(OutboxWrites, ChangeLogEntry), and they apply it as the SQL adapters do
(test_architecture.py checks that neither side decides).
"""

from tests.scheduling_service.service_layer.fakes.database import FakeDatabase, FakeUnitOfWork
from tests.scheduling_service.service_layer.fakes.outside import (
    FakeClock,
    FakeNotices,
    FakeSender,
    person,
)
from tests.scheduling_service.service_layer.fakes.store import Store

__all__ = [
    "FakeClock",
    "FakeDatabase",
    "FakeNotices",
    "FakeSender",
    "FakeUnitOfWork",
    "Store",
    "person",
]
