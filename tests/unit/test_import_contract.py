"""The import contract, checked: which part of the suite may import which.

``docs/architecture.md`` draws the layers; this test is what keeps them. It reads every
module's imports with :mod:`ast` — top-level and inside functions alike, since a lazy
import is still a dependency — and skips only ``if TYPE_CHECKING:`` blocks, which never run.
(import-linter cannot see this project whole: setuptools' package-dir maps the Airflow
layer's top-level folders under ``digitalhub_airflow``, a layout its graph builder does not
follow, so the same contracts are written here.)
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from the lock
    import tomli as tomllib


ROOT = Path(__file__).resolve().parents[2]
CORE = "digitalhub_airflow"

#: The core's packages and root modules, lowest layer first. A module may import its own
#: package and any lower layer; packages that share a layer are independent of each other,
#: except in the first, whose few shared modules may use one another.
CORE_LAYERS: list[set[str]] = [
    {"errors", "keys", "settings", "hashing", "json_limits"},
    {"catalog"},
    {"access"},
    {"store", "kube"},
    {"lineage"},
    {"datasets"},
    {"hub"},
    {"query"},
    {"quality", "transforms", "notebooks", "endpoints", "features"},
    {"training"},
    {"serving"},
    {"dataservice", "reports"},
    {"browse"},
    {"cli", "sdk"},
]
#: The Airflow layer: top-level folders mapped under the import root (pyproject package-dir).
AIRFLOW_LAYER = {"hooks", "operators", "sensors", "triggers", "plugins", "provider", "decorators"}
#: What each part of the Airflow layer must not import.
AIRFLOW_FORBIDDEN = {
    "hooks": {"operators", "sensors", "triggers", "plugins", "decorators"},
    "operators": {"plugins"},
    "decorators": {"plugins"},
    "sensors": {"plugins", "operators"},
    "triggers": {"plugins", "operators", "sensors"},
    "provider": {"plugins"},
}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module name as written
    line: int


def module_files() -> dict[str, Path]:
    """Every module of the distribution by dotted name, following pyproject's package-dir."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: ROOT / folder for name, folder in config["package-dir"].items()}
    found: dict[str, Path] = {}
    for package, folder in folders.items():
        for path in folder.rglob("*.py"):
            relative = path.relative_to(folder).with_suffix("").parts
            if any(part in {"migrations", "__pycache__"} for part in relative):
                continue
            parts = relative[:-1] if relative[-1] == "__init__" else relative
            name = ".".join((package, *parts))
            if package == CORE and parts and parts[0] in AIRFLOW_LAYER:
                continue  # a mapped folder is read from its own top-level folder
            found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(name: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(Import(name, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.append(Import(name, target, node.lineno))
            # ``from pkg import module`` imports the module too
            found.extend(Import(name, f"{target}.{a.name}", node.lineno) for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@cache
def all_imports() -> tuple[Import, ...]:
    files = module_files()
    return tuple(i for name, path in files.items() for i in _imports_of(name, path))


def part_of(module: str) -> str | None:
    """The first component under the import root (``datasets``, ``operators`` …); None
    outside it, and for the root itself (it holds only ``__version__``)."""
    parts = module.split(".")
    if parts[0] != CORE or len(parts) == 1 or parts[1] == "__version__":
        return None
    return parts[1]


def layer_of(part: str) -> int:
    return next(i for i, layer in enumerate(CORE_LAYERS) if part in layer)


def describe(found: list[Import]) -> str:
    return "\n".join(f"  {i.importer}:{i.line} imports {i.imported}" for i in found)


def test_every_core_package_has_a_layer() -> None:
    parts = {part_of(m) for m in module_files()} - AIRFLOW_LAYER - {None}
    unplaced = parts - set().union(*CORE_LAYERS)
    assert not unplaced, f"add these to CORE_LAYERS: {sorted(unplaced)}"
    assert "datasets" in parts and "operators" in {part_of(m) for m in module_files()}


def test_the_core_never_imports_airflow_nor_the_airflow_layer() -> None:
    bad = [
        i
        for i in all_imports()
        if part_of(i.importer) not in AIRFLOW_LAYER
        and (
            i.imported == "airflow"
            or i.imported.startswith("airflow.")
            or part_of(i.imported) in AIRFLOW_LAYER
        )
    ]
    assert not bad, "the core imports Airflow:\n" + describe(bad)


def test_core_layers_import_only_downwards() -> None:
    bad = []
    for i in all_imports():
        src, dst = part_of(i.importer), part_of(i.imported)
        if src is None or dst is None or src in AIRFLOW_LAYER or src == dst:
            continue
        if dst in AIRFLOW_LAYER:
            continue  # the test above reports it
        s, d = layer_of(src), layer_of(dst)
        if d > s or (d == s and s > 0):
            bad.append(i)
    assert not bad, "imports against the layers (docs/architecture.md):\n" + describe(bad)


def test_the_airflow_layer_keeps_its_direction() -> None:
    bad = [
        i
        for i in all_imports()
        if (src := part_of(i.importer)) in AIRFLOW_FORBIDDEN
        and part_of(i.imported) in AIRFLOW_FORBIDDEN[src]
    ]
    assert not bad, "hooks -> operators -> plugins, never back:\n" + describe(bad)


def test_the_contract_catches_what_it_forbids(tmp_path: Path) -> None:
    """The checker itself: a lazy upward import and an Airflow import are found, a
    TYPE_CHECKING one is not."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from digitalhub_airflow.hub import DataHub\n"
        "def f():\n    from digitalhub_airflow.serving import model_refs\n"
        "    import airflow.sdk\n"
    )
    found = {i.imported for i in _imports_of("digitalhub_airflow.datasets.probe", probe)}
    assert "digitalhub_airflow.serving.model_refs" in found
    assert "airflow.sdk" in found
    assert "digitalhub_airflow.hub" not in found
