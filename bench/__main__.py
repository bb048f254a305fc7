"""`python -m bench [--quick] [--only a,b] [--out PATH]`: run the scenarios, print the
table, write the JSON (default bench/results/latest.json).

Starts its own PostgreSQL (pgserver in a temp dir, or databases on the server named
by BENCH_DATABASE_URL) and its own servers; stops everything it started.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.scenarios import SCENARIOS, Bench
from bench.services import postgres

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short windows (a smoke test)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated scenarios among: {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON goes")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="SCHEDULING_WORKERS of the server in the room scenarios (default 1)",
    )
    args = parser.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()} or set(SCENARIOS)
    unknown = only - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rooms-bench-logs-") as logs, postgres() as pg:
        info = report.machine(pg.version())
        print(
            f"{info['cores']} cores, {info['cpu_model']}, {info['memory_gib']} GiB,"
            f" Python {info['python']}, PostgreSQL {info['postgresql']}"
            f"{' (quick)' if args.quick else ''}",
            flush=True,
        )
        bench = Bench(pg, Path(logs), args.quick, only, progress=_progress, workers=args.workers)
        try:
            bench.run()
        except BaseException:
            _progress(f"failed; service logs were in {logs}:")
            for log in sorted(Path(logs).glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-15:]
                _progress(f"--- {log.name}\n" + "\n".join(tail))
            raise
        finally:
            pg.drop_all()
    total = time.monotonic() - started
    print()
    print(report.table(bench.results))
    print(f"\ntotal {total:.0f}s")
    report.write_json(
        args.out, info, bench.results, {"quick": args.quick, "total_s": round(total, 1)}
    )
    print(f"wrote {args.out}")
    return 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
