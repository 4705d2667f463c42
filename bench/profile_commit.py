"""Where a commit's time goes: wall time per phase and thread time per step.

Not a benchmark (no baseline): a diagnostic for the cases bench_commit.py measures. It
wraps the product's functions with timers in this process only (nothing is changed on
disk), runs one first commit and one re-commit on a fresh DHUB home, and prints

  phases   wall seconds of each step of ``commit_files`` (main thread)
  steps    seconds summed over the ingest threads (so they can exceed the wall time),
           with call counts and the process's CPU time (user + system)

    python bench/profile_commit.py local-small --count 10000
    python bench/profile_commit.py local-big --mib 1024
    python bench/profile_commit.py s3-small      # needs DHUB_TEST_S3_* (scripts/bench.sh)

For a sampled profile of the same run, use py-spy:
    py-spy record --threads --idle -o prof.svg -- python bench/profile_commit.py local-small
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_commit import fresh_hub, warm_up
from benchlib import (
    MIB,
    S3Env,
    empty_and_delete_bucket,
    make_big_file,
    make_small_files,
    temp_dir,
    timed,
    unique_name,
)

import digitalhub_airflow.datasets.chunking as chunking_mod
import digitalhub_airflow.datasets.commit as commit_mod
import digitalhub_airflow.datasets.sources as sources_mod
import digitalhub_airflow.store.local as local_mod
import digitalhub_airflow.store.s3 as s3_mod
from digitalhub_airflow.datasets.hashcache import HashCache

_lock = threading.Lock()
TOTALS: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])


def _wrap(fn: Any, label: str) -> Any:
    @functools.wraps(fn)
    def timed_call(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            dt = time.perf_counter() - t0
            with _lock:
                TOTALS[label][0] += dt
                TOTALS[label][1] += 1

    return timed_call


def patch(owner: Any, name: str, label: str) -> None:
    """Wrap ``owner.name`` if it exists (the product changes; a missing step is skipped)."""
    if hasattr(owner, name):
        setattr(owner, name, _wrap(getattr(owner, name), label))


def instrument() -> None:
    # phases of commit_files (main thread)
    patch(sources_mod, "collect_local", "phase: collect_local (walk the source)")
    patch(commit_mod, "describe_source", "phase: describe_source")
    patch(commit_mod, "_existing_unchanged", "phase: _existing_unchanged (hash-cache check)")
    patch(commit_mod, "ingest_all", "phase: ingest_all (parallel blob upload)")
    patch(commit_mod, "_record", "phase: _record (catalog transaction)")
    patch(commit_mod, "to_info", "phase: to_info")
    # steps inside the ingest threads
    patch(local_mod.LocalBlobStore, "ingest", "thread: LocalBlobStore.ingest (total)")
    patch(s3_mod.S3BlobStore, "ingest", "thread: S3BlobStore.ingest (total)")
    patch(s3_mod.S3BlobStore, "has", "thread:   S3BlobStore.has (HEAD)")
    patch(local_mod, "hash_file", "thread:   hash_file (local: of the copy)")
    patch(local_mod, "hash_bytes", "thread:   hash_bytes (local: small files)")
    patch(s3_mod.S3BlobStore, "_put_if_absent", "thread:   S3BlobStore._put_if_absent (PUT)")
    patch(local_mod.LocalBlobStore, "sync", "phase: LocalBlobStore.sync (durability)")
    patch(s3_mod.S3BlobStore, "sync", "phase: S3BlobStore.sync")
    patch(s3_mod, "hash_file", "thread:   hash_file (s3: of the source)")
    patch(shutil, "copyfile", "thread:   shutil.copyfile")
    patch(os, "fsync", "thread:   os.fsync")
    patch(local_mod.tempfile, "mkstemp", "thread:   tempfile.mkstemp")
    # large files stored as chunks (datasets/chunking.py)
    patch(chunking_mod.Chunker, "ingest", "thread: Chunker.ingest (total, chunked file)")
    patch(chunking_mod.Chunker, "_write_chunks", "thread:   Chunker._write_chunks (cut+pack)")
    patch(chunking_mod.Chunker, "_write_pack", "pack:     Chunker._write_pack (hash+write)")
    patch(local_mod.LocalBlobStore, "put_bytes", "pack:       LocalBlobStore.put_bytes")
    patch(s3_mod.S3BlobStore, "put_bytes", "pack:       S3BlobStore.put_bytes (PUT)")
    patch(local_mod.LocalBlobStore, "put_chunk_manifest", "thread:   put_chunk_manifest")
    patch(s3_mod.S3BlobStore, "put_chunk_manifest", "thread:   put_chunk_manifest (PUT)")
    patch(commit_mod, "chunker_for", "phase: chunker_for (parent's chunks)")
    patch(HashCache, "lookup", "cache: HashCache.lookup")
    patch(HashCache, "remember", "cache: HashCache.remember")
    patch(HashCache, "flush", "cache: HashCache.flush")


def report(title: str, wall: float, cpu: float) -> None:
    print(f"\n-- {title}: {wall:.3f}s wall, {cpu:.3f}s CPU (user+sys, all threads)")
    for label, (seconds, calls) in sorted(TOTALS.items(), key=lambda kv: -kv[1][0]):
        per = seconds / calls * 1e3 if calls else 0.0
        print(f"   {label:<52}{seconds:9.3f}s {calls:7d} calls {per:9.3f} ms/call")
    TOTALS.clear()


def cpu_now() -> float:
    t = os.times()
    return t.user + t.system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=["local-big", "local-small", "s3-big", "s3-small"])
    parser.add_argument("--mib", type=int, default=1024, help="big file size (1024)")
    parser.add_argument("--count", type=int, default=10_000, help="small files (10000)")
    parser.add_argument("--threads", type=int, help="override the store's ingest_threads")
    args = parser.parse_args()
    s3 = S3Env.from_environ() if args.case.startswith("s3") else None
    if args.case.startswith("s3") and s3 is None:
        raise SystemExit("set DHUB_TEST_S3_ENDPOINT/ACCESS_KEY/SECRET_KEY (scripts/bench.sh does)")
    with temp_dir("dhub-profile-") as work:
        if args.case.endswith("big"):
            source = make_big_file(work / "big.bin", args.mib * MIB)
        else:
            source = work / "small"
            make_small_files(source, args.count)
        warm_up(work, s3)
        instrument()
        bucket = None
        if s3 is not None:
            bucket = unique_name("bench-prof-")
            s3.client().create_bucket(Bucket=bucket)
        try:
            with fresh_hub(work / "home", s3, bucket) as hub:
                for title in ("first commit", "re-commit"):
                    c0 = cpu_now()
                    wall, result = timed(lambda: hub.commit("bench/profile", source))
                    report(
                        f"{title} of {args.case} ({result.blobs_written} blobs written, "
                        f"threads {hub.store.ingest_threads})",
                        wall,
                        cpu_now() - c0,
                    )
        finally:
            if s3 is not None and bucket is not None:
                empty_and_delete_bucket(s3.client(), bucket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
