"""What the scripted-server calendar tests share (test_calendar_verify_failures.py,
test_calendar_write_failures.py): a collection that answers PROPFIND as told, the test
credentials and their sealed form, a notification server with a short CalDAV deadline,
and the check that no secret shows."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from notification.v1 import notification_pb2 as pb
from prometheus_client import REGISTRY

from notification_service.credentials.sealing import BasicCredentials
from notification_service.entrypoints.config import Config
from tests.notification_service.calendar_helpers import (
    calendar_config,
    keyring,
)
from tests.notification_service.delivery.calendar.hostile_server import (
    HostileServer,
    Seen,
    respond,
)

URL = "https://cal.example.com/"
USERNAME, PASSWORD = "alice", "s3cret-Passw0rd"
SECRETS = [PASSWORD, base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()]

MULTISTATUS = """<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:response><D:href>{href}</D:href><D:propstat><D:prop>
<D:resourcetype><D:collection/><C:calendar/></D:resourcetype>
<C:supported-calendar-component-set><C:comp name="{component}"/>
</C:supported-calendar-component-set>
<D:current-user-privilege-set><D:privilege><D:read/></D:privilege>{write}
</D:current-user-privilege-set>
</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>"""


def calendar_answer(seen: Seen, *, component: str = "VEVENT", writable: bool = True) -> bytes:
    write = "<D:privilege><D:write/></D:privilege>" if writable else ""
    return MULTISTATUS.format(href=seen.target, component=component, write=write).encode()


def collection_server(**answer: Any) -> HostileServer:
    """Answers every PROPFIND with one calendar collection (at the URL asked)."""

    async def script(seen: Seen, writer: asyncio.StreamWriter) -> None:
        body = calendar_answer(seen, **answer)
        await respond(207, body, {"Content-Type": "application/xml"})(seen, writer)

    return HostileServer(script)


def url_of(server: HostileServer, path: str = "/cal/") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def sealed_for(url: str, user_id: str = "user-1", **config: Any) -> pb.VerifyCalendarResponse:
    """What VerifyCalendar would have answered for `url` (sealed with the test key)."""
    credentials = config.pop("credentials", BasicCredentials(USERNAME, PASSWORD))
    blob = keyring().seal(credentials, user_id=user_id, calendar_url=url)
    return pb.VerifyCalendarResponse(calendar_url=url, provider="caldav", sealed_credentials=blob)


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scripted_config() -> Config:
    """Calendars on, with a one-second CalDAV deadline: scripted servers answer at once
    or never."""
    return calendar_config(caldav_timeout_s=1.0)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
