"""Dependencies point inward: the domain imports nothing of the project but itself, the
service layer knows ports rather than drivers, adapters never import the service layer,
and one module acquires database connections."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import scheduling_service

PACKAGE = Path(scheduling_service.__file__).parent
STDLIB = sys.stdlib_module_names


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


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
