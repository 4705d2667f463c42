"""``get`` (verified) against ``cp`` of the same bytes, measured in one run, local store.

One 1 GiB file of random bytes (256 MiB with --quick) is committed twice, to a store
keeping it whole (as before chunking) and to one keeping it as chunks in packs (the
default for files of 64 MiB or more). Measured, alternating order run by run, median of
--runs (3; 1 with --quick), everything in the page cache (written just before), and
no dirty page left by the previous sample (``os.sync`` before each, untimed: else the
kernel's writeback of one side's 1 GiB throttles whichever side runs next):

  baseline  ``shutil.copyfile`` of the stored blob to a new file (``cp``: the kernel's
            copy_file_range, no hashing)
  whole     ``DataHub.get`` of the version stored whole: copy and BLAKE3 verification
  chunked   ``DataHub.get`` of the version stored chunked: reassembly from packs and
            verification of the whole file's digest
  CLI       ``dhub get`` of the chunked version in a subprocess (with start-up), for
            information

Target: get <= 1.2x cp (the copy and the hash overlap, in two threads).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    GIB,
    MIB,
    Row,
    finish,
    git_revision,
    install_sigterm,
    load_note,
    log,
    make_big_file,
    median,
    print_table,
    temp_dir,
    timed,
)

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store import LocalBlobStore

GET_RATIO_TARGET = "<= 1.2"


def make_hub(home: Path, chunked: bool) -> DataHub:
    os.environ["DHUB_CHUNKED_MIN_BYTES"] = str(64 * MIB if chunked else 1 << 50)
    hub = DataHub(Catalog(f"sqlite:///{home / 'catalog.sqlite'}"), LocalBlobStore(home / "store"))
    hub.init()
    return hub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB, one run each")
    parser.add_argument("--runs", type=int, help="runs per side (default 3; 1 with --quick)")
    parser.add_argument("--mib", type=int, help="file size in MiB (1024; 256 with --quick)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    install_sigterm()
    load_before = load_note()
    revision = git_revision()
    runs = args.runs or (1 if args.quick else 3)
    size = (args.mib or (256 if args.quick else 1024)) * MIB

    samples: dict[str, list[float]] = {"cp": [], "whole": [], "chunked": [], "cli": []}
    with temp_dir("dhub-bench-get-") as work:
        source = make_big_file(work / "big.bin", size)
        keys: dict[str, str] = {}
        hubs: dict[str, DataHub] = {}
        for name in ("whole", "chunked"):
            home = work / f"home-{name}"
            home.mkdir()
            hubs[name] = make_hub(home, name == "chunked")
            keys[name] = hubs[name].commit(f"bench/{name}", source).key
        blob = hubs["whole"].store.location(hubs["whole"].files(keys["whole"])[0]["digest"])
        stored = Path(blob.removeprefix("file://"))
        chunked_home = work / "home-chunked"
        env = {
            **os.environ,
            "DHUB_HOME": str(chunked_home),
            "DHUB_STORE_URL": str(chunked_home / "store"),
            "DHUB_CATALOG_URL": f"sqlite:///{chunked_home / 'catalog.sqlite'}",
        }
        dhub = Path(sys.executable).with_name("dhub")

        def out(tag: str) -> Path:
            path = work / f"out-{tag}"
            shutil.rmtree(path, ignore_errors=True)
            return path

        def baseline() -> None:
            dest = out("cp")
            dest.mkdir()
            os.sync()
            t, _ = timed(lambda: shutil.copyfile(stored, dest / "big.bin"))
            samples["cp"].append(t)

        def ours() -> None:
            for name in ("whole", "chunked"):
                dest = out(name)
                os.sync()
                t, got = timed(lambda n=name, d=dest: hubs[n].get(keys[n], d))
                if got[0].stat().st_size != size:
                    raise SystemExit(f"get {name}: wrong size")
                samples[name].append(t)
            dest = out("cli")
            os.sync()
            t0 = time.perf_counter()
            proc = subprocess.run(
                [str(dhub), "get", keys["chunked"], str(dest)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            samples["cli"].append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(f"dhub get failed: {proc.stderr.strip()}")

        baseline()  # untimed pass: every side starts from a page cache holding the bytes
        ours()
        for values in samples.values():
            values.clear()
        for i in range(runs):
            for step in (baseline, ours) if i % 2 == 0 else (ours, baseline):
                step()
            log(
                f"run {i + 1}/{runs}: cp {samples['cp'][-1]:.2f}s, get whole "
                f"{samples['whole'][-1]:.2f}s, chunked {samples['chunked'][-1]:.2f}s, "
                f"dhub get {samples['cli'][-1]:.2f}s"
            )
        for hub in hubs.values():
            hub.close()

    base = median(samples["cp"])
    label = f"{size / GIB:g} GiB" if size >= GIB else f"{size // MIB} MiB"
    rows = [
        Row(f"get {label} stored whole / cp", base, median(samples["whole"]), GET_RATIO_TARGET),
        Row(f"get {label} chunked / cp", base, median(samples["chunked"]), GET_RATIO_TARGET),
        Row(f"dhub get {label} chunked (CLI, with start-up) / cp", base, median(samples["cli"])),
    ]
    for row, key in zip(rows, ("whole", "chunked", "cli"), strict=True):
        row.baseline_runs, row.ours_runs = samples["cp"], samples[key]
    header = (
        f"runs per side: {runs} (median); ratio = ours / cp; page cache warm\n"
        f"{load_before} at start, {load_note()} at end; product {revision}"
    )
    print_table(f"bench_get{' (quick)' if args.quick else ''}", rows, header)
    payload: dict[str, Any] = {"quick": args.quick, "runs": runs, "bytes": size}
    payload.update({"load_at_start": load_before, "product_revision_measured": revision})
    return finish("bench_get", payload, rows, args.strict)


if __name__ == "__main__":
    raise SystemExit(main())
