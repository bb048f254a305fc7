"""docker-compose.yml and the Dockerfile agree with the code they run.

These checks read the files and hold every name in them to the source, in seconds: a
module run with `python -m` exists and has the subcommand; every variable set is read
by that service's code; ports, health checks and service-to-service addresses line
up. `make e2e-containers` (tests/e2e/containers/) builds the image and runs the
topology with podman.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml  # dev dependency (pyyaml)
from notification.v1 import notification_pb2
from scheduling.v1 import scheduling_pb2

from tests.e2e.containers.podman import STANDINS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# Services running our image (the others are third-party images).
OURS = {name: spec for name, spec in SERVICES.items() if "build" in spec}
LONG_RUNNING = {name: spec for name, spec in OURS.items() if "healthcheck" in spec}

# Which source trees each entry point's configuration lives in.
SOURCES = {
    "scheduling_service": ["scheduling_service", "servicekit"],
    "notification_service": ["notification_service", "servicekit"],
}
LISTEN = {"scheduling_service": "SCHEDULING_LISTEN", "notification_service": "NOTIFICATION_LISTEN"}
GRPC_SERVICE = {
    "scheduling_service": scheduling_pb2.DESCRIPTOR.services_by_name["SchedulingService"].full_name,
    "notification_service": notification_pb2.DESCRIPTOR.services_by_name[
        "NotificationService"
    ].full_name,
}


def env_of(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` as its default; `${VAR:?message}` as `<VAR>`."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        return rest if op in (":-", "-") else f"<{name}>"

    return re.sub(r"\$\{(\w+)(:?[-?])?([^}]*)\}", one, value)


def python_modules(argv: list[str]) -> list[tuple[str, list[str]]]:
    """Every `python -m MODULE args...` in an argv list (a CMD, command or test)."""
    found = []
    for i, word in enumerate(argv[:-2]):
        if Path(word).name.startswith("python") and argv[i + 1] == "-m":
            found.append((argv[i + 2], argv[i + 3 :]))
    return found


def command_of(spec: dict[str, Any]) -> list[str]:
    command = spec.get("command")
    if command is None:
        return dockerfile_cmd()
    return shlex.split(command) if isinstance(command, str) else [str(w) for w in command]


def entry_point(spec: dict[str, Any]) -> str:
    (module, _), *_ = python_modules(command_of(spec))
    return module


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def container_ports(spec: dict[str, Any]) -> list[int]:
    ports = []
    for entry in spec.get("ports", []):
        if isinstance(entry, dict):
            ports.append(int(entry["target"]))
        else:
            ports.append(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def source_text(trees: list[str]) -> str:
    return "\n".join(
        path.read_text() for tree in trees for path in sorted((ROOT / tree).rglob("*.py"))
    )


# ---- the Dockerfile, as instructions ----


def dockerfile_instructions() -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def dockerfile_cmd() -> list[str]:
    cmds = [rest for keyword, rest in stages()[-1] if keyword == "CMD"]
    assert len(cmds) == 1
    return list(json.loads(cmds[0]))


# ---- compose: entry points ----


@pytest.mark.parametrize(
    "where, argv",
    [("Dockerfile CMD", dockerfile_cmd())]
    + [(f"{name}.command", command_of(spec)) for name, spec in OURS.items()]
    + [
        (f"{name}.healthcheck", [str(w) for w in spec["healthcheck"]["test"]])
        for name, spec in LONG_RUNNING.items()
    ],
)
@pytest.mark.slow  # runs each command as a process
def test_every_python_module_exists_with_its_subcommand(where: str, argv: list[str]) -> None:
    modules = python_modules(argv)
    assert modules, f"{where}: no `python -m` in {argv}"
    for module, args in modules:
        subcommand = [args[0]] if args and not args[0].startswith("-") else []
        done = subprocess.run(
            [sys.executable, "-m", module, *subcommand, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert done.returncode == 0, f"{where}: python -m {module} {subcommand}: {done.stderr}"


def test_one_image_for_every_service_of_ours() -> None:
    assert {"migrate", "scheduling", "notification"} <= set(OURS)
    assert len({spec.get("image") for spec in OURS.values()}) == 1
    assert dockerfile_cmd() == ["python", "-m", "scheduling_service", "serve"]
    assert command_of(OURS["migrate"]) == ["python", "-m", "scheduling_service", "migrate"]
    assert entry_point(OURS["scheduling"]) == "scheduling_service"
    assert command_of(OURS["notification"]) == ["python", "-m", "notification_service", "serve"]


# ---- compose: configuration ----


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_variable_set_is_read_by_that_service(name: str) -> None:
    spec = OURS[name]
    code = source_text(SOURCES[entry_point(spec)])
    for variable in env_of(spec):
        assert f'"{variable}"' in code, f"{name}: {variable} is set but never read"


def test_required_settings_are_there() -> None:
    migrate, scheduling = env_of(OURS["migrate"]), env_of(OURS["scheduling"])
    notification = env_of(OURS["notification"])
    assert migrate["DATABASE_URL"] == scheduling["DATABASE_URL"]
    assert scheduling["JWT_SECRET"].startswith("${JWT_SECRET:?")  # no default secret
    token = scheduling["NOTIFICATION_AUTH_TOKEN"]
    assert token.startswith("${NOTIFICATION_AUTH_TOKEN:?")
    assert notification["NOTIFICATION_AUTH_TOKEN"] == token  # one shared credential
    assert notification["NOTIFICATIONS_ENABLED"] == "true"


def test_database_url_names_the_database_service() -> None:
    url = urlsplit(interpolate(env_of(OURS["scheduling"])["DATABASE_URL"]))
    assert url.scheme in {"postgresql", "postgresql+psycopg"}
    db = SERVICES[url.hostname or ""]
    db_env = env_of(db)
    assert str(db["image"]).split(":")[1].startswith("16")
    assert url.port == 5432
    assert url.username == db_env["POSTGRES_USER"]
    assert url.password == interpolate(db_env["POSTGRES_PASSWORD"])
    assert url.path == "/" + db_env["POSTGRES_DB"]
    test = [str(w) for w in db["healthcheck"]["test"]]
    assert "pg_isready" in " ".join(test)


def test_services_find_each_other() -> None:
    scheduling, notification = env_of(OURS["scheduling"]), env_of(OURS["notification"])
    host, port = notification_target = scheduling["NOTIFICATION_TARGET"].rsplit(":", 1)
    assert host == "notification", notification_target
    assert int(port) == port_of(notification["NOTIFICATION_LISTEN"])

    mail = SERVICES[notification["SMTP_HOST"]]
    assert "build" not in mail  # a mail catcher, not ours
    assert int(notification["SMTP_PORT"]) == port_of(env_of(mail)["MP_SMTP_BIND_ADDR"])
    assert notification.get("SMTP_STARTTLS", "false") == "false"  # the catcher has no TLS


# ---- compose: ports and health ----


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_listen_address_ports_and_probe_agree(name: str) -> None:
    spec = LONG_RUNNING[name]
    module = entry_point(spec)
    listen = env_of(spec)[LISTEN[module]]
    assert listen.startswith("0.0.0.0:"), f"{name}: {listen} is unreachable from other containers"
    port = port_of(listen)
    for mapped in container_ports(spec) + [int(p) for p in spec.get("expose", [])]:
        assert mapped == port, f"{name}: maps {mapped}, listens on {port}"

    test = [str(w) for w in spec["healthcheck"]["test"]]
    assert test[0] == "CMD"
    ((probe, args),) = python_modules(test)
    assert probe == "servicekit.probe"
    assert args[-1] == f"127.0.0.1:{port}"
    assert args[args.index("--service") + 1] == GRPC_SERVICE[module]  # readiness


def test_mail_catcher_ports() -> None:
    for name, spec in SERVICES.items():
        if name in OURS or "mailpit" not in str(spec.get("image")):
            continue
        env = env_of(spec)
        bound = {port_of(env["MP_UI_BIND_ADDR"]), port_of(env["MP_SMTP_BIND_ADDR"])}
        assert set(container_ports(spec)) <= bound


def test_start_order() -> None:
    assert OURS["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in LONG_RUNNING:
        condition = OURS[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


# ---- the Dockerfile ----


def test_dockerfile_builds_in_one_stage_and_runs_in_another_as_non_root() -> None:
    build, *_, runtime = stages()
    assert len(stages()) >= 2
    assert build[0][1].split()[-1] == "build"
    run = " ".join(rest for keyword, rest in build if keyword == "RUN")
    # The Makefile's protoc call: the same include paths and outputs.
    assert "grpc_tools.protoc -I protos" in run
    for flag in ("--python_out=generated", "--pyi_out=generated", "--grpc_python_out=generated"):
        assert flag in run and flag in (ROOT / "Makefile").read_text()
    assert re.search(r"pip install \.(\s|$)", run) and "pip install -e" not in run

    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    assert any("--from=build" in c and "/opt/venv" in c for c in copies)
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    exposed = {int(p) for keyword, rest in runtime if keyword == "EXPOSE" for p in rest.split()}
    listens = {port_of(env_of(s)[LISTEN[entry_point(s)]]) for s in LONG_RUNNING.values()}
    assert listens <= exposed


def test_dockerfile_copies_every_package_and_nothing_ignored() -> None:
    sources = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and "--from" not in rest:
            *paths, _destination = rest.split()
            sources += [p.rstrip("/") for p in paths]
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source not in ignored, f"{source} is copied but .dockerignore drops it"
    assert {".venv", "generated", ".git", ".env"} <= ignored

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in include:
        package = pattern.rstrip("*")
        if (ROOT / package / "__init__.py").exists():
            assert package in sources, f"{package} is installed by pyproject but not copied"
    assert {"pyproject.toml", "README.md", "protos"} <= set(sources)


def test_every_registry_image_has_a_stand_in_for_offline_runs() -> None:
    # make e2e-containers runs where no registry answers: an image of compose that is
    # neither built here nor stood in for (deploy/podman/) would stop it.
    third_party = {str(spec["image"]) for spec in SERVICES.values() if "build" not in spec}
    assert third_party <= set(STANDINS), third_party - set(STANDINS)
    for directory, _image in STANDINS.values():
        assert (ROOT / "deploy" / "podman" / directory / "Containerfile").exists(), directory


def test_dockerfile_has_no_syntax_line_and_no_unquoted_command_substitution() -> None:
    # `# syntax=` makes BuildKit download a frontend image; hadolint's SC2046 is the
    # unquoted $(...) (make e2e-containers runs hadolint itself).
    text = (ROOT / "Dockerfile").read_text()
    assert not text.lstrip().lower().startswith("# syntax=")
    for keyword, rest in dockerfile_instructions():
        if keyword == "RUN":
            assert not re.search(r"(?<![\"=])\$\(find", rest), rest
