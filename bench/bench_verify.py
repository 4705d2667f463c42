"""``dhub verify`` hash rate on a local store vs single-threaded BLAKE3 over the same bytes.

A ~2 GiB local store (16 blobs of 128 MiB random bytes; 4 with --quick) is written once.
Measured, alternating order run by run, median of --runs (3; 1 with --quick):

  baseline  ``blake3.blake3(max_threads=1).update_mmap(blob)`` for every blob, one after
            the other: the single-core rate of BLAKE3 on this machine.
  CLI       ``dhub verify --json`` in a subprocess (the whole store), wall time including
            interpreter start-up; its start-up alone (same command, empty store) is
            reported too.
  in-proc   ``DataHub.verify()`` in this process: the hashing the command does.

Rates are GB/s (1e9 bytes/s). Per core is reported two ways: total rate / threads that
can hash at once, min(verify.VERIFY_THREADS, blobs, cores); and total rate / cores the
run really kept busy (its CPU seconds / wall seconds), which stays meaningful when other
processes hold a core. Target: >= 1 GB/s per core.
The store is in the page cache for both sides (it was just written; 24 GiB RAM).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import blake3
from benchlib import (
    GB,
    GIB,
    MIB,
    Row,
    _random_chunks,
    finish,
    git_revision,
    install_sigterm,
    load_note,
    log,
    median,
    print_table,
    temp_dir,
)

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.datasets import verify as verify_mod
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store import LocalBlobStore
from digitalhub_airflow.store.base import blob_key

PER_CORE_TARGET_GBPS = 1.0


def build_store(root: Path, blobs: int, blob_size: int) -> list[Path]:
    """Write ``blobs`` random blobs straight into the store layout, named by digest."""
    tmp = root / "tmp"
    tmp.mkdir(parents=True)
    paths = []
    for i in range(blobs):
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        part = tmp / f"blob-{i}"
        with part.open("wb") as out:
            for chunk in _random_chunks(blob_size, seed=100 + i):
                hasher.update(chunk)
                out.write(chunk)
        final = root / blob_key(hasher.hexdigest())
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, final)
        paths.append(final)
    return paths


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def dhub_command() -> list[str]:
    exe = Path(sys.executable).with_name("dhub")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "digitalhub_airflow.cli"]


def run_cli(home: Path, store: Path) -> tuple[float, float, dict[str, Any]]:
    """(wall s, CPU s, report) of ``dhub verify --json`` over the whole store."""
    env = {
        **os.environ,
        "DHUB_HOME": str(home),
        "DHUB_STORE_URL": str(store),
        "DHUB_CATALOG_URL": f"sqlite:///{home / 'catalog.sqlite'}",
    }
    c0, t0 = cpu_children(), time.perf_counter()
    proc = subprocess.run(
        [*dhub_command(), "verify", "--json"], env=env, capture_output=True, text=True, check=False
    )
    wall, cpu = time.perf_counter() - t0, cpu_children() - c0
    if proc.returncode != 0:
        raise SystemExit(f"dhub verify failed ({proc.returncode}): {proc.stderr.strip()}")
    return wall, cpu, json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512 MiB store, one run each")
    parser.add_argument("--runs", type=int, help="runs per side (default 3; 1 with --quick)")
    parser.add_argument("--blobs", type=int, help="number of blobs (16; 4 with --quick)")
    parser.add_argument("--blob-mib", type=int, default=128, help="blob size in MiB (128)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    install_sigterm()
    load_before = load_note()
    revision = git_revision()  # the code this process imports and measures

    runs = args.runs or (1 if args.quick else 3)
    nblobs = args.blobs or (4 if args.quick else 16)
    blob_size = args.blob_mib * MIB
    total = nblobs * blob_size
    cores = os.cpu_count() or 1
    threads = min(verify_mod.VERIFY_THREADS, nblobs, cores)

    samples: dict[str, list[float]] = {"baseline": [], "cli": [], "inproc": [], "cli_startup": []}
    cpu: dict[str, list[float]] = {"baseline": [], "cli": [], "inproc": []}
    with temp_dir("dhub-bench-verify-") as work:
        store_root = work / "store"
        log(f"writing a {total / GIB:g} GiB store ({nblobs} x {args.blob_mib} MiB) under {work}")
        paths = build_store(store_root, nblobs, blob_size)
        home = work / "home"
        empty_store = work / "empty-store"
        empty_store.mkdir()
        hub = DataHub(Catalog(f"sqlite:///{home / 'catalog.sqlite'}"), LocalBlobStore(store_root))

        def baseline() -> None:
            c0, t0 = cpu_self(), time.perf_counter()
            for path in paths:
                hasher = blake3.blake3(max_threads=1)
                hasher.update_mmap(path)
                if hasher.hexdigest() != path.name:
                    raise SystemExit(f"baseline: {path} does not hash to its name")
            samples["baseline"].append(time.perf_counter() - t0)
            cpu["baseline"].append(cpu_self() - c0)

        def ours() -> None:
            wall, used, report = run_cli(home, store_root)
            if not report["ok"] or report["checked"] != nblobs or report["bytes_checked"] != total:
                raise SystemExit(f"dhub verify: unexpected report {report}")
            samples["cli"].append(wall)
            cpu["cli"].append(used)
            c0, t0 = cpu_self(), time.perf_counter()
            report = hub.verify()
            samples["inproc"].append(time.perf_counter() - t0)
            cpu["inproc"].append(cpu_self() - c0)
            if not report.ok or report.bytes_checked != total:
                raise SystemExit(f"hub.verify: unexpected report {report.to_json()}")
            startup, _, report = run_cli(home, empty_store)
            samples["cli_startup"].append(startup)

        # one untimed pass so that both sides start from a page cache holding the store
        for path in paths:
            blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(path)
        for i in range(runs):
            for step in (baseline, ours) if i % 2 == 0 else (ours, baseline):
                step()
            log(
                f"run {i + 1}/{runs}: baseline {samples['baseline'][-1]:.2f}s, "
                f"dhub verify {samples['cli'][-1]:.2f}s "
                f"(start-up {samples['cli_startup'][-1]:.2f}s), "
                f"hub.verify {samples['inproc'][-1]:.2f}s"
            )
        hub.close()

    base_s = median(samples["baseline"])
    base_rate = total / base_s / GB
    base_busy = median(cpu["baseline"]) / base_s
    rows = []
    details: dict[str, Any] = {}
    measures = (
        ("cli", "dhub verify (CLI, with start-up)"),
        ("inproc", "DataHub.verify() in-process"),
    )
    for key, measure in measures:
        s = median(samples[key])
        rate = total / s / GB
        busy = median(cpu[key]) / s
        per_thread = rate / threads
        per_cpu_s = rate / busy
        details[key] = {
            "seconds": s,
            "gbps_total": rate,
            "gbps_per_core_by_threads": per_thread,
            "gbps_per_core_by_cpu_time": per_cpu_s,
            "cores_busy": busy,
        }
        target = f">= {PER_CORE_TARGET_GBPS:g} GB/s/core"
        rows.append(
            Row(
                f"{measure}, per core = total / {threads} threads",
                base_s,
                s,
                target,
                samples["baseline"],
                samples[key],
                checked=per_thread,
                note=f"{rate:.2f} GB/s total, {per_thread:.2f} GB/s/core",
            )
        )
        rows.append(
            Row(
                f"{measure}, per core = total / cores busy",
                base_s,
                s,
                target,
                samples["baseline"],
                samples[key],
                checked=per_cpu_s,
                note=f"{busy:.2f} cores busy (CPU s / wall s), {per_cpu_s:.2f} GB/s/core",
            )
        )
    rows.append(
        Row(
            "dhub verify start-up (empty store)",
            None,
            median(samples["cli_startup"]),
            note="interpreter + imports + catalog; included in the CLI row",
        )
    )
    header = (
        f"store {total / GIB:g} GiB = {nblobs} blobs x {args.blob_mib} MiB; runs per side: {runs} "
        f"(median); cores {cores}; VERIFY_THREADS {verify_mod.VERIFY_THREADS}; threads used "
        f"{threads}\nbaseline: blake3(max_threads=1) over mmap, {base_rate:.2f} GB/s on one core "
        f"({base_busy:.2f} cores busy); "
        f"ratio = ours s / baseline s (ideal on {threads} cores: {1 / threads:.2f})"
        f"\n{load_before} at start, {load_note()} at end; product {revision}"
    )
    print_table(f"bench_verify{' (quick)' if args.quick else ''}", rows, header)
    return finish(
        "bench_verify",
        {
            "quick": args.quick,
            "runs": runs,
            "store_bytes": total,
            "blobs": nblobs,
            "blob_bytes": blob_size,
            "cores": cores,
            "verify_threads": verify_mod.VERIFY_THREADS,
            "threads_used": threads,
            "baseline_gbps_single_core": base_rate,
            "samples_s": samples,
            "cpu_s": cpu,
            "results": details,
            "target_gbps_per_core": PER_CORE_TARGET_GBPS,
            "load_at_start": load_before,
            "product_revision_measured": revision,
        },
        rows,
        args.strict,
    )


if __name__ == "__main__":
    sys.exit(main())
