"""Helpers shared by the benchmarks: data generation, timing, S3 clients, the report.

Every benchmark measures a baseline and the product in the same run, alternating their
order run by run (so neither side always gets the warmer page cache), and reports the
median of each and their ratio. Results go to stdout (a table) and bench/out/<name>.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
GIB = 1024**3
MIB = 1024**2
GB = 1e9

#: Sources are back-dated past the hash cache's racy window (hashcache.RACY_WINDOW_S),
#: as any file that was not written in the last seconds would be.
BACKDATE_S = 3600


# -- data ---------------------------------------------------------------------------
def _random_chunks(total: int, seed: int, chunk: int = 16 * MIB) -> Iterator[bytes]:
    import numpy as np

    rng = np.random.default_rng(seed)
    left = total
    while left > 0:
        n = min(chunk, left)
        yield rng.bytes(n)
        left -= n


def backdate(path: Path) -> None:
    past = time.time() - BACKDATE_S
    os.utime(path, (past, past))


def make_big_file(path: Path, size: int, seed: int = 1) -> Path:
    """``size`` random (incompressible) bytes, written once."""
    with path.open("wb") as out:
        for chunk in _random_chunks(size, seed):
            out.write(chunk)
    backdate(path)
    return path


def make_small_files(
    folder: Path, count: int, size: int = 4096, per_dir: int = 100, seed: int = 2
) -> int:
    """``count`` distinct random files of ``size`` bytes in sub-folders of ``per_dir``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    data = rng.bytes(count * size)
    for i in range(count):
        sub = folder / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"f{i:06d}.bin"
        path.write_bytes(data[i * size : (i + 1) * size])
        backdate(path)
    return count * size


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unique_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


# -- timing -------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- S3 -----------------------------------------------------------------------------
@dataclass(frozen=True)
class S3Env:
    endpoint: str
    access_key: str
    secret_key: str
    region: str

    @classmethod
    def from_environ(cls) -> S3Env | None:
        endpoint = os.environ.get("DHUB_TEST_S3_ENDPOINT")
        if not endpoint:
            return None
        return cls(
            endpoint,
            os.environ["DHUB_TEST_S3_ACCESS_KEY"],
            os.environ["DHUB_TEST_S3_SECRET_KEY"],
            os.environ.get("DHUB_TEST_S3_REGION", "us-east-1"),
        )

    def client(self) -> Any:
        """Exactly the client the product builds (``store.s3_client``), as in conftest."""
        import boto3

        from digitalhub_airflow.store import s3_client

        session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        return s3_client(self.endpoint, session=session)


def empty_and_delete_bucket(client: Any, bucket: str) -> None:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for i in range(0, len(keys), 1000):
            client.delete_objects(
                Bucket=bucket, Delete={"Objects": keys[i : i + 1000], "Quiet": True}
            )
    client.delete_bucket(Bucket=bucket)


# -- report -------------------------------------------------------------------------
@dataclass
class Row:
    measure: str
    baseline_s: float | None
    ours_s: float | None
    target: str = "-"  # e.g. "<= 1.3"; "-" when informational
    baseline_runs: list[float] = field(default_factory=list)
    ours_runs: list[float] = field(default_factory=list)
    note: str = ""
    skipped: str = ""
    #: When set, the target applies to this value (e.g. GB/s per core), not to the ratio.
    checked: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline_s is None or self.ours_s is None or self.baseline_s <= 0:
            return None
        return self.ours_s / self.baseline_s

    @property
    def status(self) -> str:
        if self.skipped:
            return "SKIP"
        value = self.checked if self.checked is not None else self.ratio
        if self.target == "-" or value is None:
            return "info"
        op, limit = self.target.split()[:2]
        ok = value <= float(limit) if op == "<=" else value >= float(limit)
        return "PASS" if ok else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "status": self.status}


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(title: str, rows: list[Row], extra_header: str = "") -> None:
    w = max(len(r.measure) for r in rows) + 2
    tw = max(8, *(len(r.target) for r in rows)) + 2
    print()
    print(f"== {title}")
    if extra_header:
        print(extra_header)
    head = f"{'measure':<{w}}{'baseline s':>12}{'ours s':>12}{'ratio':>9}{'target':>{tw}}  result"
    print(head)
    print("-" * len(head))
    for r in rows:
        if r.skipped:
            print(f"{r.measure:<{w}}{'-':>12}{'-':>12}{'-':>9}{r.target:>{tw}}  SKIP ({r.skipped})")
            continue
        line = (
            f"{r.measure:<{w}}{_fmt(r.baseline_s):>12}{_fmt(r.ours_s):>12}"
            f"{_fmt(r.ratio):>9}{r.target:>{tw}}  {r.status}"
        )
        print(line + (f"   {r.note}" if r.note else ""))
    sys.stdout.flush()


def machine_info() -> dict[str, Any]:
    import blake3

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "blake3": blake3.__version__,
        "mem_total_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1),
        "loadavg_at_end": os.getloadavg(),
        "git": git_revision(),
    }


def git_revision() -> str:
    """The product revision measured (read-only git calls); ``+dirty`` if the core changed."""
    import subprocess

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    return rev + ("+dirty" if git("status", "--porcelain", "--", "digitalhub_airflow") else "")


def write_json(name: str, payload: dict[str, Any]) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    payload = {"benchmark": name, "machine": machine_info(), **payload}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    return path


def finish(name: str, payload: dict[str, Any], rows: list[Row], strict: bool) -> int:
    """Write the summary JSON and give the exit code: 1 when ``strict`` and a target failed."""
    path = write_json(name, {**payload, "rows": [r.to_json() for r in rows]})
    print(f"summary: {path.relative_to(REPO)}")
    return 1 if strict and any(r.status == "FAIL" for r in rows) else 0


def install_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that temp dirs and buckets are cleaned up."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def load_note() -> str:
    """The machine's load: ratios stay comparable under load, absolute seconds do not."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def log(msg: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)
