"""Dependencies point inward: the domain imports nothing of the project but itself, and
its modules import each other without a cycle (hidden behind TYPE_CHECKING or not); the
service layer knows ports rather than drivers, adapters never import the service layer,
and one module acquires database connections. What a change writes beyond the room is
decided in the domain, once: neither the SQL adapters nor their in-memory twins (the
fakes) take those decisions, they execute the value the service layer hands them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import scheduling_service

PACKAGE = Path(scheduling_service.__file__).parent
FAKES = Path(__file__).parent / "service_layer" / "fakes"
STDLIB = sys.stdlib_module_names
DOMAIN = "scheduling_service.domain"

# The functions that decide, from a change, who is mailed what, who holds the event
# afterwards, which reminders go and come, what the change log records, which
# tombstones the calendar feeds keep, and what a waitlist writes and who it mails.
DECISIONS = {
    f"{DOMAIN}.invites.invites_for",
    f"{DOMAIN}.invites.holders_after",
    f"{DOMAIN}.reminders.plan",
    f"{DOMAIN}.outbox_writes.for_change",
    f"{DOMAIN}.change_log.entry_for",
    f"{DOMAIN}.calendar_feed.writes_for",
    f"{DOMAIN}.waitlist_changes.writes_for",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _domain_imports(path: Path) -> set[str]:
    """The domain modules `path` imports, wherever the import is (under `if
    TYPE_CHECKING:` too): `from scheduling_service.domain import errors` counts as
    scheduling_service.domain.errors."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(a.name for a in node.names if a.name.startswith(DOMAIN + "."))
        elif isinstance(node, ast.ImportFrom) and node.module == DOMAIN:
            modules.update(f"{DOMAIN}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(DOMAIN + "."):
            modules.add(str(node.module))
    return modules


def _names_used(path: Path) -> set[str]:
    """Every `module.name` the file imports or reaches through an imported module."""
    tree = ast.parse(path.read_text())
    used: set[str] = set()
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                used.add(f"{node.module}.{alias.name}")
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        base = node.value if isinstance(node, ast.Attribute) else None
        if isinstance(node, ast.Attribute) and isinstance(base, ast.Name) and base.id in aliases:
            used.add(f"{aliases[base.id]}.{node.attr}")
    return used


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", _modules("domain"), ids=lambda p: p.name)
def test_the_domain_imports_only_itself_and_the_standard_library(path: Path) -> None:
    outside = {
        name
        for name in _imports(path)
        if _top(name) not in STDLIB
        and _top(name) != "__future__"
        and not name.startswith("scheduling_service.domain")
    }
    assert outside == set()


@pytest.mark.parametrize("path", _modules("service_layer"), ids=lambda p: p.name)
def test_the_service_layer_depends_on_ports_not_on_drivers(path: Path) -> None:
    forbidden = ("scheduling_service.adapters", "scheduling_service.entrypoints")
    drivers = {"psycopg", "psycopg_pool", "sqlalchemy", "grpc", "google"}
    drivers |= {"scheduling", "notification"}  # the generated protobuf code
    imported = _imports(path)
    assert {n for n in imported if n.startswith(forbidden)} == set()
    assert {n for n in imported if _top(n) in drivers} == set()


@pytest.mark.parametrize("path", _modules("adapters"), ids=lambda p: p.name)
def test_adapters_never_import_the_service_layer(path: Path) -> None:
    forbidden = ("scheduling_service.service_layer", "scheduling_service.entrypoints")
    assert {n for n in _imports(path) if n.startswith(forbidden)} == set()


def test_one_module_acquires_database_connections() -> None:
    acquiring = (
        "getconn(",
        "Connection.connect(",
        "psycopg.connect(",
        "engine.connect(",
        "create_engine(",
        "AsyncConnectionPool(",
    )
    where = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(call in path.read_text() for call in acquiring)
    }
    assert where == {"adapters/database.py"}


def test_the_domain_imports_itself_without_a_cycle() -> None:
    graph = {
        f"{DOMAIN}.{path.stem}": _domain_imports(path)
        for path in _modules("domain")
        if path.stem != "__init__"
    }
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            pytest.fail("the domain imports itself in a circle: " + " -> ".join(cycle))
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_the_cycle_check_sees_imports_under_type_checking(tmp_path: Path) -> None:
    hidden = tmp_path / "room.py"
    hidden.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from scheduling_service.domain.mail import MailState\n"
    )
    assert _domain_imports(hidden) == {f"{DOMAIN}.mail"}


@pytest.mark.parametrize(
    "path",
    [*_modules("adapters"), *sorted(FAKES.glob("*.py"))],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_adapters_and_fakes_execute_decisions_and_take_none(path: Path) -> None:
    assert _names_used(path) & DECISIONS == set()


def test_the_decisions_are_found_where_they_are_taken() -> None:
    """The check above would pass vacuously if it could not see a decision being used."""
    assert {
        f"{DOMAIN}.outbox_writes.for_change",
        f"{DOMAIN}.change_log.entry_for",
        f"{DOMAIN}.calendar_feed.writes_for",
    } <= _names_used(PACKAGE / "service_layer" / "rooms.py")
    assert f"{DOMAIN}.reminders.plan" in _names_used(PACKAGE / "domain" / "outbox_writes.py")
    assert f"{DOMAIN}.waitlist_changes.writes_for" in _names_used(
        PACKAGE / "service_layer" / "waitlist.py"
    )
