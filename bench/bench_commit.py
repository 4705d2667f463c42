"""Commit throughput against plain copies/uploads of the same bytes, measured in one run.

(a) one big file (1 GiB random bytes; 256 MiB with --quick)
    local: ``hub.commit`` vs ``shutil.copyfile`` + fsync of the copy (the store fsyncs)
    S3:    ``hub.commit`` vs ``client.upload_file`` with the store's TransferConfig and
           the same client (``store.s3_client``)
(b) a folder of 10,000 files of 4 KiB (2,000 with --quick), kind ``files``
    local: vs ``shutil.copytree`` (and, for information, copytree + fsync of each file)
    S3:    vs a ThreadPoolExecutor of ``S3BlobStore.ingest_threads`` workers running
           ``upload_file`` (and, for information, ``put_object``: first run only,
           with --extra or --quick; ~50 s at 10,000 files)
(c) re-committing the unchanged big file and folder vs their first commit.
(d) committing the big file again with 1 MiB changed in its middle: the bytes the store
    gains over the file's size (target <= 0.02: large files are stored as content-defined
    chunks, datasets/chunking.py), with the number of objects the store then holds.

Every product commit starts from a fresh DHUB home (empty SQLite catalog, empty store or
fresh bucket, cold hash cache); the local big-file sides start with no dirty page
left by the previous sample (``os.sync``, untimed). Baseline and product alternate
order run by run; the median of --runs runs (3; 1 with --quick) is reported, except
for the folder on S3: --s3-small-runs (default 2, one in each order; 1 with --quick),
because one run of it takes about 3 minutes on 2 cores (the client is CPU-bound: ~4 ms
of botocore CPU per request) and three would break the ~10 minute budget of `make bench`;
its source is 40 MB, so the page cache plays no part there. Without
DHUB_TEST_S3_ENDPOINT the S3 rows are skipped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    GIB,
    MIB,
    Row,
    S3Env,
    empty_and_delete_bucket,
    fsync_path,
    git_revision,
    install_sigterm,
    load_note,
    log,
    make_big_file,
    make_small_files,
    median,
    print_table,
    temp_dir,
    timed,
    unique_name,
    write_json,
)

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.datasets.hashcache import HashCache
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store import LocalBlobStore
from digitalhub_airflow.store import s3 as s3store
from digitalhub_airflow.store.s3 import S3BlobStore

INGEST_THREADS = S3BlobStore.ingest_threads

#: Issue 20: a local commit of the big file costs at most 1.2 copies of it (fsynced).
LOCAL_COMMIT_RATIO_TARGET = "<= 1.2"
COMMIT_RATIO_TARGET = "<= 1.3"
#: A commit of the big file with this much changed in its middle stores at most 2% again.
EDIT_BYTES = MIB
EDIT_RATIO_TARGET = "<= 0.02"
RECOMMIT_RATIO_TARGET = "<= 0.1"


def store_transfer_config() -> Any:
    """The TransferConfig ``S3BlobStore.ingest`` builds, from the same constants."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=s3store.MULTIPART_THRESHOLD,
        multipart_chunksize=s3store.MULTIPART_CHUNKSIZE,
        max_concurrency=s3store.MAX_CONCURRENCY,
        use_threads=True,
    )


# -- hubs on a fresh home -----------------------------------------------------------
def fresh_hub(home: Path, s3: S3Env | None = None, bucket: str | None = None) -> DataHub:
    """A DataHub as tests/conftest.py builds it: SQLite catalog, cold hash cache."""
    home.mkdir(parents=True)
    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    cache = HashCache(home / "cache" / "hashes.sqlite")
    if s3 is None:
        hub = DataHub(catalog, LocalBlobStore(home / "store"), cache)
    else:
        client = s3.client()
        client.head_bucket(Bucket=bucket)  # open a connection, as the baseline does
        hub = DataHub(catalog, s3store.S3BlobStore(f"s3://{bucket}/store", client), cache, client)
    hub.init()
    return hub


