"""Dependencies point inward: the domain imports nothing of the project but itself (and
servicekit.text, the text hygiene both services share), rendering and its structural
check are pure, delivery and the use cases never reach the gRPC entry points, and only
`python -m notification_service` does. The CalDAV adapter (delivery/calendar/) uses only
the domain, itself and its HTTP and XML libraries. credentials/ (sealing, OAuth refresh)
uses no other layer; the use cases may seal and open credentials but never reach the
token endpoint themselves (the calendar gateway in delivery/ does). The domain and the
adapter have no import cycle, not even one hidden behind `if TYPE_CHECKING:`.

Imports are read with ast from every statement of a module (inside functions and
`if TYPE_CHECKING:` blocks too); relative imports are resolved, and
`from package import module` counts as importing the module.
"""

from __future__ import annotations

import ast
import functools
import graphlib
import importlib.util
import sys
from pathlib import Path

import pytest

import notification_service

PACKAGE = Path(notification_service.__file__).parent
NAME = PACKAGE.name
STDLIB = sys.stdlib_module_names | {"__future__"}

# Pure libraries the domain may use besides the standard library: the shared rules for
# control characters and addresses (servicekit/text.py imports only the stdlib itself).
DOMAIN_LIBRARIES = {"servicekit.text"}
# Pure libraries rendering and its check may use: icalendar writes and reads values
# and content lines, servicekit.ical is the one iCalendar writer both services share
# (it imports only the stdlib and icalendar); no I/O.
RENDER_LIBRARIES = {"icalendar", "servicekit.ical"}
# Drivers: gRPC and the protobuf code (generated: `notification`, `scheduling`), SMTP.
DRIVERS = {"grpc", "google", "notification", "scheduling", "aiosmtplib"}
# What the CalDAV adapter (delivery/calendar/) may use: HTTP to user-given URLs, the CA
# bundle, XML parsing without DTDs or entities, and iCalendar to read a UID back.
CALENDAR_LIBRARIES = {"httpx", "certifi", "defusedxml", "icalendar"}
# What credentials/ may use: AEAD for sealing, HTTP for the token endpoint, the shared
# settings error.
CREDENTIALS_LIBRARIES = {"cryptography", "httpx", "servicekit.config"}


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _modules(root: Path) -> dict[str, Path]:
    """Every module of the package at `root`, by dotted name."""
    return {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _imports(path: Path, root: Path) -> set[str]:
    """Every module `path` imports, from any statement in it."""
    known = _modules(root)
    here = _module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(
                f"{module}.{alias.name}"
                for alias in node.names
                if f"{module}.{alias.name}" in known
            )
    return names


def _inside(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _layer(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def _id(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def _cycle(root: Path, layer: str) -> list[str] | None:
    """An import cycle among the modules of `layer` (a dotted name), or None."""
    modules = {name: path for name, path in _modules(root).items() if _inside(name, layer)}
    graph = {name: _imports(path, root) & modules.keys() for name, path in modules.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


@pytest.mark.parametrize("path", _layer("domain"), ids=_id)
def test_the_domain_imports_only_itself_the_standard_library_and_pure_rules(path: Path) -> None:
    outside = {
        name
        for name in _imports(path, PACKAGE)
        if name.split(".")[0] not in STDLIB
        and not _inside(name, f"{NAME}.domain", *DOMAIN_LIBRARIES)
    }
    assert outside == set()


@pytest.mark.parametrize("library", sorted(DOMAIN_LIBRARIES))
def test_what_the_domain_borrows_imports_only_the_standard_library(library: str) -> None:
    spec = importlib.util.find_spec(library)
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin)
    root = path.parents[library.count(".")] / library.split(".")[0]
    assert {n for n in _imports(path, root) if n.split(".")[0] not in STDLIB} == set()


def test_the_domain_has_no_import_cycle() -> None:
    assert _cycle(PACKAGE, f"{NAME}.domain") is None


@pytest.mark.parametrize("path", _layer("render") + _layer("verify"), ids=_id)
def test_rendering_and_its_check_are_pure(path: Path) -> None:
    """No delivery, no use case, no entry point, no driver: only the domain, rendering,
    the stdlib and icalendar."""
    allowed = (f"{NAME}.domain", f"{NAME}.render", f"{NAME}.verify", *RENDER_LIBRARIES)
    outside = {
        name
        for name in _imports(path, PACKAGE)
        if name.split(".")[0] not in STDLIB and not _inside(name, *allowed)
    }
    assert outside == set()


@pytest.mark.parametrize("path", _layer("render"), ids=_id)
def test_rendering_never_imports_its_check(path: Path) -> None:
    """verify/ reads back what render/ meant; a renderer must not vouch for itself."""
    assert {n for n in _imports(path, PACKAGE) if _inside(n, f"{NAME}.verify")} == set()


@pytest.mark.parametrize("path", _layer("delivery"), ids=_id)
def test_delivery_never_imports_the_use_cases_or_the_entry_points(path: Path) -> None:
    forbidden = (f"{NAME}.service_layer", f"{NAME}.entrypoints")
    assert {n for n in _imports(path, PACKAGE) if _inside(n, *forbidden)} == set()


@pytest.mark.parametrize("path", _layer("delivery/calendar"), ids=_id)
def test_the_calendar_adapter_uses_only_the_domain_and_its_libraries(path: Path) -> None:
    """It talks to servers a user names: no mail delivery, rendering or driver of the
    service leaks into it, and it draws its errors from domain/errors.py."""
    allowed = (f"{NAME}.domain", f"{NAME}.delivery.calendar", *CALENDAR_LIBRARIES)
    outside = {
        name
        for name in _imports(path, PACKAGE)
        if name.split(".")[0] not in STDLIB and not _inside(name, *allowed)
    }
    assert outside == set()


def test_the_calendar_adapter_has_no_import_cycle() -> None:
    assert _cycle(PACKAGE, f"{NAME}.delivery.calendar") is None


@pytest.mark.parametrize("path", _layer("service_layer"), ids=_id)
def test_the_use_cases_depend_on_ports_not_on_drivers(path: Path) -> None:
    forbidden = (f"{NAME}.delivery", f"{NAME}.entrypoints", f"{NAME}.credentials.oauth", *DRIVERS)
    assert {n for n in _imports(path, PACKAGE) if _inside(n, *forbidden)} == set()


@pytest.mark.parametrize("path", _layer("credentials"), ids=_id)
def test_credentials_use_no_other_layer(path: Path) -> None:
    allowed = (f"{NAME}.credentials", *CREDENTIALS_LIBRARIES)
    outside = {
        name
        for name in _imports(path, PACKAGE)
        if name.split(".")[0] not in STDLIB and not _inside(name, *allowed)
    }
    assert outside == set()


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] != "entrypoints"],
    ids=_id,
)
def test_only_main_imports_the_entry_points(path: Path) -> None:
    entry = {n for n in _imports(path, PACKAGE) if _inside(n, f"{NAME}.entrypoints")}
    if path.name == "__main__.py" and path.parent == PACKAGE:
        assert entry  # the one way in, and it is still used
    else:
        assert entry == set()


def test_every_folder_is_a_package() -> None:
    """As in scheduling_service: without an __init__.py a folder still imports, as an
    implicit namespace package, so nothing else would notice it missing."""
    folders = {path.parent for path in PACKAGE.rglob("*.py")}
    assert {f for f in folders if not (f / "__init__.py").exists()} == set()


def test_the_checks_see_every_layer() -> None:
    """A layer renamed or emptied would make the tests above pass vacuously."""
    layers = (
        "domain",
        "render",
        "verify",
        "delivery",
        "delivery/calendar",
        "credentials",
        "service_layer",
    )
    for layer in (*layers, "entrypoints"):
        assert [p for p in _layer(layer) if p.name != "__init__.py"], layer


def test_a_cycle_behind_type_checking_is_found(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "domain").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "domain" / "__init__.py").write_text("")
    (root / "domain" / "a.py").write_text("from pkg.domain.b import B\n")
    (root / "domain" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"
    )
    (root / "domain" / "c.py").write_text("from pkg.domain import b\n")
    cycle = _cycle(root, "pkg.domain")
    assert cycle is not None
    assert set(cycle) == {"pkg.domain.a", "pkg.domain.b"}
    (root / "domain" / "b.py").write_text("from typing import TYPE_CHECKING\n")
    assert _cycle(root, "pkg.domain") is None
