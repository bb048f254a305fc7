"""`SCHEDULING_WORKERS=N`: N serving processes on one port, one per core.

Each worker is a whole replica (its own pool, change-feed listener and relay), which
the design already makes safe to run side by side; the kernel spreads connections
across them (gRPC servers bind with SO_REUSEPORT). This process only supervises:
it tells every worker to stop once, on SIGTERM or SIGINT, and when one worker dies
unexpectedly it stops the others and exits non-zero so that the orchestrator
restarts the whole set.
"""

from __future__ import annotations

import os
import subprocess
import sys

from scheduling_service.config import Settings
from servicekit.logs import get_logger
from servicekit.supervise import run_until_stopped

log = get_logger(__name__)


def supervise(settings: Settings, database_url: str) -> int:
    children = []
    for index in range(settings.workers):
        env = {
            **os.environ,
            "SCHEDULING_WORKERS": "1",
            "DATABASE_URL": database_url,
            # One metrics endpoint per worker: METRICS_PORT, METRICS_PORT + 1, …
            "METRICS_PORT": str(settings.metrics_port + index) if settings.metrics_port else "0",
        }
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "scheduling_service", "serve"],
                env=env,
                start_new_session=True,  # a terminal's Ctrl-C reaches this process only
            )
        )
    log.info("workers started", workers=[c.pid for c in children])

    stopping, codes = run_until_stopped(children)
    if not stopping:
        log.error("a worker exited; the others were stopped")
    log.info("workers stopped", exit_codes=codes)
    return 0 if stopping and not any(codes) else 1
