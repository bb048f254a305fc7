"""`make run`: the whole system on this machine with nothing configured.

Starts the embedded PostgreSQL (through the scheduling service), migrates it, then
runs the notification service (dry-run) and the scheduling service with a development
JWT secret. Variables already set in the environment win. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"


def main() -> int:
    env = {**os.environ}
    env.setdefault("JWT_SECRET", DEV_JWT_SECRET)
    env.setdefault("LOG_LEVEL", "INFO")
    py = sys.executable
    migrate = subprocess.run([py, "-m", "scheduling_service", "migrate"], env=env)
    if migrate.returncode != 0:
        return migrate.returncode
    children = [
        subprocess.Popen([py, "-m", "notification_service", "serve"], env=env),
        subprocess.Popen([py, "-m", "scheduling_service", "serve"], env=env),
    ]
    listen = env.get("SCHEDULING_LISTEN", "127.0.0.1:50051")
    secret_note = (
        "the development secret in tools/devstack.py"
        if env["JWT_SECRET"] == DEV_JWT_SECRET
        else "JWT_SECRET"
    )
    print(
        f"\nscheduling service: {listen} (tokens signed with {secret_note})\n"
        f"notification service: {env.get('NOTIFICATION_LISTEN', '127.0.0.1:50052')}\n"
        "Ctrl-C stops both.\n",
        file=sys.stderr,
        flush=True,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    codes = [child.wait() for child in children]
    return 0 if stopping else max(codes)


if __name__ == "__main__":
    sys.exit(main())
