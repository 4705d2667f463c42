"""Helpers for the unit tests: an embedded DataHub and the real ``dhub`` console script.

Everything here runs against real SQLite files, real folders and real subprocesses;
nothing is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.datasets.hashcache import HashCache
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store import LocalBlobStore

REPO = Path(__file__).resolve().parents[2]
DHUB = REPO / ".venv" / "bin" / "dhub"
#: Variables that would point a ``dhub`` subprocess away from its DHUB_HOME.
_SCRUBBED = (
    "DHUB_CATALOG_URL",
    "DHUB_STORE_URL",
    "DHUB_CATALOG_SCHEMA",
    "DHUB_FAILPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AIRFLOW_CTX_DAG_ID",
)


def make_hub(root: Path) -> DataHub:
    """An initialised embedded hub: SQLite catalog, folder store, hash cache under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    hub = DataHub(
        Catalog(f"sqlite:///{root / 'c.sqlite'}"),
        LocalBlobStore(root / "store"),
        HashCache(root / "h.sqlite"),
    )
    hub.init()
    return hub


def store_root(hub: DataHub) -> Path:
    root = getattr(hub.store, "root", None)
    assert isinstance(root, Path), "the unit tests use the folder store only"
    return root


def store_files(root: Path) -> set[str]:
    """Every file under a store folder (blobs and temporaries), relative to it."""
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def blob_path(root: Path, digest: str) -> Path:
    return root / "blobs" / digest[:2] / digest


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["DHUB_HOME"] = str(home)
    env.update(extra)
    return env


@dataclass
class Cli:
    """Runs the installed ``dhub`` console script against one DHUB_HOME."""

    home: Path

    @property
    def store(self) -> Path:
        return self.home / "store"

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        prefix: Sequence[str] = (),
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, str(DHUB), *args],
            env=env or cli_env(self.home),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=cwd or self.home.parent,
        )

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        proc = self.run(*args, **kwargs)
        assert proc.returncode == 0, f"dhub {' '.join(args)} failed:\n{proc.stderr}"
        return proc

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.ok(*args, "--json", **kwargs).stdout)

    def run_all(self, *commands: Sequence[str]) -> list[subprocess.CompletedProcess[str]]:
        """Run independent commands concurrently (each is still its own process)."""
        with ThreadPoolExecutor(len(commands)) as pool:
            return list(pool.map(lambda args: self.run(*args), commands))

    def json_all(self, *commands: Sequence[str]) -> list[Any]:
        procs = self.run_all(*[[*c, "--json"] for c in commands])
        for args, proc in zip(commands, procs, strict=True):
            assert proc.returncode == 0, f"dhub {' '.join(args)} failed:\n{proc.stderr}"
        return [json.loads(p.stdout) for p in procs]

    def hub(self) -> DataHub:
        """The catalog and store the CLI uses by default, opened through the API."""
        return DataHub(
            Catalog(f"sqlite:///{self.home / 'catalog.sqlite'}"),
            LocalBlobStore(self.store),
            HashCache(self.home / "cache" / "hashes.sqlite"),
        )


def assert_cli_error(proc: subprocess.CompletedProcess[str], error: type[Any]) -> str:
    """The run failed with ``error``'s exit code and exactly one ``dhub: error:`` line."""
    assert proc.returncode == error.exit_code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dhub: error: "), proc.stderr
    return lines[0]


def python_usable_by(user: str) -> bool:
    """Whether ``user`` can run this interpreter and import the package (it may live
    under /root, which other users cannot enter)."""
    runuser = shutil.which("runuser")
    if runuser is None:
        return False
    proc = subprocess.run(
        [runuser, "-u", user, "--", sys.executable, "-c", "import digitalhub_airflow"],
        capture_output=True,
        check=False,
        cwd="/",
        timeout=60,
    )
    return proc.returncode == 0


def catalog_dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a SQLite catalog, read with the sqlite3 module."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {t: sorted(db.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        db.close()


@dataclass(frozen=True)
class Snapshot:
    """What a refused operation must leave exactly as it was."""

    catalog: dict[str, list[tuple[Any, ...]]]
    store: set[str]

    @classmethod
    def of(cls, catalog_path: Path, store: Path) -> Snapshot:
        return cls(catalog_dump(catalog_path), store_files(store))
