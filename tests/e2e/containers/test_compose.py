"""docker-compose.yml's topology, run with podman as an operator would run it.

Built from the compose file itself (compose.py): the project image from the
Dockerfile, PostgreSQL 16, the one-shot migration, both services, and a mail sink in
Mailpit's place (a stand-in that keeps every message in a Maildir the test reads).
Where no registry answers (none does on this project's machines), local stand-ins
replace the images that cannot be pulled (deploy/podman/).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

import scheduling_service
from tests.e2e.containers import compose
from tests.e2e.containers.podman import Images, ensure_images, podman, wait_until
from tests.e2e.containers.topology import Topology

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# What an operator puts in .env (deploy/env.example), fresh for each run.
DOT_ENV = {
    "JWT_SECRET": secrets.token_urlsafe(48),
    "NOTIFICATION_AUTH_TOKEN": secrets.token_urlsafe(48),
    "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
}
PROJECT, SERVICES = compose.load(DOT_ENV)
MAIL_SERVICE = next(name for name, s in SERVICES.items() if "mailpit" in s.image)
OUR_IMAGE = next(s.image for s in SERVICES.values() if s.build)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("podman") / "podman.log"


@pytest.fixture(scope="module")
def images(log: Path) -> Images:
    wanted = {s.image: s.build for s in SERVICES.values()}
    # The test reads the mail from disk: the Maildir sink stands in for Mailpit always.
    return ensure_images(wanted, log, always_standin=frozenset({SERVICES[MAIL_SERVICE].image}))


@pytest.fixture(scope="module")
def maildir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("maildir")


@pytest.fixture(scope="module")
def topology(images: Images, maildir: Path, log: Path) -> Iterator[Topology]:
    running = Topology(
        PROJECT, SERVICES, images.resolved, log, mounts={MAIL_SERVICE: [(maildir, "/mail")]}
    )
    try:
        running.up()
        yield running
    finally:
        running.down()


def long_running() -> list[str]:
    """Our services that stay up (a health check), in compose order."""
    return [name for name, s in SERVICES.items() if s.build and s.healthcheck]


def listen_port(name: str) -> int:
    env = SERVICES[name].environment
    (address,) = (value for key, value in env.items() if key.endswith("_LISTEN"))
    return int(address.rsplit(":", 1)[1])


def test_migration_ran_once_and_exited_zero(topology: Topology) -> None:
    (migrate,) = [n for n, s in SERVICES.items() if s.build and not s.healthcheck]
    assert not topology.running(migrate)
    assert topology.exit_code(migrate) == 0
    lines = [json.loads(line) for line in topology.logs(migrate).splitlines() if line.strip()]
    migrations = Path(scheduling_service.__file__).parent / "migrations"
    heads = ScriptDirectory(str(migrations)).get_heads()
    assert [(e["event"], e["from_revision"], e["to_revision"]) for e in lines] == [
        ("schema migrated", "none", ", ".join(heads))
    ]


def test_database_is_postgresql_16_in_utf8(topology: Topology) -> None:
    (db,) = [n for n, s in SERVICES.items() if s.image.startswith("postgres")]
    env = SERVICES[db].environment
    done = topology.exec(
        db,
        "psql",
        "--username",
        env["POSTGRES_USER"],
        "--dbname",
        env["POSTGRES_DB"],
        "--no-align",
        "--tuples-only",
        "--command",
        "SELECT current_setting('server_version_num')::int / 10000, "
        "pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()",
    )
    assert done.code == 0, done.err
    assert done.out.strip() == "16|UTF8"


@pytest.mark.parametrize("name", long_running())
def test_readiness_and_liveness_probes_answer_inside_the_container(
    topology: Topology, name: str
) -> None:
    readiness = topology.health(name)  # the compose health check itself
    assert readiness.code == 0, readiness.out + readiness.err
    liveness = topology.exec(
        name, "python", "-m", "servicekit.probe", f"127.0.0.1:{listen_port(name)}"
    )
    assert liveness.code == 0, liveness.out + liveness.err
    unknown = topology.exec(
        name,
        "python",
        "-m",
        "servicekit.probe",
        "--service",
        "no.such.Service",
        f"127.0.0.1:{listen_port(name)}",
    )
    assert unknown.code == 1  # the probe can fail: a probe that cannot is no probe


def roomsctl(topology: Topology, *args: str) -> dict[str, object]:
    """The command-line client on the host, against the published scheduling port."""
    (scheduling,) = [n for n in long_running() if ("scheduling" in n)]
    port = topology.published[(scheduling, listen_port(scheduling))]
    done = subprocess.run(
        [sys.executable, "-m", "roomsctl", "--target", f"127.0.0.1:{port}", "--json", *args],
        env={**os.environ, "JWT_SECRET": DOT_ENV["JWT_SECRET"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


def mails(maildir: Path) -> list[EmailMessage]:
    found = []
    for path in sorted((maildir / "new").glob("*")) if (maildir / "new").exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def calendar(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return str(part.get_content())
    raise AssertionError(f"no text/calendar part in {message['Subject']!r}")


def itip(messages: list[EmailMessage], uid: str, method: str) -> list[EmailMessage]:
    return [
        m
        for m in messages
        if f"UID:{uid}" in calendar(m).replace("\r\n ", "") and f"METHOD:{method}" in calendar(m)
    ]


def test_a_booking_sends_exactly_two_invites_across_the_containers(
    topology: Topology, maildir: Path
) -> None:
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    room = roomsctl(
        topology,
        "--as",
        "alice",
        "create",
        "--title",
        "Mock interview",
        "--start",
        start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--topic",
        "Arrays",
    )
    booked = roomsctl(topology, "--as", "bob", "book", str(room["roomId"]))
    assert booked["guestId"] == "bob"
    uid = str(room["icsUid"])

    wait_until(lambda: len(itip(mails(maildir), uid, "REQUEST")) >= 2, 60, "two invites")
    invites = itip(mails(maildir), uid, "REQUEST")
    envelope = sorted(str(m["X-RcptTo"]) for m in invites)  # as the sink received them
    assert envelope == ["alice@example.com", "bob@example.com"], envelope
    headers = sorted(m["To"].addresses[0].addr_spec for m in invites)
    assert headers == ["alice@example.com", "bob@example.com"]

    # Exactly two: a cancel reaches both, and messages for a UID go out in SEQUENCE
    # order, so any further invite would have come before these cancels.
    roomsctl(topology, "--as", "alice", "cancel", str(room["roomId"]))
    wait_until(lambda: len(itip(mails(maildir), uid, "CANCEL")) == 2, 60, "two cancels")
    assert len(itip(mails(maildir), uid, "REQUEST")) == 2


def test_the_image_refuses_to_start_without_database_url(topology: Topology) -> None:
    image = topology.images[OUR_IMAGE]
    for command, extra in (
        (["python", "-m", "scheduling_service", "migrate"], []),
        ([], ["--env=JWT_SECRET=" + DOT_ENV["JWT_SECRET"]]),  # the image's CMD: serve
    ):
        done = podman("run", "--rm", *extra, image, *command, check=False)
        assert done.code == 2, done.out + done.err
        (line,) = [json.loads(x) for x in done.err.splitlines() if x.startswith("{")]
        assert line["level"] == "error"
        assert "DATABASE_URL is not set" in line["event"]
        assert "EMBEDDED_POSTGRES" in line["event"]


def test_the_image_holds_no_development_packages_and_runs_as_non_root(
    topology: Topology,
) -> None:
    image = topology.images[OUR_IMAGE]
    done = podman(
        "run",
        "--rm",
        image,
        "python",
        "-c",
        "import importlib.util as u, os; print(os.getuid(), "
        "[m for m in ('pgserver', 'aiosmtpd', 'pytest', 'grpc_tools') if u.find_spec(m)], "
        "u.find_spec('scheduling_service') is not None)",
    )
    assert done.out.split() == ["10001", "[]", "True"], done.out


# Last: it stops the services the tests above use.
@pytest.mark.parametrize("name", long_running())
def test_sigterm_stops_each_service_with_exit_0_within_its_grace(
    topology: Topology, name: str
) -> None:
    code, seconds = topology.stop(name)
    assert code == 0, topology.logs(name)
    assert seconds < SERVICES[name].stop_grace_s, f"{name} took {seconds:.1f}s: SIGKILLed?"
