"""The calendar feed through the real gateway, as a calendar application fetches it: the
.ics bytes themselves (not JSON), no bearer token, conditional GET by ETag (304), and
the feed's life (rotate, reschedule, revoke) seen from its URL.

grpc-gateway 1.6.4 has no HttpBody support of its own: deploy/gateway/main.go adds it
(see /work/shared/notes/gateway-and-containers.md), so these are its checks too.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import icalendar
import pytest

from tests.e2e.gateway.errors import Observed, from_reply
from tests.e2e.gateway.http import Reply
from tests.e2e.gateway.stack import Stack, stack
from tests.e2e.gateway.users import create, ok, rfc3339, start_at, token, user

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FEED_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 256 bits, base64url without padding
STRONG_ETAG = re.compile(r'^"[^"]+"$')
ICS = "text/calendar; charset=utf-8"


@dataclass
class Fetched:
    status: int
    body: bytes
    headers: http.client.HTTPMessage  # looked up case-insensitively

    def error(self) -> Observed:
        """The gateway's JSON error body, as the other gateway tests read it."""
        assert self.headers["Content-Type"] == "application/json", self
        return from_reply(Reply(self.status, json.loads(self.body)))


def fetch(gw: Stack, path: str, headers: dict[str, str] | None = None) -> Fetched:
    """A GET as a calendar application sends it: no Authorization, no Content-Type, the
    path sent as written (percent-escapes and all)."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.gateway.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        reply = conn.getresponse()
        return Fetched(reply.status, reply.read(), reply.headers)
    finally:
        conn.close()


def rotate(gw: Stack, user_id: str) -> dict[str, Any]:
    return dict(ok(gw.http.call("POST", "/v1/calendarFeed:rotate", token=token(user_id), body={})))


def feed_path(feed: dict[str, Any]) -> str:
    """The path of the feed URL: FEED_BASE_URL is not this gateway's address here."""
    return urlsplit(feed["feedUrl"]).path


def booked(gw: Stack) -> tuple[str, str, dict[str, Any]]:
    """host, guest, and the room as the booking left it."""
    host, guest = user("host"), user("guest")
    room = create(gw.http, host)
    path = f"/v1/rooms/{room['roomId']}:book"
    return host, guest, dict(ok(gw.http.call("POST", path, token=token(guest), body={})))


def events(body: bytes) -> dict[str, Any]:
    calendar = icalendar.Calendar.from_ical(body.decode("utf-8"))
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def instant(rfc3339_utc: str) -> datetime:
    return datetime.fromisoformat(rfc3339_utc.replace("Z", "+00:00"))


def test_rotate_returns_the_feed_url_and_ends_the_previous_one(gw: Stack) -> None:
    owner = user("owner")
    feed = rotate(gw, owner)
    assert FEED_TOKEN.match(feed["token"]), feed
    assert feed_path(feed) == f"/v1/calendarFeeds/{feed['token']}.ics"
    assert feed["createTime"]

    again = rotate(gw, owner)
    assert again["token"] != feed["token"]
    assert fetch(gw, feed_path(again)).status == 200
    assert fetch(gw, feed_path(feed)).error().reasons == ["FEED_NOT_FOUND"]


@pytest.mark.parametrize("suffix", [".ics", ""])
def test_the_feed_is_the_ics_itself_without_a_bearer_token(gw: Stack, suffix: str) -> None:
    _, guest, room = booked(gw)
    feed = rotate(gw, guest)
    got = fetch(gw, f"/v1/calendarFeeds/{feed['token']}{suffix}")

    assert got.status == 200, got
    assert got.headers["Content-Type"] == ICS
    assert STRONG_ETAG.match(got.headers["ETag"] or ""), got.headers
    assert got.headers["Cache-Control"] == "private, max-age=0, must-revalidate"
    # As HTTP headers only, not also as the gateway's copies of the metadata.
    for copy in ("Grpc-Metadata-Etag", "Grpc-Metadata-Cache-Control", "Grpc-Metadata-X-Http-Code"):
        assert copy not in got.headers, got.headers
    assert got.body.startswith(b"BEGIN:VCALENDAR"), got.body[:200]

    event = events(got.body)[room["icsUid"]]
    assert event.decoded("DTSTART") == instant(room["startTime"])
    assert room["title"] in str(event["SUMMARY"])


