"""The machine, the goals (issue 13's, and issue 11's data-layer ratio) as ratios to the
run's ceilings, the table, the JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Results = dict[str, dict[str, Any]]


def machine(postgres_version: str) -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": postgres_version,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return round(a / b, 3)


def _get(results: Results, name: str, key: str) -> Any:
    return results.get(name, {}).get(key)


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    measure: Callable[[Results], Any]
    met: Callable[[Any], bool]


def _book(r: Results) -> tuple[float | None, float | None]:
    ratio = _ratio(_get(r, "book_room", "throughput"), _get(r, "echo", "throughput"))
    return ratio, _get(r, "book_room", "p99_ms")


def _contention(r: Results) -> tuple[bool | None, float | None]:
    return _get(r, "contention", "exactly_one_winner"), _get(r, "contention", "p99_ms")


GOALS = (
    Goal(
        "GetRoom throughput / echo ceiling",
        ">= 0.7",
        lambda r: _ratio(_get(r, "get_room", "throughput"), _get(r, "echo", "throughput")),
        lambda v: v >= 0.7,
    ),
    Goal(
        "CreateRoom throughput / echo ceiling",
        ">= 0.4",
        lambda r: _ratio(_get(r, "create_room", "throughput"), _get(r, "echo", "throughput")),
        lambda v: v >= 0.4,
    ),
    Goal(
        "BookRoom throughput / echo ceiling; p99 at 32 in flight",
        ">= 0.3; <= 50 ms",
        _book,
        lambda v: v[0] >= 0.3 and v[1] <= 50,
    ),
    Goal(
        "contention round (100 bookers, one room): one winner; p99",
        "exactly 1; <= 100 ms",
        _contention,
        lambda v: v[0] is True and v[1] <= 100,
    ),
    Goal(
        "WatchRooms delivery, 1,000 watchers, one replica: p99",
        "<= 50 ms",
        lambda r: _get(r, "watch_fanout", "p99_ms"),
        lambda v: v <= 50,
    ),
    Goal(
        "WatchRooms delivery across replicas: p99",
        "<= 100 ms",
        lambda r: _get(r, "watch_replicas", "p99_ms"),
        lambda v: v <= 100,
    ),
    Goal(
        "memory per idle watcher (server RSS)",
        "<= 24 KiB",
        lambda r: _get(r, "watch_fanout", "kib_per_watcher"),
        lambda v: v <= 24,
    ),
    Goal(
        "invites rendered and delivered / raw aiosmtplib loop",
        ">= 0.5",
        lambda r: _ratio(_get(r, "notify", "throughput"), _get(r, "smtp", "throughput")),
        lambda v: v >= 0.5,
    ),
    Goal(
        "BookRoom at 14k booked rooms / at 1.5k",
        ">= 0.95",
        lambda r: _get(r, "book_growth", "ratio"),
        lambda v: v >= 0.95,
    ),
    Goal(
        "invite backlog after sustained booking load: drained within",
        "<= 5 s",
        lambda r: _get(r, "invite_backlog", "drain_s"),
        lambda v: v <= 5,
    ),
    Goal(
        "data layer CPU per simple statement / bare prepared psycopg statement",
        "<= 1.5",
        lambda r: _get(r, "data_layer", "ratio"),
        lambda v: v <= 1.5,
    ),
    Goal(
        "ListRooms page p50 at 100k / at 1k rooms",
        "<= 1.3",
        lambda r: _ratio(_get(r, "list_100k", "p50_ms"), _get(r, "list_1k", "p50_ms")),
        lambda v: v <= 1.3,
    ),
    Goal(
        "ListRooms bookable page p50 at 100k / at 1k rooms",
        "<= 1.3",
        lambda r: _ratio(_get(r, "bookable_100k", "p50_ms"), _get(r, "bookable_1k", "p50_ms")),
        lambda v: v <= 1.3,
    ),
    Goal(
        "busy read of an unchanged calendar (sync token) / a full read: p50",
        "<= 0.25",
        lambda r: _get(r, "busy_read", "ratio"),
        lambda v: v <= 0.25,
    ),
    Goal(
        "ListRooms query page p50 at 100k / at 1k rooms",
        "<= 1.3",
        lambda r: _ratio(_get(r, "query_100k", "p50_ms"), _get(r, "query_1k", "p50_ms")),
        lambda v: v <= 1.3,
    ),
)

CEILING_OF = {
    "get_room": "echo",
    "create_room": "echo",
    "book_room": "echo",
    "notify": "smtp",
}


def goals(results: Results) -> list[dict[str, Any]]:
    rows = []
    for goal in GOALS:
        value = goal.measure(results)
        missing = value is None or (isinstance(value, tuple) and None in value)
        rows.append(
            {
                "goal": goal.name,
                "target": goal.target,
                "measured": list(value) if isinstance(value, tuple) else value,
                "met": None if missing else goal.met(value),
            }
        )
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"
    if isinstance(value, list):
        return "; ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items()) or "0"
    return str(value)


def table(results: Results) -> str:
    lines = [
        f"{'scenario':<16}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'vs ceiling':>12}  errors / notes",
    ]
    for name, r in results.items():
        ceiling = CEILING_OF.get(name)
        ceiling_rate = _get(results, ceiling, "throughput") if ceiling else None
        ratio = _ratio(r.get("throughput"), ceiling_rate)
        notes = _fmt(r.get("errors")) if "errors" in r else ""
        if "watchers" in r:
            notes = f"missed {r['missed']} of {r['watchers'] * r['writes']}"
            if "kib_per_watcher" in r:
                notes += f", {r['kib_per_watcher']} KiB/watcher"
        if "rounds" in r:
            notes = f"{r['rounds']} rounds, winners {r['winners_per_round']}"
        if "bare_us" in r:
            notes = f"{r['layer_us']} us CPU per read; bare prepared psycopg {r['bare_us']} us"
        if "booked_rooms" in r:
            notes = ", ".join(
                f"{t}/s at {n} booked"
                for n, t in zip(r["booked_rooms"], r["throughput"], strict=True)
            )
        if "unchanged_p50_ms" in r:
            notes = (
                f"{r['events']} events: full {r['full_p50_ms']} ms, {r['full_kib']} KiB;"
                f" unchanged {r['unchanged_p50_ms']} ms, {r['unchanged_kib']} KiB;"
                f" hostile answer {r['hostile_cpu_s']} s CPU"
            )
        if "drain_s" in r:
            notes = f"{r['invites_per_s']} invites/s queued; drained {_fmt(r['drain_s'])} s after"
        # book_growth holds one throughput per size: the notes show them.
        rate = None if "booked_rooms" in r else r.get("throughput")
        lines.append(
            f"{name:<16}{_fmt(rate):>10}{_fmt(r.get('p50_ms')):>9}"
            f"{_fmt(r.get('p99_ms')):>9}{_fmt(r.get('max_ms')):>9}"
            f"{(f'{ratio:.2f} {ceiling}' if ratio is not None else ''):>12}  {notes}"
        )
    lines.append("")
    for row in goals(results):
        mark = {True: "met", False: "MISSED", None: "not run"}[row["met"]]
        lines.append(f"{mark:<8}{row['goal']}: {_fmt(row['measured'])} (goal {row['target']})")
    return "\n".join(lines)


def write_json(path: Path, info: dict[str, Any], results: Results, extra: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": info,
        **extra,
        "argv": sys.argv[1:],
        "results": results,
        "goals": goals(results),
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
