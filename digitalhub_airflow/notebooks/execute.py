"""Run a notebook as a step: inject parameters, execute in a fresh kernel, save the result.

The kernel is a new process with this process's environment plus ``env`` (settings:
``DHUB_CATALOG_URL``, ``DHUB_STORE_URL``…, safe to show) plus ``secrets`` (a password,
store keys: never written anywhere). When a producing run is current (an operator's
execution, :func:`digitalhub_airflow.lineage.producing.producing`) and ``env`` names no
other, the kernel gets it as ``DHUB_RUN``: every commit the notebook makes, through
``DataHub.from_settings()`` or anything built on it, is recorded as produced by that run.

What is saved: the executed notebook with its outputs, its injected parameters cell and
a ``dhub`` metadata entry (source, parameters, status, the failing cell), and every
value of ``secrets`` masked wherever it appears in an output (a notebook that prints
its environment leaks nothing). A failing cell raises :class:`NotebookError` after the
save, naming the cell and its exception.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitalhub_airflow.errors import InvalidOptionError, NotebookError, NotFoundError
from digitalhub_airflow.lineage.producing import RUN_ENV, current_run
from digitalhub_airflow.lineage.runs import REDACTED
from digitalhub_airflow.notebooks.parameters import inject_parameters

#: Secrets shorter than this are not masked: they would match everywhere (use real ones).
MIN_MASKED = 4


@dataclass
class NotebookRun:
    """A finished notebook run."""

    source: str
    output_path: str
    parameters: dict[str, Any]
    kernel_name: str
    cells: int
    #: Index of the injected parameters cell in the executed notebook, or None.
    injected_cell: int | None
    duration_s: float
    env_names: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "output_path": self.output_path,
            "parameters": self.parameters,
            "kernel_name": self.kernel_name,
            "cells": self.cells,
            "injected_cell": self.injected_cell,
            "duration_s": round(self.duration_s, 3),
            "env_names": self.env_names,
        }


def mask(node: Any, secrets: list[str]) -> Any:
    """``node`` with every secret value replaced in its strings (keys are left alone)."""
    if not secrets:
        return node
    if isinstance(node, str):
        for secret in secrets:
            node = node.replace(secret, REDACTED)
        return node
    if isinstance(node, dict):
        for key in list(node):
            node[key] = mask(node[key], secrets)
        return node
    if isinstance(node, list):
        return [mask(item, secrets) for item in node]
    return node


def kernel_environment(env: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """What the kernel process starts with: this process's environment, the settings,
    the current producing run (unless ``env`` names one), the secrets."""
    full = {**os.environ, **{k: str(v) for k, v in env.items()}}
    if RUN_ENV not in env:
        run = current_run()
        if run is not None:
            full[RUN_ENV] = run.to_env()
    full.update({k: str(v) for k, v in secrets.items()})
    return full


def _encryption() -> dict[str, Any]:
    """CurveZMQ between this process and the kernel where jupyter_client offers it (the
    kernel's messages carry the notebook's outputs)."""
    from jupyter_client.manager import KernelManager

    if hasattr(KernelManager, "_transport_encryption_policy"):
        return {"transport_encryption": "auto"}
    return {}


def _error_output(cell: Any) -> tuple[str | None, str | None]:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output.get("ename"), output.get("evalue")
    return None, None


def run_notebook(
    path: str | Path,
    parameters: Mapping[str, Any] | None = None,
    output_path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 600,
    kernel_name: str = "python3",
    secrets: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    startup_timeout: float = 60,
) -> NotebookRun:
    """Execute the notebook at ``path`` and save the executed copy at ``output_path``.

    :param parameters: injected after the cell tagged ``parameters`` (at the top if none).
    :param output_path: where the executed notebook goes (default: ``<name>.out.ipynb``
        beside the source); saved also when a cell fails.
    :param env: extra environment variables of the kernel (settings; not masked).
    :param timeout: seconds each cell may run (``None``: no limit).
    :param kernel_name: the Jupyter kernel (``python3``: this interpreter).
    :param secrets: environment variables of the kernel whose values are masked in the
        saved notebook.
    :param cwd: the kernel's working directory (default: the notebook's folder).
    :raises NotebookError: a cell raised or timed out, or the kernel died or did not start.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    source = Path(path).resolve()
    if not source.is_file():
        raise NotFoundError(f"notebook {source} does not exist")
    target = Path(output_path) if output_path else source.with_suffix(".out.ipynb")
    if target.resolve() == source:
        raise InvalidOptionError(f"the executed notebook would overwrite its source {source}")
    parameters = dict(parameters or {})
    secrets = dict(secrets or {})
    try:
        nb = nbformat.read(source, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises several kinds on bad files
        raise NotebookError(f"cannot read notebook {source}: {exc}") from exc
    injected = inject_parameters(nb, parameters)
    masked = sorted({v for v in secrets.values() if len(v) >= MIN_MASKED}, key=len, reverse=True)
    running: list[int] = []

    def on_cell_execute(cell: Any, cell_index: int) -> None:
        running.append(cell_index)

    client = NotebookClient(
        nb,
        timeout=timeout,
        startup_timeout=int(startup_timeout),
        kernel_name=kernel_name,
        allow_errors=False,
        resources={"metadata": {"path": str(Path(cwd) if cwd else source.parent)}},
        on_cell_execute=on_cell_execute,
    )
    metadata: dict[str, Any] = {
        "source": str(source),
        "parameters": parameters,
        "kernel_name": kernel_name,
    }
    started = time.monotonic()
    failure: NotebookError | None = None
    try:
        client.execute(env=kernel_environment(env or {}, secrets), **_encryption())
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        index = running[-1] if running else None
        ename, evalue = _error_output(nb.cells[index]) if index is not None else (None, None)
        ename = ename or type(exc).__name__
        evalue = evalue if evalue is not None else str(exc).strip().splitlines()[0]
        failure = _failure(
            source,
            target,
            index=index,
            injected=injected,
            ename=ename,
            evalue=evalue,
            masked=masked,
        )
        failure.__cause__ = exc
    except Exception as exc:  # the kernel did not start: unknown name, bad environment
        failure = _failure(
            source,
            target,
            index=None,
            injected=injected,
            ename=type(exc).__name__,
            evalue=str(exc),
            masked=masked,
        )
        failure.__cause__ = exc
    duration = time.monotonic() - started
    metadata.update(status="failed" if failure else "completed", duration_s=round(duration, 3))
    if failure is not None:
        metadata["error"] = {
            "cell_index": failure.cell_index,
            "ename": failure.ename,
            "evalue": failure.evalue,
        }
    nb.metadata["dhub"] = metadata
    _save(nb, target, masked)
    if failure is not None:
        raise failure
    return NotebookRun(
        source=str(source),
        output_path=str(target),
        parameters=parameters,
        kernel_name=kernel_name,
        cells=len(nb.cells),
        injected_cell=injected,
        duration_s=duration,
        env_names=sorted({*(env or {}), *secrets}),
    )


def _failure(
    source: Path,
    target: Path,
    *,
    index: int | None,
    injected: int | None,
    ename: str,
    evalue: str,
    masked: list[str],
) -> NotebookError:
    ename, evalue = mask(ename, masked), mask(evalue, masked)
    if index is None:
        where = "before any cell ran"
    else:
        where = f"in cell {index}"
        if injected is not None and index != injected:
            # the cell's position in the source notebook, which has no injected cell
            where += f" (cell {index - (index > injected)} of the source notebook)"
    message = (
        f"notebook {source.name} failed {where}: {ename}: {evalue}; "
        f"the executed notebook is saved at {target}"
    )
    return NotebookError(
        message, cell_index=index, ename=ename, evalue=evalue, output_path=str(target)
    )


def _save(nb: Any, target: Path, masked: list[str]) -> None:
    import nbformat

    target.parent.mkdir(parents=True, exist_ok=True)
    clean = nbformat.from_dict(mask(nbformat.from_dict(nb), masked))  # type: ignore[no-untyped-call]
    nbformat.write(clean, str(target))  # type: ignore[no-untyped-call]