def commit_twice(hub: DataHub, name: str, source: Path, expect_blobs: int) -> tuple[float, float]:
    """(first commit s, re-commit s) of ``source`` into ``hub``; checks what happened."""
    t_first, first = timed(lambda: hub.commit(f"bench/{name}", source))
    if not first.created or first.blobs_written != expect_blobs:
        raise SystemExit(f"unexpected first commit of {name}: {first.to_json()}")
    t_again, again = timed(lambda: hub.commit(f"bench/{name}", source))
    if again.created or again.blobs_written != 0 or again.key != first.key:
        raise SystemExit(f"unexpected re-commit of {name}: {again.to_json()}")
    return t_first, t_again


def warm_up(work: Path, s3: S3Env | None) -> None:
    """Untimed: load every module a commit uses and, on S3, let radosgw create its pools
    (the first write to a fresh cluster creates the data/index pools: seconds)."""
    home = work / "home-warm"
    sample = work / "warm.txt"
    sample.write_text("warm-up\n")
    with fresh_hub(home) as hub:
        hub.commit("bench/warm", sample)
    shutil.rmtree(home)
    if s3 is None:
        return
    client = s3.client()
    bucket = unique_name("bench-warm-")
    client.create_bucket(Bucket=bucket)
    part = work / "warm-multipart.bin"
    make_big_file(part, s3store.MULTIPART_THRESHOLD + MIB, seed=9)
    try:
        client.upload_file(str(part), bucket, "multipart", Config=store_transfer_config())
        home = work / "home-warm-s3"
        with fresh_hub(home, s3, bucket) as hub:
            hub.commit("bench/warm", sample)
        shutil.rmtree(home)
    finally:
        empty_and_delete_bucket(client, bucket)
        part.unlink()


# -- one scenario: alternating baseline / product -----------------------------------
class Scenario:
    def __init__(self, name: str) -> None:
        self.name = name
        self.baseline: dict[str, list[float]] = {}
        self.first: list[float] = []
        self.again: list[float] = []
        #: Big file only: bytes stored by a commit of it with 1 MiB changed in the middle,
        #: and the objects (blobs: whole files or packs) the store holds after it.
        self.edit_bytes: list[float] = []
        self.objects: list[float] = []
        self.big_bytes = 0

    def add_baseline(self, label: str, seconds: float) -> None:
        self.baseline.setdefault(label, []).append(seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline_runs": self.baseline,
            "baseline_median": {k: median(v) for k, v in self.baseline.items()},
            "commit_runs": self.first,
            "commit_median": median(self.first),
            "recommit_runs": self.again,
            "recommit_median": median(self.again),
            "edit_stored_bytes_runs": self.edit_bytes,
            "objects_runs": self.objects,
        }


def make_edited(big: Path) -> Path:
    """A copy of ``big`` with 1 MiB in its middle replaced (same name, other folder)."""
    edited = big.parent / "edited" / big.name
    edited.parent.mkdir()
    shutil.copyfile(big, edited)
    with edited.open("r+b") as handle:
        handle.seek(big.stat().st_size // 2)
        handle.write(os.urandom(EDIT_BYTES))
    return edited


def commit_edit(hub: DataHub, sc: Scenario, edited: Path) -> None:
    """Commit the edited big file after the original: how many bytes are stored again."""
    before = sum(b.size for b in hub.store.iter_blobs())
    result = hub.commit("bench/big", edited)
    if not result.created:
        raise SystemExit(f"unexpected commit of the edited file: {result.to_json()}")
    blobs = list(hub.store.iter_blobs())
    sc.edit_bytes.append(sum(b.size for b in blobs) - before)
    sc.big_bytes = edited.stat().st_size
    sc.objects.append(len(blobs))


def run_alternating(scenario: Scenario, runs: int, baseline: Any, product: Any) -> None:
    for i in range(runs):
        order = (baseline, product) if i % 2 == 0 else (product, baseline)
        for step in order:
            step(i)
        log(
            f"{scenario.name} run {i + 1}/{runs}: "
            + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in scenario.baseline.items())
            + f", commit {scenario.first[-1]:.2f}s, re-commit {scenario.again[-1]:.3f}s"
        )


