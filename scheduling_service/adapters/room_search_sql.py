"""ListRooms' search filters as SQL conditions on `rooms r` (docs/design.md §15 and
§17): `bookable`, `query`, `respect_calendar` and the duration bounds, inside the same
keyset pages as the plain listing (rooms_sql.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scheduling_service.adapters import calendar_busy_sql, waitlist_sql
from scheduling_service.domain.queries import RoomQuery
from scheduling_service.domain.users import User

# A room the viewer could book: open, someone else's, not started, not held for
# someone else, and clear of every session of theirs (the exclusion constraint's own
# ranges, so its GiST index answers).
_BOOKABLE = f"""
    r.guest_id IS NULL AND r.host_id <> %(viewer)s AND r.starts > %(now)s
    AND NOT {waitlist_sql.HELD_FROM_VIEWER}
    AND NOT EXISTS (
        SELECT 1 FROM room_slots s
         WHERE int8range(s.user_no, s.user_no, '[]')
               && int8range(%(viewer_no)s::bigint, %(viewer_no)s::bigint, '[]')
           AND tstzrange(s.starts, s.ends) && tstzrange(r.starts, r.ends)
    )
"""
# Every word in the title or topics, or, where the viewer may see the description
# (an open room, their own, or a trusted viewer), in those or the description.
_MATCHES = """
    (r.search_public @@ plainto_tsquery('simple', %(text)s)
     OR (r.search_all @@ plainto_tsquery('simple', %(text)s)
         AND (r.guest_id IS NULL OR r.host_id = %(viewer)s OR r.guest_id = %(viewer)s
              OR %(trusted)s)))
"""


def conditions(
    query: RoomQuery, viewer: User, viewer_no: int, now: datetime, params: dict[str, Any]
) -> list[str]:
    """SQL conditions on `rooms r` for ListRooms' search filters, adding their
    parameters to `params` (which holds the viewer's id as `viewer`)."""
    found = []
    if query.bookable:
        found.append(_BOOKABLE)
        params["viewer_no"], params["now"] = viewer_no, now
    if query.text:
        found.append(_MATCHES)
        params["text"], params["trusted"] = query.text, viewer.trusted
    if query.respect_calendar:
        found.append("NOT " + calendar_busy_sql.OVERLAPS.format(starts="r.starts", ends="r.ends"))
        params["busy_no"] = viewer_no
    if query.min_length is not None:
        found.append("r.ends - r.starts >= %(min_length)s")
        params["min_length"] = query.min_length
    if query.max_length is not None:
        found.append("r.ends - r.starts <= %(max_length)s")
        params["max_length"] = query.max_length
    return found
