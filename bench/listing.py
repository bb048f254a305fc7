"""The ListRooms scenarios: pages at 1k and 100k seeded rooms, plain, `bookable` and
`query` (design §13: a page at 100k rooms costs about what it costs at 1k)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bench.seed import seed_rooms
from bench.services import Services
from tests.postgres import libpq_url

if TYPE_CHECKING:
    from bench.scenarios import Bench

# Pages in flight at once.
LIST_IN_FLIGHT = 8


def run(bench: Bench) -> None:
    """ListRooms pages at 1k and 100k rooms: plain, `bookable` (as a seeded host, one
    room in a hundred theirs) and `query` (two words every seeded room holds, one in
    its title and one in its description, so every page is full)."""
    searches: dict[str, dict[str, Any]] = {
        "list": {},
        "bookable": {"bookable": True},
        "query": {"query": "interview pen"},
    }
    for size, rooms in (("1k", 1000), ("100k", 100_000)):
        wanted = [kind for kind in searches if bench.wants(f"{kind}_{size}")]
        if not wanted:
            continue
        url = bench.pg.database(f"list{size}")
        started = time.monotonic()
        seeded = seed_rooms(libpq_url(url), rooms, prefix="listed")
        bench.progress(f"  seeded {rooms} rooms in {time.monotonic() - started:.1f}s")
        with Services(bench.log_dir) as services:
            server = services.scheduling(url)
            for kind in wanted:
                name = f"{kind}_{size}"
                extra = dict(searches[kind])
                if kind == "bookable":
                    extra["users"] = seeded.host_ids
                bench.load(
                    name,
                    "bench.clients:list_rooms",
                    server.address,
                    LIST_IN_FLIGHT,
                    params=lambda i, s=seeded, e=extra: {  # type: ignore[misc]
                        "first_start": s.first_start.isoformat(),
                        # Leave a page's worth at the end, so every page is full
                        # (a bookable page skips the lister's own rooms: 1 in 100).
                        "span_s": s.span_s - 70 * int(s.step.total_seconds()),
                        "user_prefix": "lister",
                        **e,
                    },
                )
                bench.results[name]["rooms"] = rooms
