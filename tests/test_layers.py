"""The import graph runs one way: the layering the README's Development section describes.

Every ``import`` and ``from ... import`` of the project's packages is read with ``ast`` (lazy
imports inside functions included, relative imports resolved), so an arrow that runs the wrong
way fails here rather than in a reviewer's reading.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("alert_ingest", "ingest", "templates_engine", "worker")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> Iterator[str]:
    """Every module ``path`` names in an import, and ``module.name`` for each ``from`` import
    (``from ingest.api import errors`` imports the module ``ingest.api.errors``)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


GRAPH: dict[str, set[str]] = {
    module_name(path): set(imported(path))
    for package in PACKAGES
    for path in (ROOT / package).rglob("*.py")
}


def inside(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def arrows(source: str, target: str) -> list[str]:
    return sorted(
        f"{module} -> {name}"
        for module, names in GRAPH.items()
        if inside(module, source)
        for name in names
        if inside(name, target)
    )


def test_the_graph_covers_the_packages() -> None:
    assert {"ingest.domain.integrations", "worker.webhooks.payload", "alert_ingest.cli"} <= set(
        GRAPH
    )
    assert "ingest.store.keys" in GRAPH["ingest.domain.groups"] | GRAPH["ingest.store.groups"]


@pytest.mark.parametrize(
    ("source", "target"),
    [
        # the entry point sits above both processes; neither reaches up to it
        ("ingest", "alert_ingest"),
        ("worker", "alert_ingest"),
        ("templates_engine", "alert_ingest"),
        # the api process never needs the worker
        ("ingest", "worker"),
        # the template engine knows nothing of the service around it
        ("templates_engine", "ingest"),
        ("templates_engine", "worker"),
        # below the HTTP layer: storage, domain operations and the worker
        ("ingest.store", "ingest.api"),
        ("ingest.domain", "ingest.api"),
        ("worker", "ingest.api"),
        # storage is the bottom of ingest: it calls no domain operation
        ("ingest.store", "ingest.domain"),
        # the console reaches domain operations only through the API handlers it mounts
        ("ingest.console", "ingest.domain"),
        # neither the worker nor the domain drives the console or the importer
        ("worker", "ingest.console"),
        ("worker", "ingest.importer"),
        ("ingest.domain", "ingest.console"),
        ("ingest.domain", "ingest.importer"),
    ],
)
def test_no_arrow(source: str, target: str) -> None:
    assert arrows(source, target) == []


def test_the_api_reaches_the_console_only_to_mount_it() -> None:
    """The app factory mounts the console; no handler depends on it."""
    assert {a.split(" -> ")[0] for a in arrows("ingest.api", "ingest.console")} == {
        "ingest.api.app"
    }