# -- local --------------------------------------------------------------------------
def bench_local_big(work: Path, big: Path, edited: Path, runs: int) -> Scenario:
    sc = Scenario("local-big")

    def baseline(i: int) -> None:
        dst = work / f"copy-{i}"
        os.sync()  # no dirty pages of the previous sample: its writeback would weigh here
        t, _ = timed(lambda: (shutil.copyfile(big, dst), fsync_path(dst)))
        sc.add_baseline("copyfile+fsync", t)
        dst.unlink()

    def product(i: int) -> None:
        home = work / f"home-local-big-{i}"
        with fresh_hub(home) as hub:
            os.sync()
            t1, t2 = commit_twice(hub, "big", big, 1)
            commit_edit(hub, sc, edited)
        sc.first.append(t1)
        sc.again.append(t2)
        shutil.rmtree(home)

    run_alternating(sc, runs, baseline, product)
    return sc


def _copy_fsync(src: str, dst: str) -> str:
    shutil.copyfile(src, dst)
    fsync_path(Path(dst))
    return dst


def bench_local_small(work: Path, folder: Path, count: int, runs: int) -> Scenario:
    sc = Scenario("local-small")

    def baseline(i: int) -> None:
        dst = work / f"tree-{i}"
        t, _ = timed(lambda: shutil.copytree(folder, dst, copy_function=shutil.copyfile))
        sc.add_baseline("copytree", t)
        shutil.rmtree(dst)
        t, _ = timed(lambda: shutil.copytree(folder, dst, copy_function=_copy_fsync))
        sc.add_baseline("copytree+fsync", t)
        shutil.rmtree(dst)

    def product(i: int) -> None:
        home = work / f"home-local-small-{i}"
        with fresh_hub(home) as hub:
            t1, t2 = commit_twice(hub, "small", folder, count)
        sc.first.append(t1)
        sc.again.append(t2)
        shutil.rmtree(home)

    run_alternating(sc, runs, baseline, product)
    return sc


# -- S3 -----------------------------------------------------------------------------
def bench_s3_big(work: Path, big: Path, edited: Path, runs: int, s3: S3Env) -> Scenario:
    sc = Scenario("s3-big")
    config = store_transfer_config()

    def baseline(i: int) -> None:
        client = s3.client()
        bucket = unique_name("bench-base-")
        client.create_bucket(Bucket=bucket)
        client.head_bucket(Bucket=bucket)
        try:
            t, _ = timed(lambda: client.upload_file(str(big), bucket, "big.bin", Config=config))
            sc.add_baseline("upload_file", t)
        finally:
            empty_and_delete_bucket(client, bucket)

    def product(i: int) -> None:
        admin = s3.client()
        bucket = unique_name("bench-dhub-")
        admin.create_bucket(Bucket=bucket)
        home = work / f"home-s3-big-{i}"
        try:
            with fresh_hub(home, s3, bucket) as hub:
                t1, t2 = commit_twice(hub, "big", big, 1)
                commit_edit(hub, sc, edited)
            sc.first.append(t1)
            sc.again.append(t2)
        finally:
            empty_and_delete_bucket(admin, bucket)
            shutil.rmtree(home, ignore_errors=True)

    run_alternating(sc, runs, baseline, product)
    return sc


