"""Who and where: the identity of the notebook (or script) the SDK runs in.

A run recorded from a notebook names it the way a task's run names its DAG and task:

- **path**: ``DHUB_NOTEBOOK`` if set; else VS Code's ``__vsc_ipynb_file__``; else the
  ``__session__`` variable ipykernel sets from Jupyter's ``JPY_SESSION_NAME``; else
  ``JPY_SESSION_NAME`` itself (Jupyter Server gives it to each kernel it starts); else,
  outside a kernel, the script ``sys.argv[0]``. ``None`` when nothing names it.
- **kernel**: the kernel id, from the ipykernel connection file (``kernel-<id>.json``).
- **user**: :func:`digitalhub_airflow.settings.current_user` (``DHUB_USER``, else the OS
  user, as ``getpass.getuser()`` gives it).
- **git**: ``git rev-parse HEAD`` of the repository holding the notebook (its folder, or
  the working directory), the notebook's path inside it and whether it has uncommitted
  changes. The remote's URL is not recorded: it may carry a token.

Everything here is read once per process and never raises: a notebook without a path,
outside git or without ``git`` installed still gets an identity.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from digitalhub_airflow.lineage.runs import run_name
from digitalhub_airflow.settings import current_user

#: Overrides the notebook path (papermill, a scheduler or a test naming the notebook).
NOTEBOOK_ENV = "DHUB_NOTEBOOK"
#: The run kind of notebook runs: ``store://<project>/run/notebook/<name>:<id>``.
NOTEBOOK_KIND = "notebook"
_KERNEL_FILE = re.compile(r"kernel-([0-9a-zA-Z-]+)\.json$")
_GIT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class NotebookIdentity:
    """The notebook (or script) and the person behind the SDK calls of this process."""

    path: str | None
    user: str
    kernel_id: str | None = None
    git_commit: str | None = None
    git_path: str | None = None
    git_dirty: bool | None = None
    in_kernel: bool = False

    @property
    def name(self) -> str:
        """The run name: the notebook's file name (``explore.ipynb``), else ``python``."""
        if self.path:
            return run_name(Path(self.path).name)
        return "notebook" if self.in_kernel else "python"

    def to_json(self) -> dict[str, Any]:
        """What a run and a version record about the notebook (``None`` fields left out)."""
        fields = {
            "notebook": self.path,
            "kernel_id": self.kernel_id,
            "user": self.user,
            "git_commit": self.git_commit,
            "git_path": self.git_path,
            "git_dirty": self.git_dirty,
        }
        return {k: v for k, v in fields.items() if v is not None}


def _ipython() -> Any | None:
    """The running IPython shell, if this process is one (never imports IPython)."""
    module = sys.modules.get("IPython")
    if module is None:
        return None
    try:
        return module.get_ipython()
    except Exception:  # an unusual embedding: no shell
        return None


def _kernel_id() -> str | None:
    module = sys.modules.get("ipykernel.connect") or sys.modules.get("ipykernel")
    if module is None or not hasattr(module, "get_connection_file"):
        return None
    try:
        found = _KERNEL_FILE.search(Path(module.get_connection_file()).name)
    except Exception:  # not a kernel after all
        return None
    return found.group(1) if found else None


def notebook_path() -> str | None:
    """The notebook's path, from the first source that names one (module docstring)."""
    explicit = os.environ.get(NOTEBOOK_ENV)
    if explicit:
        return explicit
    shell = _ipython()
    user_ns: dict[str, Any] = getattr(shell, "user_ns", None) or {}
    for name in ("__vsc_ipynb_file__", "__session__"):
        value = user_ns.get(name)
        if isinstance(value, str) and value:
            return value
    session = os.environ.get("JPY_SESSION_NAME")
    if session:
        return session
    if shell is None and sys.argv and sys.argv[0] not in ("", "-", "-c", "-m"):
        return sys.argv[0]
    return None


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(path: str | None) -> tuple[str | None, str | None, bool | None]:
    """``(commit, path in the repository, dirty)`` of the repository holding ``path``
    (or the working directory); ``(None, None, None)`` outside a repository."""
    file = Path(path).expanduser() if path else None
    folder = file.parent if file is not None and file.parent.is_dir() else Path.cwd()
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None, None, None
    if file is None or not file.exists():
        return commit, None, None
    top = _git(folder, "rev-parse", "--show-toplevel")
    try:
        relative = file.resolve().relative_to(Path(top).resolve()).as_posix() if top else None
    except ValueError:
        relative = None
    status = _git(folder, "status", "--porcelain", "--", file.name)
    return commit, relative, bool(status) if status is not None else None


@cache
def _detected(
    path: str | None, user: str, kernel_id: str | None, in_kernel: bool
) -> NotebookIdentity:
    commit, relative, dirty = git_state(path)
    return NotebookIdentity(path, user, kernel_id, commit, relative, dirty, in_kernel)


def current_identity() -> NotebookIdentity:
    """This process's notebook identity (git is asked once per notebook path)."""
    shell = _ipython()
    in_kernel = shell is not None and type(shell).__name__ == "ZMQInteractiveShell"
    return _detected(notebook_path(), current_user(), _kernel_id(), in_kernel)


def current_cell() -> tuple[int | None, str | None]:
    """``(execution count, source)`` of the cell being executed, in IPython; else Nones."""
    shell = _ipython()
    if shell is None:
        return None, None
    count = getattr(shell, "execution_count", None)
    history = (getattr(shell, "user_ns", None) or {}).get("In")
    source = history[-1] if isinstance(history, list) and history else None
    return (count if isinstance(count, int) else None), (
        source if isinstance(source, str) else None
    )
