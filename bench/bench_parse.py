"""DAG parsing: each reference DAG of dags/ against a one-task DAG, parsed in the same
fresh process with the parser and timer of `airflow dags report` (its BundleDagBag and the
per-file duration it prints).

The first reference file a process parses pays the suite's imports (operators/__init__
and what the operator needs); every later one pays only its own module's. Each run is a
fresh interpreter that parses the one-task DAG (twice: the first pays Airflow's own
DAG-authoring imports), then every reference DAG, the one that goes first turning round
run by run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchlib import (  # fmt: skip
    REPO,
    Row,
    finish,
    git_revision,
    install_sigterm,
    load_note,
    log,
    median,
    print_table,
    temp_dir,
)

ONE_TASK = """
from airflow.sdk import dag, task


@dag(schedule=None, catchup=False)
def one_task():
    @task
    def noop():
        pass

    noop()


one_task()
"""

#: Runs in the fresh interpreter: parse the files in the order given, print their seconds
#: (a file given twice: its last parse).
CHILD = """
import json, sys
from airflow.dag_processing.dagbag import BundleDagBag

folder, files = sys.argv[1], sys.argv[2:]
seconds = {}
for name in files:
    bag = BundleDagBag(f"{folder}/{name}", bundle_path=folder, bundle_name="dags-folder")
    assert not bag.import_errors, bag.import_errors
    seconds[name] = bag.dagbag_stats[0].duration.total_seconds()
print(json.dumps(seconds))
"""


def parse_run(folder: Path, order: list[str], env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), *order],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench_parse: parsing failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per reference DAG")
    parser.add_argument("--runs", type=int, help="runs per reference DAG going first (3)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    install_sigterm()
    load_before = load_note()
    rounds = args.runs or (1 if args.quick else 3)
    with temp_dir("dhub-bench-parse-") as work:
        folder = work / "dags"
        shutil.copytree(REPO / "dags", folder, ignore=shutil.ignore_patterns("__pycache__"))
        references = sorted(p.name for p in folder.glob("*.py"))
        (folder / "one_task.py").write_text(ONE_TASK)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DHUB_", "AIRFLOW"))}
        env.update(
            AIRFLOW_HOME=str(work / "home"),
            AIRFLOW__CORE__DAGS_FOLDER=str(folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            DHUB_HOME=str(work / "dhub"),
        )
        baseline: list[float] = []
        first: list[float] = []
        later: dict[str, list[float]] = {name: [] for name in references}
        for run in range(rounds * len(references)):
            k = run % len(references)
            order = references[k:] + references[:k]
            # The one-task DAG twice: the first parse pays Airflow's own DAG-authoring imports.
            seconds = parse_run(folder, ["one_task.py", "one_task.py", *order], env)
            baseline.append(seconds["one_task.py"])
            first.append(seconds[order[0]])
            for name in order[1:]:
                later[name].append(seconds[name])
            log(f"run {run + 1}: first {order[0]} {seconds[order[0]] * 1000:.1f} ms")
    base = median(baseline)
    rows = [
        Row("first reference DAG parsed (pays the suite's imports) / one-task DAG", base,
            median(first), "<= 10", baseline, first, note="each reference DAG first in turn"),
        *(
            Row(f"{name} (not first) / one-task DAG", base, median(later[name]), "<= 2",
                baseline, later[name])
            for name in references
        ),
    ]  # fmt: skip
    print_table("bench_parse", rows, f"fresh process per run: {len(baseline)} runs\n"
                f"{load_before}; product {git_revision()}")  # fmt: skip
    return finish("bench_parse", {"runs": len(baseline)}, rows, args.strict)


if __name__ == "__main__":
    sys.exit(main())