def bench_s3_small(
    work: Path, folder: Path, count: int, runs: int, s3: S3Env, *, extra: bool
) -> Scenario:
    sc = Scenario("s3-small")
    config = store_transfer_config()
    files = sorted(p for p in folder.rglob("*") if p.is_file())

    def baseline(i: int) -> None:
        # put_object (no TransferManager per file) is informational: --extra, first run only
        labels = ["parallel upload_file"]
        if extra and i == 0:
            labels.append("parallel put_object")
        for label in labels:
            client = s3.client()
            bucket = unique_name("bench-base-")
            client.create_bucket(Bucket=bucket)
            client.head_bucket(Bucket=bucket)

            def upload(path: Path, client: Any = client, bucket: str = bucket) -> None:
                key = path.relative_to(folder).as_posix()
                client.upload_file(str(path), bucket, key, Config=config)

            def put(path: Path, client: Any = client, bucket: str = bucket) -> None:
                key = path.relative_to(folder).as_posix()
                with path.open("rb") as body:
                    client.put_object(Bucket=bucket, Key=key, Body=body)

            fn = upload if label == "parallel upload_file" else put

            def run_all(fn: Any = fn) -> None:
                with ThreadPoolExecutor(INGEST_THREADS) as pool:
                    list(pool.map(fn, files))

            try:
                t, _ = timed(run_all)
                sc.add_baseline(label, t)
            finally:
                empty_and_delete_bucket(client, bucket)

    def product(i: int) -> None:
        admin = s3.client()
        bucket = unique_name("bench-dhub-")
        admin.create_bucket(Bucket=bucket)
        home = work / f"home-s3-small-{i}"
        try:
            with fresh_hub(home, s3, bucket) as hub:
                t1, t2 = commit_twice(hub, "small", folder, count)
            sc.first.append(t1)
            sc.again.append(t2)
        finally:
            empty_and_delete_bucket(admin, bucket)
            shutil.rmtree(home, ignore_errors=True)

    run_alternating(sc, runs, baseline, product)
    return sc


