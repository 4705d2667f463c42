"""A function written in a notebook, loaded unchanged: the same code as a pipeline task.

:func:`function_from_notebook` finds the code cell that defines the function at its top
level and executes that cell alone in a fresh module. Only that cell runs, so it must be
self-contained: the imports it needs inside it (or inside the function), nothing from
the notebook's other cells. Its source is registered with :mod:`linecache` under a
name that points at the notebook and the cell, so :func:`inspect.getsource` works: a
transform's code digest (its cache key) is the digest of the cell's function, and it
changes when the notebook's function changes.

The notebook is read as JSON: no nbformat, no kernel, so a DAG file can call this while
it is parsed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import linecache
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from digitalhub_airflow.errors import InvalidSourceError, NotFoundError

#: Lines IPython runs itself (magics, shell escapes): not Python, left out of the cell.
_IPYTHON_LINE = re.compile(r"^\s*[%!]")


def notebook_cells(path: str | Path) -> list[dict[str, Any]]:
    """The cells of an ``.ipynb`` (nbformat 4), read as plain JSON."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFoundError(f"notebook {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise InvalidSourceError(f"notebook {path} is not readable JSON: {exc}") from exc
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise InvalidSourceError(f"{path} is not a notebook (nbformat 4): no cell list")
    return cells


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    text = "".join(source) if isinstance(source, list) else str(source)
    lines = ["" if _IPYTHON_LINE.match(line) else line for line in text.splitlines()]
    return "".join(f"{line}\n" for line in lines)


def defining_cell(path: str | Path, name: str) -> tuple[int, str]:
    """``(index, source)`` of the last code cell defining ``name`` at its top level (the
    last, as running the notebook top to bottom would leave it)."""
    found: tuple[int, str] | None = None
    for index, cell in enumerate(notebook_cells(path)):
        if cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                found = (index, source)
    if found is None:
        raise NotFoundError(f"no code cell of {path} defines a function {name!r}")
    return found


def function_from_notebook(path: str | Path, name: str) -> Callable[..., Any]:
    """The function ``name`` defined in a code cell of the notebook at ``path``.

    The cell is executed alone in a new module, named after the notebook and the cell
    (``dhub_notebook_<stem>_<digest>``, also in :data:`sys.modules`, so pickling and
    ``inspect`` find it); the function is returned as written.
    """
    path = Path(path).resolve()
    index, source = defining_cell(path, name)
    digest = hashlib.sha256(f"{path}\0{index}\0{source}".encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"dhub_notebook_{stem}_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        filename = f"{path}#cell{index}"
        lines = source.splitlines(keepends=True)
        # mtime None: linecache.checkcache never drops it (the "file" does not exist).
        linecache.cache[filename] = (len(source), None, lines, filename)
        module = types.ModuleType(module_name, f"cell {index} of {path}")
        module.__file__ = filename
        try:
            code = compile(source, filename, "exec")
            exec(code, module.__dict__)  # the cell is the code the caller asked for
        except Exception as exc:
            raise InvalidSourceError(
                f"cell {index} of {path} (defining {name}) raised {type(exc).__name__}: {exc}"
            ) from exc
        sys.modules[module_name] = module
    function = getattr(module, name)
    if not callable(function):
        raise InvalidSourceError(f"{name} in cell {index} of {path} is not callable")
    return function  # type: ignore[no-any-return]
