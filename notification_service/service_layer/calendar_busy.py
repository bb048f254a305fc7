"""The busy-time use case (design.md section 13, ReadCalendarBusy): read a connected
calendar over a range and answer the intervals it holds, merged. No protobuf here.

Validate (domain/calendar_validation.py) → open the sealed credentials as a write does
(calendars.py: sealed anew when an older key sealed them; a missing setting is a
temporary failure logged as a configuration error) → one calendar-query through the
gateway → clip, merge and cap (domain/busy.py). A failure of the calendar server is the
outcome a write would get for it (calendars.failed); only an invalid request raises.

Nothing of a person's events leaves here but intervals: the gateway hands over bare
times, and the log line and `detail` carry counts, never a title, an attendee or a UID.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from notification_service import metrics
from notification_service.domain.busy import (
    MAX_INTERVALS,
    BusyReadRequest,
    BusyReadResult,
    CalendarBusy,
    Interval,
    ReadOutcome,
    ValidBusyRead,
    merge_busy,
)
from notification_service.domain.calendar import CalendarWriteResult
from notification_service.domain.calendar_validation import validate_busy_read
from notification_service.domain.errors import CalendarError
from notification_service.service_layer.calendars import Calendars, failed
from notification_service.service_layer.ports import CalendarGateway
from servicekit.logs import get_logger

log = get_logger(__name__)

_LEVELS = {
    ReadOutcome.READ: logging.INFO,
    ReadOutcome.TEMPORARY_FAILURE: logging.WARNING,
    ReadOutcome.CREDENTIALS_REJECTED: logging.WARNING,
    ReadOutcome.PERMANENT_FAILURE: logging.ERROR,
}


def _as_read(result: CalendarWriteResult) -> BusyReadResult:
    """A failure as a read's: the same outcome (never WRITTEN or REMOVED here)."""
    return BusyReadResult(
        ReadOutcome[result.outcome.value],
        detail=result.detail,
        retry_at=result.retry_at,
        config_error=result.config_error,
    )


def read_detail(found: CalendarBusy, cut_after: Interval | None) -> str:
    """What a read could not use, as counts (for logs); where the cap cut, if it did."""
    notes = []
    if found.unreadable:
        notes.append(f"{found.unreadable} calendar objects or events could not be read")
    if not found.expanded:
        notes.append("the server failed to expand recurrences (HTTP 500); read unexpanded")
    if found.unexpanded:
        notes.append(
            f"{found.unexpanded} recurring events came unexpanded: "
            "each counts at its own start and RDATEs only"
        )
    if cut_after is not None:
        notes.append(
            f"more than {MAX_INTERVALS} busy intervals: none after {cut_after.end.isoformat()}"
        )
    return "; ".join(notes)


class CalendarBusyReader:
    """ReadCalendarBusy over the same credentials handling as Calendars' writes."""

    def __init__(self, calendars: Calendars, gateway: CalendarGateway) -> None:
        self._calendars = calendars
        self._gateway = gateway

    async def read(self, request: BusyReadRequest) -> BusyReadResult:
        """The busy time over a range, as merged intervals; raises InvalidMessage only."""
        valid = validate_busy_read(request)
        started = time.monotonic()
        result = await self._read(valid)
        metrics.CALENDAR_READS.labels(result.outcome.value).inc()
        log.log(
            logging.ERROR if result.config_error else _LEVELS[result.outcome],
            "calendar_configuration_error" if result.config_error else "calendar_busy_read",
            outcome=result.outcome.value,
            detail=result.detail,
            config_error=result.config_error,
            resealed=bool(result.resealed),
            intervals=len(result.intervals),
            asked_changes=bool(valid.sync_token),
            unchanged=result.unchanged,
            range_days=(valid.end - valid.start).days,
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            user_id=valid.user_id,
        )
        return result

    async def _read(self, valid: ValidBusyRead) -> BusyReadResult:
        opened = self._calendars.open_sealed(
            valid.sealed_credentials, valid.user_id, valid.calendar_url
        )
        if isinstance(opened, CalendarWriteResult):
            return _as_read(opened)
        credentials, resealed = opened
        refused = self._calendars.refusal(credentials)
        if refused is not None:
            return replace(_as_read(refused), resealed=resealed)
        try:
            found = await self._gateway.read_busy(
                valid.user_id,
                credentials,
                valid.calendar_url,
                valid.start,
                valid.end,
                valid.own_uid_domain,
                valid.sync_token,
            )
        except CalendarError as error:
            return replace(_as_read(failed(error)), resealed=resealed)
        if found.unchanged:
            return BusyReadResult(
                ReadOutcome.READ, sync_token=found.sync_token, unchanged=True, resealed=resealed
            )
        intervals, cut = merge_busy(found.occurrences, valid.start, valid.end)
        detail = read_detail(found, intervals[-1] if cut else None)
        return BusyReadResult(
            ReadOutcome.READ,
            intervals,
            detail=detail,
            resealed=resealed,
            # Intervals cut short are not the whole range: no later read may keep them.
            sync_token="" if cut else found.sync_token,
        )