# -- report -------------------------------------------------------------------------
def rows_for(
    scenarios: dict[str, Scenario], big_label: str, small_label: str, s3_skip: str
) -> list[Row]:
    rows: list[Row] = []

    def commit_row(key: str, measure: str, base: str, target: str) -> None:
        sc = scenarios.get(key)
        if sc is None:
            rows.append(Row(measure, None, None, target, skipped=s3_skip))
            return
        if base not in sc.baseline:
            rows.append(Row(measure, None, None, target, skipped="run with --extra"))
            return
        runs = len(sc.baseline[base])
        rows.append(
            Row(
                measure,
                median(sc.baseline[base]),
                median(sc.first),
                target,
                sc.baseline[base],
                sc.first,
                note="" if runs == len(sc.first) else f"baseline: {runs} run(s)",
            )
        )

    def recommit_row(key: str, measure: str) -> None:
        sc = scenarios.get(key)
        if sc is None:
            rows.append(Row(measure, None, None, RECOMMIT_RATIO_TARGET, skipped=s3_skip))
            return
        rows.append(
            Row(
                measure,
                median(sc.first),
                median(sc.again),
                RECOMMIT_RATIO_TARGET,
                sc.first,
                sc.again,
                note="baseline = first commit",
            )
        )

    commit_row(
        "local-big",
        f"(a) commit {big_label} local / copyfile+fsync",
        "copyfile+fsync",
        LOCAL_COMMIT_RATIO_TARGET,
    )
    commit_row(
        "s3-big", f"(a) commit {big_label} S3 / upload_file", "upload_file", COMMIT_RATIO_TARGET
    )
    commit_row("local-small", f"(b) commit {small_label} local / copytree", "copytree", "-")
    commit_row(
        "local-small", f"(b) commit {small_label} local / copytree+fsync", "copytree+fsync", "-"
    )
    commit_row(
        "s3-small",
        f"(b) commit {small_label} S3 / parallel upload_file",
        "parallel upload_file",
        "-",
    )
    commit_row(
        "s3-small", f"(b) commit {small_label} S3 / parallel put_object", "parallel put_object", "-"
    )
    for key, where in (("local-big", "local"), ("s3-big", "S3")):
        sc = scenarios.get(key)
        measure = f"(d) {big_label} with 1 MiB edited, {where}: bytes stored again / size"
        if sc is None or not sc.edit_bytes:
            rows.append(Row(measure, None, None, EDIT_RATIO_TARGET, skipped=s3_skip))
            continue
        rows.append(
            Row(
                measure,
                float(sc.big_bytes),
                median(sc.edit_bytes),
                EDIT_RATIO_TARGET,
                note=f"{median(sc.objects):.0f} objects in the store after both commits",
            )
        )
    recommit_row("local-big", f"(c) re-commit {big_label} local / first commit")
    recommit_row("local-small", f"(c) re-commit {small_label} local / first commit")
    recommit_row("s3-big", f"(c) re-commit {big_label} S3 / first commit")
    recommit_row("s3-small", f"(c) re-commit {small_label} S3 / first commit")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one run each")
    parser.add_argument("--runs", type=int, help="runs per side (default 3; 1 with --quick)")
    parser.add_argument(
        "--big-mib", type=int, help="big file size in MiB (default 1024; 256 quick)"
    )
    parser.add_argument("--small-count", type=int, help="number of 4 KiB files (10000; 2000 quick)")
    parser.add_argument("--only", choices=["local", "s3"], help="run only one backend")
    parser.add_argument(
        "--s3-small-runs",
        type=int,
        help="runs per side for the folder on S3 (2; 1 quick): ~3 minutes a run at 10,000 files",
    )
    parser.add_argument(
        "--extra",
        action="store_true",
        help="also time parallel put_object on S3 (first run; always on with --quick)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    install_sigterm()
    load_before = load_note()
    revision = git_revision()  # the code this process imports and measures

    runs = args.runs or (1 if args.quick else 3)
    big_size = (args.big_mib or (256 if args.quick else 1024)) * MIB
    count = args.small_count or (2000 if args.quick else 10_000)
    extra = args.extra or args.quick
    s3_small_runs = args.s3_small_runs or (1 if args.quick else 2)
    s3 = S3Env.from_environ() if args.only != "local" else None
    s3_skip = (
        "" if s3 else ("--only local" if args.only == "local" else "DHUB_TEST_S3_ENDPOINT not set")
    )
    big_label = f"{big_size / GIB:g} GiB" if big_size >= GIB else f"{big_size // MIB} MiB"
    small_label = f"{count} x 4 KiB"

    scenarios: dict[str, Scenario] = {}
    with temp_dir("dhub-bench-commit-") as work:
        log(f"generating {big_label} and {small_label} of random data under {work}")
        big = make_big_file(work / "big.bin", big_size)
        edited = make_edited(big)
        folder = work / "small"
        make_small_files(folder, count)
        warm_up(work, s3)
        if args.only != "s3":
            scenarios["local-big"] = bench_local_big(work, big, edited, runs)
            scenarios["local-small"] = bench_local_small(work, folder, count, runs)
        if s3 is not None:
            scenarios["s3-big"] = bench_s3_big(work, big, edited, runs, s3)
            scenarios["s3-small"] = bench_s3_small(
                work, folder, count, s3_small_runs, s3, extra=extra
            )

    rows = rows_for(scenarios, big_label, small_label, s3_skip)
    header = (
        f"runs per side: {runs} (median; folder on S3: {s3_small_runs}); "
        "ratio = ours / baseline; "
        f"S3: {'radosgw at ' + s3.endpoint if s3 else 'skipped'}; "
        f"TransferConfig threshold {s3store.MULTIPART_THRESHOLD // MIB} MiB, chunk "
        f"{s3store.MULTIPART_CHUNKSIZE // MIB} MiB, concurrency {s3store.MAX_CONCURRENCY}; "
        f"ingest threads {INGEST_THREADS}"
        f"\n{load_before} at start, {load_note()} at end; product {revision}"
    )
    print_table(f"bench_commit{' (quick)' if args.quick else ''}", rows, header)
    path = write_json(
        "bench_commit",
        {
            "quick": args.quick,
            "runs": runs,
            "s3_small_runs": s3_small_runs,
            "big_bytes": big_size,
            "small_count": count,
            "small_bytes": 4096,
            "ingest_threads": INGEST_THREADS,
            "transfer_config": {
                "multipart_threshold": s3store.MULTIPART_THRESHOLD,
                "multipart_chunksize": s3store.MULTIPART_CHUNKSIZE,
                "max_concurrency": s3store.MAX_CONCURRENCY,
            },
            "s3_endpoint": s3.endpoint if s3 else None,
            "scenarios": {k: v.to_json() for k, v in scenarios.items()},
            "rows": [r.to_json() for r in rows],
            "load_at_start": load_before,
            "product_revision_measured": revision,
        },
    )
    print(f"summary: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    failed = [r.measure for r in rows if r.status == "FAIL"]
    return 1 if (args.strict and failed) else 0


if __name__ == "__main__":
    os.environ.setdefault("DHUB_USER", "bench")
    sys.exit(main())
