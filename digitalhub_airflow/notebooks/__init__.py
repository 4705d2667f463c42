"""Notebooks as pipeline steps: run one as a task, or reuse a function written in one.

- :func:`run_notebook` executes an ``.ipynb`` with nbclient in a fresh kernel after
  injecting parameters papermill-style (a cell tagged ``injected-parameters`` after the
  cell tagged ``parameters``), in an environment that carries the catalog and store
  settings and the producing run (``DHUB_RUN``): the notebook's commits are attributed
  to the task that ran it. The executed notebook is saved, also when a cell fails
  (:class:`~digitalhub_airflow.errors.NotebookError` names the cell); secrets reach the
  kernel's environment only and are masked in what is saved.
- :func:`function_from_notebook` loads a function defined in a notebook cell, unchanged,
  so the same code runs as a ``@dataset_transform`` task.
- :func:`produced_versions` lists what a run's commits wrote (its ``produced_by`` edges),
  wherever they were made: how a task reports the versions its notebook committed.

nbformat and nbclient are imported inside the functions that need them, and each name
here loads its module on first use (PEP 562): a DAG file that builds a task from a
notebook function does not load the catalog or lineage code at parse time.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digitalhub_airflow.notebooks.execute import NotebookRun, run_notebook
    from digitalhub_airflow.notebooks.functions import function_from_notebook
    from digitalhub_airflow.notebooks.outputs import produced_versions
    from digitalhub_airflow.notebooks.parameters import (
        INJECTED_TAG,
        PARAMETERS_TAG,
        inject_parameters,
    )

#: Each public name and the module under this package that defines it.
_WHERE = {
    "INJECTED_TAG": "parameters",
    "PARAMETERS_TAG": "parameters",
    "NotebookRun": "execute",
    "function_from_notebook": "functions",
    "inject_parameters": "parameters",
    "produced_versions": "outputs",
    "run_notebook": "execute",
}

__all__ = [
    "INJECTED_TAG",
    "PARAMETERS_TAG",
    "NotebookRun",
    "function_from_notebook",
    "inject_parameters",
    "produced_versions",
    "run_notebook",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