def test_if_none_match_with_the_etag_is_304_without_a_body(gw: Stack) -> None:
    _, guest, _ = booked(gw)
    path = feed_path(rotate(gw, guest))
    first = fetch(gw, path)
    assert first.status == 200, first
    etag = first.headers["ETag"]

    same = fetch(gw, path, {"If-None-Match": etag})
    assert (same.status, same.body) == (304, b""), same
    assert same.headers["ETag"] == etag
    assert "Grpc-Metadata-X-Http-Code" not in same.headers

    other = fetch(gw, path, {"If-None-Match": '"not-this-one"'})
    assert (other.status, other.headers["ETag"]) == (200, etag)
    assert other.body == first.body  # a strong ETag: the same bytes


def test_a_reschedule_changes_the_feed_and_its_etag(gw: Stack) -> None:
    host, guest, room = booked(gw)
    path = feed_path(rotate(gw, guest))
    before = fetch(gw, path)
    assert before.status == 200, before

    new_start = start_at(days=5)
    ok(
        gw.http.call(
            "POST",
            f"/v1/rooms/{room['roomId']}:reschedule",
            token=token(host),
            body={"startTime": rfc3339(new_start), "etag": room["etag"]},
        )
    )
    after = fetch(gw, path, {"If-None-Match": before.headers["ETag"]})
    assert after.status == 200, after
    assert STRONG_ETAG.match(after.headers["ETag"] or "")
    assert after.headers["ETag"] != before.headers["ETag"]
    assert events(after.body)[room["icsUid"]].decoded("DTSTART") == new_start


@pytest.mark.parametrize("suffix", [".ics", ""])
def test_an_unknown_token_is_404_feed_not_found(gw: Stack, suffix: str) -> None:
    unknown = secrets.token_urlsafe(32)
    assert FEED_TOKEN.match(unknown)
    error = fetch(gw, f"/v1/calendarFeeds/{unknown}{suffix}").error()
    assert (error.http_status, error.code_name, error.reasons) == (
        404,
        "NOT_FOUND",
        ["FEED_NOT_FOUND"],
    )


ODD_TOKENS = {
    "dot-dot": "%2e%2e",
    "dot-dot.ics": "%2e%2e.ics",
    "semicolon": "a;b",
    "300 characters": "x" * 300,
    "only .ics": ".ics",
    "space": "a%20b",
    "NUL": "%00",
    "not UTF-8": "%ff",  # grpc-go would refuse to send it: main.go answers it
    "43 non-ASCII": "%C3%A9" * 43,
    "escaped slash": "a%2Fb",  # no route: the gateway's own plain 404
}


@pytest.mark.parametrize("odd", ODD_TOKENS.values(), ids=list(ODD_TOKENS))
def test_odd_tokens_are_400_or_404_never_500(gw: Stack, odd: str) -> None:
    got = fetch(gw, f"/v1/calendarFeeds/{odd}")
    assert got.status in (400, 404), got
    if got.headers["Content-Type"] == "application/json":
        assert got.error().reasons in (["INVALID_ARGUMENT"], ["FEED_NOT_FOUND"]), got


def test_revoke_ends_the_feed(gw: Stack) -> None:
    _, guest, _ = booked(gw)
    path = feed_path(rotate(gw, guest))
    assert fetch(gw, path).status == 200

    revoked = gw.http.call("DELETE", "/v1/calendarFeed", token=token(guest))
    assert (revoked.status, revoked.body) == (200, {})
    for url in (path, path.removesuffix(".ics")):
        error = fetch(gw, url).error()
        assert (error.http_status, error.reasons) == (404, ["FEED_NOT_FOUND"])
    again = from_reply(gw.http.call("DELETE", "/v1/calendarFeed", token=token(guest)))
    assert (again.http_status, again.reasons) == (404, ["FEED_NOT_FOUND"])


def test_a_token_read_too_often_is_429_feed_rate_limited(
    postgres_server: str, tmp_path: Path
) -> None:
    with stack(postgres_server, tmp_path, FEED_RATE_PER_MIN="2") as own:
        path = feed_path(rotate(own, user("owner")))
        assert [fetch(own, path).status for _ in range(2)] == [200, 200]
        error = fetch(own, path).error()
        assert (error.http_status, error.code_name, error.reasons) == (
            429,
            "RESOURCE_EXHAUSTED",
            ["FEED_RATE_LIMITED"],
        )


@pytest.mark.parametrize("path", ["/v1/rooms/%ff", "/v1/calendarFeeds/%ff.ics", "/v1/%c3"])
def test_a_path_that_is_not_utf8_is_a_clean_400_on_every_route(gw: Stack, path: str) -> None:
    got = fetch(gw, path)
    assert got.status == 400, got
    assert got.error().reasons == ["INVALID_ARGUMENT"], got
