"""Real CalDAV servers as processes: Radicale 3.9 and Xandikos 0.4 (shared/notes/caldav-servers.md).

Each starts on a free port with its own temporary folder, is ready when it answers HTTP
(polled, with a bound), and is stopped by whoever started it (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.smtp_sink import free_port

XANDIKOS_PRINCIPAL = "/user/"
XANDIKOS_CALENDAR = "/user/calendars/calendar/"


class CalDAVServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 20.0) -> CalDAVServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command()[:3]} exited early:\n{self.log()}")
            try:
                urllib.request.urlopen(self.url, timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self  # any HTTP answer (401, 404...) means it is serving
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"CalDAV server not ready in {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Radicale(CalDAVServer):
    """htpasswd (plain) users; `add_user` before or while it runs (read per request)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.users = directory / "users"
        self.users.write_text("")
        config = directory / "config"
        config.write_text(
            "[server]\n"
            f"hosts = 127.0.0.1:{self.port}\n"
            "[auth]\n"
            "type = htpasswd\n"
            f"htpasswd_filename = {self.users}\n"
            "htpasswd_encryption = plain\n"
            "[storage]\n"
            f"filesystem_folder = {directory / 'collections'}\n"
            "[rights]\n"
            "type = owner_only\n"
            "[logging]\n"
            "level = warning\n"
        )
        self.config = config

    def command(self) -> list[str]:
        return [sys.executable, "-m", "radicale", "--config", str(self.config)]

    def add_user(self, username: str, password: str) -> None:
        with self.users.open("a") as users:
            users.write(f"{username}:{password}\n")


class Xandikos(CalDAVServer):
    """No authentication; one principal `/user/` with the calendar `/user/calendars/calendar/`."""

    def command(self) -> list[str]:
        executable = shutil.which("xandikos", path=str(Path(sys.executable).parent))
        assert executable is not None, "pip install xandikos"
        return [
            executable,
            "--defaults",
            "-d",
            str(self.directory / "data"),
            "-l",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--current-user-principal",
            XANDIKOS_PRINCIPAL,
        ]
