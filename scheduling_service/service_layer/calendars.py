"""The calendar connection use cases: connect (check the calendar, then store the sealed
credentials and make the user's copies due), read, disconnect.

The check talks to the user's calendar server through the notification service, outside
any transaction: a slow server holds no database connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduling_service.domain import errors
from scheduling_service.domain.calendar import CalendarCredentials, Connection
from scheduling_service.domain.users import User
from scheduling_service.service_layer.ports import CalendarWriter, Database, UnitOfWork


@dataclass(frozen=True)
class ConnectCalendar:
    url: str
    credentials: CalendarCredentials
    email_invites: bool


class CalendarService:
    def __init__(self, database: Database, writer: CalendarWriter) -> None:
        self._db = database
        self._writer = writer

    async def connect(
        self, caller: User, command: ConnectCalendar, time_left_s: float | None = None
    ) -> Connection:
        # Registered first: the connection row refers to the caller's directory entry.
        await self._register(caller, time_left_s)
        verified = await self._writer.verify(caller.user_id, command.url, command.credentials)

        async def work(uow: UnitOfWork) -> Connection:
            uow.calendars.connect(caller.user_id, verified, command.email_invites)
            await uow.commit()
            connection = await uow.calendars.get(caller.user_id)
            if connection is None:  # disconnected in the meantime by another call
                raise errors.CalendarNotConnected("the calendar was disconnected meanwhile")
            return connection

        return await self._db.run(work, time_left_s=time_left_s)

    async def get(self, caller: User, time_left_s: float | None = None) -> Connection:
        async def work(uow: UnitOfWork) -> Connection:
            await uow.directory.register(caller)
            connection = await uow.calendars.get(caller.user_id)
            if connection is None:
                raise errors.CalendarNotConnected("no calendar is connected")
            return connection

        return await self._db.run(work, time_left_s=time_left_s)

    async def disconnect(
        self, caller: User, *, remove_events: bool, time_left_s: float | None = None
    ) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow.directory.register(caller)
            if await uow.calendars.get(caller.user_id) is None:
                raise errors.CalendarNotConnected("no calendar is connected")
            uow.calendars.disconnect(caller.user_id, remove_events=remove_events)
            await uow.commit()

        await self._db.run(work, time_left_s=time_left_s)

    async def _register(self, caller: User, time_left_s: float | None) -> None:
        async def work(uow: UnitOfWork) -> int:
            return await uow.directory.register(caller)

        await self._db.run(work, time_left_s=time_left_s)
