"""`make run`: the whole system on this machine, with nothing configured.

- an embedded PostgreSQL (data under ./var/pgdata), migrated;
- a local SMTP sink that keeps every message under ./var/mail/ (a Maildir; `make mail`
  lists it); DEV_VAR_DIR moves both elsewhere;
- the notification service, sending to that sink;
- the scheduling service, with a development JWT secret.

Each piece stands aside when its real variable is set: DATABASE_URL, SMTP_HOST,
JWT_SECRET, NOTIFICATIONS_ENABLED. The "try it" banner appears once both services
answer SERVING on the standard gRPC health service. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from servicekit.probe import check
from servicekit.supervise import run_until_stopped

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"
# Seals calendar credentials in development (32 bytes, base64): never for production,
# where CALENDAR_SEAL_KEYS holds keys of the operator's own.
DEV_SEAL_KEYS = "dev:ZGV2LW9ubHktY2FsZW5kYXItc2VhbC1rZXktMzJieXQ="
# roomsctl's default target: the banner names SCHEDULING_TARGET only when it differs.
DEFAULT_TARGET = "127.0.0.1:50051"
READINESS = {
    "SCHEDULING_LISTEN": "scheduling.v1.SchedulingService",
    "NOTIFICATION_LISTEN": "notification.v1.NotificationService",
}
SERVING_WITHIN_S = 120.0

# The README's quick start shows these same commands (tests/system/test_quick_start.py holds
# the two together), after an `export` line the banner writes for the running stack.
TRY_IT = """\
ROOM=$(.venv/bin/roomsctl --as alice create -q --title "Mock interview" --topic Arrays \\
    --start "$(date -u -d '+1 day' +%Y-%m-%dT10:00:00Z)")
.venv/bin/roomsctl --as bob book "$ROOM"
.venv/bin/roomsctl --as alice reschedule "$ROOM" \\
    --start "$(date -u -d '+2 day' +%Y-%m-%dT10:00:00Z)"
