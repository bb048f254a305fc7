"""In-memory stand-ins for the service layer's ports (service_layer/ports.py).

They keep the adapters' semantics where the use cases depend on them: a change's writes
are queued and applied at commit only if the guard holds (the room is still the version
the rules saw), a lost race brings back the room as it stands, the exclusion constraint
refuses overlapping slots, revisions rise by one per change, and the outbox keeps who
holds each room's event.
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
