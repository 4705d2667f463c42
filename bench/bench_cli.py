"""CLI start-up: `dhub --help`, `dhub log`, `dhub show` and `dhub drift` of the wine table
(178 rows) in a fresh interpreter, against a bare `python -c pass` measured in the same run
(the floor every command pays).

`dhub` imports only the chosen command's module (cli/main.py), so `--help` loads no
SQLAlchemy and catalog commands no data library nor Alembic (the schema's head is read
from the migration files); this measures what that leaves. Drift runs in a fresh copy of
a home holding the demo's two versions (scripts/demo.d/10-ingest.sh), so each run
profiles both; with the profiles stored it is informational.

Bytecode is cached (in the run's temporary folder, after a warm-up run of each command),
as an installed package has it: a checkout run with PYTHONDONTWRITEBYTECODE would also
time compiling the suite's own sources on every command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import Row, finish, git_revision, install_sigterm, load_note, log, median, temp_dir

#: Absolute targets, seconds (median): `dhub log` on the embedded catalog, and the whole
#: `dhub drift` of two 178-row versions, profiling both.
LOG_TARGET_S = 0.4
DRIFT_TARGET_S = 1.0


def wall(cmd: list[str], env: dict[str, str], before: Callable[[], None] | None = None) -> float:
    """Seconds ``cmd`` takes; ``before`` (untimed) prepares the run."""
    if before is not None:
        before()
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def wine_versions(work: Path) -> tuple[Path, Path]:
    """The demo's two versions of the wine table as Parquet: scikit-learn's data, then
    the same with an alcohol band added (dags/dhub_ingest_wine.py)."""
    import pandas as pd
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    bands = pd.cut(frame["alcohol"], bins=[0, 12.0, 13.5, 100], labels=["low", "mid", "high"])
    first, second = work / "wine-v1.parquet", work / "wine-v2.parquet"
    frame.to_parquet(first)
    frame.assign(alcohol_band=bands.astype(str)).to_parquet(second)
    return first, second


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 runs per side")
    parser.add_argument("--runs", type=int, help="runs per side (default 15; 5 with --quick)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    install_sigterm()
    load_before = load_note()
    runs = args.runs or (5 if args.quick else 15)
    python = sys.executable
    with temp_dir("dhub-bench-cli-") as work:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DHUB_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        env["DHUB_HOME"] = str(work / "home")
        source = work / "rows.csv"
        source.write_text("a,b\n1,2\n")
        dhub = [python, "-m", "digitalhub_airflow.cli"]
        pristine, drifted = work / "pristine", work / "drifted"
        sources = [("demo/rows", source)] + [("demo/wine", p) for p in wine_versions(work)]
        for target, path in sources:
            subprocess.run([*dhub, "commit", target, str(path)], env=env, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        shutil.copytree(work / "home", pristine)  # the two versions, neither profiled

        def fresh_home() -> None:
            shutil.rmtree(drifted, ignore_errors=True)
            shutil.copytree(pristine, drifted)

        drift = [*dhub, "drift", "demo/wine:v1", "demo/wine:v2"]
        cases = {
            "bare": ([python, "-c", "pass"], env, None),
            "help": ([*dhub, "--help"], env, None),
            "log": ([*dhub, "log", "demo/rows"], env, None),
            "show": ([*dhub, "show", "demo/rows"], env, None),
            "drift": (drift, {**env, "DHUB_HOME": str(drifted)}, fresh_home),
            "drift_stored": (drift, env, None),
        }
        for cmd, case_env, before in cases.values():  # warm-up: bytecode, stored profiles
            wall(cmd, case_env, before)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for run in range(runs):
            order = list(cases) if run % 2 == 0 else list(reversed(cases))
            for name in order:
                samples[name].append(wall(*cases[name]))
        log(" ".join(f"{n} {median(s) * 1000:.0f} ms" for n, s in samples.items()))
    bare = median(samples["bare"])
    rows = [
        Row("dhub --help / python -c pass", bare, median(samples["help"]), "<= 3",
            samples["bare"], samples["help"], note="fresh interpreter each run"),
        Row("dhub log (embedded catalog) / python -c pass", bare, median(samples["log"]),
            f"<= {LOG_TARGET_S}", samples["bare"], samples["log"],
            note=f"target on the seconds: median <= {LOG_TARGET_S} s",
            checked=median(samples["log"])),
        Row("dhub show (embedded catalog) / python -c pass", bare,
            median(samples["show"]), "-", samples["bare"], samples["show"]),
        Row("dhub drift, 178 rows, profiling both / python -c pass", bare,
            median(samples["drift"]), f"<= {DRIFT_TARGET_S}", samples["bare"], samples["drift"],
            note=f"target on the seconds: median <= {DRIFT_TARGET_S} s",
            checked=median(samples["drift"])),
        Row("dhub drift, 178 rows, profiles stored / python -c pass", bare,
            median(samples["drift_stored"]), "-", samples["bare"], samples["drift_stored"]),
    ]  # fmt: skip
    from benchlib import print_table

    print_table("bench_cli", rows, f"runs per side: {runs} (median)\n{load_before}; "
                f"product {git_revision()}")  # fmt: skip
    return finish("bench_cli", {"runs": runs}, rows, args.strict)


if __name__ == "__main__":
    sys.exit(main())