make mail                               # the four invites, and .ics files to import
.venv/bin/roomsctl --as carol watch     # live changes; Ctrl-C to stop
"""


def _start_mail_sink(env: dict[str, str]) -> Controller | None:
    if env.get("SMTP_HOST"):
        return None
    port = int(env.get("DEV_SMTP_PORT", "2525"))
    maildir = Path(_maildir(env)).resolve()
    maildir.parent.mkdir(parents=True, exist_ok=True)
    sink = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port)
    sink.start()
    env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="false")
    env.setdefault("NOTIFICATIONS_ENABLED", "true")
    return sink


def main() -> int:
    env = {**os.environ}
    env.setdefault("JWT_SECRET", DEV_JWT_SECRET)
    env.setdefault("CALENDAR_SEAL_KEYS", DEV_SEAL_KEYS)
    if not env.get("DATABASE_URL"):
        env["EMBEDDED_POSTGRES"] = "true"  # development only: asked for explicitly
    env.setdefault("EMBEDDED_DB_DIR", str(Path(env.get("DEV_VAR_DIR", "var"), "pgdata")))
    env.setdefault("SCHEDULING_LISTEN", DEFAULT_TARGET)
    env.setdefault("NOTIFICATION_LISTEN", "127.0.0.1:50052")
    env.setdefault("NOTIFICATION_TARGET", env["NOTIFICATION_LISTEN"])
    py = sys.executable
    migrate = subprocess.run([py, "-m", "scheduling_service", "migrate"], env=env)
    if migrate.returncode != 0:
        return migrate.returncode
    sink = _start_mail_sink(env)
    metrics = int(env.get("METRICS_PORT", "9464"))
    # Own sessions: a terminal's Ctrl-C reaches this process only, and each child is
    # told to stop exactly once (see servicekit.supervise).
    children = [
        subprocess.Popen(
            [py, "-m", "notification_service", "serve"],
            env={**env, "METRICS_PORT": str(metrics + 1)},
            start_new_session=True,
        ),
        subprocess.Popen(
            [py, "-m", "scheduling_service", "serve"],
            env={**env, "METRICS_PORT": str(metrics)},
            start_new_session=True,
        ),
    ]
    done = threading.Event()
    announcer = threading.Thread(
        target=_announce_when_serving,
        args=(env, sink is not None, metrics, done),
        name="banner",
        daemon=True,
    )
    announcer.start()

    stopping, codes = run_until_stopped(children)
    done.set()
    if sink is not None:
        sink.stop()
    if stopping and not any(codes):
        print("devstack: everything stopped cleanly", file=sys.stderr, flush=True)
        return 0
    return max(codes) or 1


def _announce_when_serving(
    env: Mapping[str, str], has_sink: bool, metrics: int, done: threading.Event
) -> None:
    """Print the banner once every service's readiness is SERVING; a note if that
    takes longer than SERVING_WITHIN_S (the services' own log lines say why)."""
    deadline = time.monotonic() + SERVING_WITHIN_S
    waiting = dict(READINESS)
    while waiting and not done.is_set():
        for variable, service in list(waiting.items()):
            if check(env[variable], service, timeout=1.0)[0]:
                del waiting[variable]
        if time.monotonic() > deadline:
            names = ", ".join(waiting.values())
            print(
                f"devstack: {names} not SERVING after {SERVING_WITHIN_S:g} s; see the log above",
                file=sys.stderr,
                flush=True,
            )
            return
        done.wait(0.2)
    if not done.is_set():
        print(banner(env, has_sink, metrics), file=sys.stderr, flush=True)


def banner(env: Mapping[str, str], has_sink: bool, metrics: int) -> str:
    secret = "the development secret" if env["JWT_SECRET"] == DEV_JWT_SECRET else "JWT_SECRET"
    shown_secret = env["JWT_SECRET"] if env["JWT_SECRET"] == DEV_JWT_SECRET else "$JWT_SECRET"
    mail = (
        f"SMTP sink 127.0.0.1:{env['SMTP_PORT']} -> {_maildir(env)}/new/ (`make mail` lists it)"
        if has_sink
        else f"SMTP relay {env['SMTP_HOST']}:{env.get('SMTP_PORT', '25')}"
    )
    calendars = (
        "credentials sealed with the development key"
        if env["CALENDAR_SEAL_KEYS"] == DEV_SEAL_KEYS
        else "credentials sealed with CALENDAR_SEAL_KEYS"
    )
    target = env["SCHEDULING_LISTEN"]
    exports = [f"JWT_SECRET={shown_secret}"]
    if target != DEFAULT_TARGET:
        exports.append(f"SCHEDULING_TARGET={shlex.quote(target)}")
    if env.get("DEV_VAR_DIR"):
        exports.append(f"DEV_VAR_DIR={shlex.quote(env['DEV_VAR_DIR'])}")
    commands = TRY_IT
    if not has_sink:  # the mail went to a real relay: nothing to list here
        commands = "".join(line for line in _lines(TRY_IT) if "make mail" not in line)
    try_it = "".join(f"    {line}" for line in _lines(f"export {' '.join(exports)}\n{commands}"))
    return f"""
  scheduling service    {target}  SERVING  (metrics {_metrics_url(target, metrics)})
  notification service  {env["NOTIFICATION_LISTEN"]}  SERVING  \
(metrics {_metrics_url(env["NOTIFICATION_LISTEN"], metrics + 1)})
  tokens                signed with {secret}
  mail                  {mail}
  calendars             {calendars}

  Try it (another terminal, in this directory):
{try_it}
  Ctrl-C stops everything.
"""


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _metrics_url(listen: str, port: int) -> str:
    """The metrics endpoint listens on the gRPC listener's host."""
    host = listen.rsplit(":", 1)[0]
    if host in ("", "0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}/metrics"


def _maildir(env: Mapping[str, str]) -> str:
    return str(Path(env.get("DEV_VAR_DIR", "var"), "mail"))


if __name__ == "__main__":
    sys.exit(main())
