"""Executing the example notebooks on a real Jupyter kernel, and reading what they printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def execute(path: Path, env: dict[str, str], *, cwd: Path, timeout: int = 120) -> Any:
    """Run every cell of ``path`` in one fresh ``python3`` kernel started with ``env``
    (in ``cwd``); returns the executed notebook. A cell that raises fails the run with
    nbclient's ``CellExecutionError`` (its traceback names the cell)."""
    from nbclient import NotebookClient

    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book,
        kernel_name="python3",
        timeout=timeout,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=env)
    return book


def output_texts(book: Any) -> list[str]:
    """Every output of every cell as text: streams, results and displays in all their
    formats (HTML included), and error tracebacks."""
    texts: list[str] = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                texts.append(str(output["text"]))
            for value in output.get("data", {}).values():
                texts.append(value if isinstance(value, str) else str(value))
            texts.extend(output.get("traceback", []))
            if "evalue" in output:
                texts.append(str(output["evalue"]))
    return texts


def errors(book: Any) -> list[str]:
    return [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, cell in enumerate(book.cells)
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def stdout(book: Any) -> str:
    return "".join(
        str(o.get("text", ""))
        for cell in book.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream"
    )
