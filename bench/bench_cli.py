"""CLI start-up: `dhub --help`, `dhub log` and `dhub show` in a fresh interpreter, against
a bare `python -c pass` measured in the same run (the floor every command pays).

`dhub` imports only the chosen command's module (cli/main.py), so `--help` loads no
SQLAlchemy and catalog commands no data library nor Alembic (the schema's head is read
from the migration files); this measures what that leaves.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from benchlib import Row, finish, git_revision, install_sigterm, load_note, log, median, temp_dir


def wall(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


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
        env["DHUB_HOME"] = str(work)
        source = work / "rows.csv"
        source.write_text("a,b\n1,2\n")
        dhub = [python, "-m", "digitalhub_airflow.cli"]
        subprocess.run([*dhub, "commit", "demo/rows", str(source)], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        cases = {
            "bare": [python, "-c", "pass"],
            "help": [*dhub, "--help"],
            "log": [*dhub, "log", "demo/rows"],
            "show": [*dhub, "show", "demo/rows"],
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for run in range(runs):
            order = list(cases) if run % 2 == 0 else list(reversed(cases))
            for name in order:
                samples[name].append(wall(cases[name], env))
        log(" ".join(f"{n} {median(s) * 1000:.0f} ms" for n, s in samples.items()))
    bare = median(samples["bare"])
    rows = [
        Row("dhub --help / python -c pass", bare, median(samples["help"]), "<= 3",
            samples["bare"], samples["help"], note="fresh interpreter each run"),
        Row("dhub log (catalog, no data libraries) / python -c pass", bare,
            median(samples["log"]), "-", samples["bare"], samples["log"]),
        Row("dhub show (catalog, no data libraries) / python -c pass", bare,
            median(samples["show"]), "-", samples["bare"], samples["show"]),
    ]  # fmt: skip
    from benchlib import print_table

    print_table("bench_cli", rows, f"runs per side: {runs} (median)\n{load_before}; "
                f"product {git_revision()}")  # fmt: skip
    return finish("bench_cli", {"runs": runs}, rows, args.strict)


if __name__ == "__main__":
    sys.exit(main())
