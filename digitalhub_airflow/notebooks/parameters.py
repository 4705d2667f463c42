"""Parameters injected papermill-style: a new code cell after the ``parameters`` cell.

The cell tagged ``parameters`` holds the notebook's defaults; the injected cell, tagged
``injected-parameters``, follows it and overrides them (a notebook with no such tag gets
it first). Re-running an executed notebook replaces its injected cell. Values are written
as Python literals; a name that looks like a secret is refused: secrets go to the
kernel's environment (``run_notebook(secrets=...)``), never into a saved cell.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping
from typing import Any

from digitalhub_airflow.errors import InvalidOptionError
from digitalhub_airflow.lineage.runs import SECRET_NAME

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


def literal(value: Any, where: str) -> str:
    """``value`` as Python source that evaluates back to it (JSON-like values only)."""
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        return f"float({str(value)!r})"
    if isinstance(value, list | tuple):
        items = ", ".join(literal(v, where) for v in value)
        if isinstance(value, tuple):
            return f"({items}{',' if len(value) == 1 else ''})"
        return f"[{items}]"
    if isinstance(value, dict):
        pairs = []
        for k, v in value.items():
            if not isinstance(k, str | int | float | bool) and k is not None:
                raise InvalidOptionError(f"parameter {where}: dict key {k!r} is not a literal")
            pairs.append(f"{literal(k, where)}: {literal(v, where)}")
        return "{" + ", ".join(pairs) + "}"
    raise InvalidOptionError(
        f"parameter {where} is a {type(value).__name__}; a notebook parameter must be a "
        "str, number, bool, None, list or dict of those"
    )


def parameters_source(parameters: Mapping[str, Any]) -> str:
    """The injected cell's source; checks every name and value first."""
    lines = ["# Parameters"]
    for name, value in parameters.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise InvalidOptionError(f"notebook parameter name {name!r} is not a Python name")
        if SECRET_NAME.search(name):
            raise InvalidOptionError(
                f"notebook parameter {name!r} looks like a secret and would be saved in the "
                "executed notebook: pass it as a secret (an environment variable of the "
                "kernel) instead"
            )
        lines.append(f"{name} = {literal(value, name)}")
    return "\n".join(lines) + "\n"


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def inject_parameters(nb: Any, parameters: Mapping[str, Any]) -> int | None:
    """Insert (or replace) the injected cell in ``nb`` (an nbformat v4 notebook, changed
    in place). Returns its index, or ``None`` when there are no parameters (an injected
    cell left by an earlier run is removed then too)."""
    import nbformat

    cells = nb.cells
    old = next((i for i, c in enumerate(cells) if INJECTED_TAG in _tags(c)), None)
    if old is not None:
        del cells[old]
    if not parameters:
        return None
    cell = nbformat.v4.new_code_cell(parameters_source(parameters))  # type: ignore[no-untyped-call]
    cell.metadata["tags"] = [INJECTED_TAG]
    tagged = next(
        (i for i, c in enumerate(cells) if c.cell_type == "code" and PARAMETERS_TAG in _tags(c)),
        None,
    )
    index = 0 if tagged is None else tagged + 1
    cells.insert(index, cell)
    return index
