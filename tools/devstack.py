"""`make run`: the whole system on this machine, with nothing configured.

- an embedded PostgreSQL (data under ./var/pgdata), migrated;
- a local SMTP sink that keeps every message under ./var/mail/ (a Maildir);
  (DEV_VAR_DIR moves both elsewhere);
- the notification service, sending to that sink;
- the scheduling service, with a development JWT secret.

Each piece stands aside when its real variable is set: DATABASE_URL, SMTP_HOST,
JWT_SECRET, NOTIFICATIONS_ENABLED. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from servicekit.supervise import run_until_stopped

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"


def _start_mail_sink(env: dict[str, str]) -> Controller | None:
    if env.get("SMTP_HOST"):
        return None
    port = int(env.get("DEV_SMTP_PORT", "2525"))
    maildir = Path(_maildir(env)).resolve()
    maildir.parent.mkdir(parents=True, exist_ok=True)
    sink = Controller(Mailbox(str(maildir)), hostname="127.0.0.1", port=port)
    sink.start()
    env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="false")
    env.setdefault("NOTIFICATIONS_ENABLED", "true")
    return sink


def main() -> int:
    env = {**os.environ}
    env.setdefault("JWT_SECRET", DEV_JWT_SECRET)
    if not env.get("DATABASE_URL"):
        env["EMBEDDED_POSTGRES"] = "true"  # development only: asked for explicitly
    env.setdefault("EMBEDDED_DB_DIR", str(Path(env.get("DEV_VAR_DIR", "var"), "pgdata")))
    env.setdefault("SCHEDULING_LISTEN", "127.0.0.1:50051")
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
    _print_banner(env, sink, metrics)

    stopping, codes = run_until_stopped(children)
    if sink is not None:
        sink.stop()
    if stopping and not any(codes):
        print("devstack: everything stopped cleanly", file=sys.stderr, flush=True)
        return 0
    return max(codes) or 1


def _print_banner(env: dict[str, str], sink: Controller | None, metrics: int) -> None:
    secret = "the development secret" if env["JWT_SECRET"] == DEV_JWT_SECRET else "JWT_SECRET"
    if env["JWT_SECRET"] != DEV_JWT_SECRET:
        env = {**env, "JWT_SECRET": "$JWT_SECRET"}  # never print a real secret
    mail = (
        f"SMTP sink 127.0.0.1:{env['SMTP_PORT']} -> {_maildir(env)}/new/ (one file a message)"
        if sink is not None
        else f"SMTP relay {env['SMTP_HOST']}:{env.get('SMTP_PORT', '25')}"
    )
    target = env["SCHEDULING_LISTEN"]
    print(
        f"""
  scheduling service    {target}  (metrics :{metrics}/metrics; tokens signed with {secret})
  notification service  {env["NOTIFICATION_LISTEN"]}  (metrics :{metrics + 1}/metrics)
  mail                  {mail}

  Try it (another terminal, in this directory):
    export JWT_SECRET={env["JWT_SECRET"]} SCHEDULING_TARGET={target}
    .venv/bin/roomsctl --as alice create --title "Mock interview" --topic Arrays \\
        --start "$(date -u -d '+1 day' +%Y-%m-%dT10:00:00Z)"
    .venv/bin/roomsctl --as bob book ROOM_ID      # the invites land in the mail folder
    .venv/bin/roomsctl --as carol watch

  Ctrl-C stops everything.
""",
        file=sys.stderr,
        flush=True,
    )


def _maildir(env: dict[str, str]) -> str:
    return str(Path(env.get("DEV_VAR_DIR", "var"), "mail"))


if __name__ == "__main__":
    sys.exit(main())
