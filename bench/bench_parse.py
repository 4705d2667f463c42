"""DAG parsing: each reference DAG of dags/ against a one-task DAG, parsed in the same
fresh process with the parser and timer of `airflow dags report` (its BundleDagBag and the
per-file duration it prints).

The first reference file a process parses pays the suite's imports (operators/__init__
and what the operator needs); every later one pays only its own module's. Each run is a
fresh interpreter that parses the one-task DAG (twice: the first pays Airflow's own
DAG-authoring imports), then every reference DAG, the one that goes first turning round
run by run (Airflow's modules imported before are frozen out of the garbage collector's
reach, `gc.freeze()`, as the DAG processor does before it forks the process that parses
a file: else a full collection over them, 0.1-0.3 s, falls on whichever file crosses the
threshold); then, for steadier figures, the one-task DAG and every reference DAG again
`REPEATS` times each, interleaved (a re-parse re-executes the file: the same work as a
file parsed after the first).

Bytecode is cached (under the run's temporary folder, filled by one unmeasured process),
as in an installed package: `pip install` compiles it, and Airflow's own modules are read
from compiled files; without it every run would time the compiling of the suite's modules
(this checkout is installed editable, and may run with PYTHONDONTWRITEBYTECODE).

A reference DAG has several tasks, some mapped, params, Asset schedules: Airflow's own
cost per task is most of what it adds over the one-task DAG. Each is therefore also
compared with its plain twin (informational): the same task ids and edges, made of
EmptyOperator in a DAG without schedule, parsed in the same process: that ratio is what
the suite's operators, decorators and Assets add.

`--cpu` times each parse in CPU seconds of the parsing process (`time.process_time()`
around the same BundleDagBag) instead of its wall duration: on a shared machine a parse of
a few milliseconds is otherwise timed mostly by the scheduler's slices.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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

#: Re-parses of each file per run, after the first pass.
REPEATS = 5

#: Runs in the fresh interpreter: parse the files in the order given, print the seconds of
#: each parse of each file (in order) and, for every DAG, its task ids and edges.
CHILD = """
import gc, json, sys, time
from airflow.dag_processing.dagbag import BundleDagBag

gc.freeze()  # as the DAG processor's manager does before it forks a parsing process
folder, files = sys.argv[1], sys.argv[2:]
seconds, cpu, shapes = {}, {}, {}
for name in files:
    started = time.process_time()
    bag = BundleDagBag(f"{folder}/{name}", bundle_path=folder, bundle_name="dags-folder")
    cpu.setdefault(name, []).append(time.process_time() - started)
    assert not bag.import_errors, bag.import_errors
    seconds.setdefault(name, []).append(bag.dagbag_stats[0].duration.total_seconds())
    shapes[name] = [
        [[t.task_id, sorted(t.downstream_task_ids)] for t in dag.tasks] for dag in bag.dags.values()
    ]
print(json.dumps({"seconds": seconds, "cpu": cpu, "shapes": shapes}))
"""

TWIN_PREFIX = "twin_"


def twin_source(shapes: list[list[list[object]]]) -> str:
    """A DAG file with the same task ids and edges as a reference file's DAGs, all EmptyOperator."""
    lines = [
        "from airflow.providers.standard.operators.empty import EmptyOperator",
        "from airflow.sdk import DAG",
    ]
    for n, tasks in enumerate(shapes):
        lines += [
            f"with DAG({f'twin_{n}'!r}, schedule=None, catchup=False):",
            f"    t = {{i: EmptyOperator(task_id=i) for i in {[tid for tid, _ in tasks]!r}}}",
            f"    for up, downs in {tasks!r}:",
            "        t[up] >> [t[d] for d in downs]",
        ]
    return "\n".join(lines) + "\n"


def parse_run(folder: Path, order: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), *order],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench_parse: parsing failed:\n{out.stderr[-3000:]}")
    parsed: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per reference DAG")
    parser.add_argument("--runs", type=int, help="runs per reference DAG going first (3)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time each parse in CPU seconds of the parsing process (a loaded machine)",
    )
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
            PYTHONPYCACHEPREFIX=str(work / "pyc"),
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        # Unmeasured: fills the bytecode cache and reads each DAG's shape for its twin.
        shapes = parse_run(folder, ["one_task.py", *references], env)["shapes"]
        twins = {name: f"{TWIN_PREFIX}{name}" for name in references}
        for name, twin in twins.items():
            (folder / twin).write_text(twin_source(shapes[name]))
        parse_run(folder, list(twins.values()), env)
        baseline: list[float] = []
        first: list[float] = []
        later: dict[str, list[float]] = {name: [] for name in references}
        plain: dict[str, list[float]] = {name: [] for name in references}
        for run in range(rounds * len(references)):
            k = run % len(references)
            order = references[k:] + references[:k]
            # The one-task DAG twice: the first parse pays Airflow's own DAG-authoring imports;
            # one twin unmeasured: it pays EmptyOperator's import.
            repeats = [twins[order[0]]] + [
                f for _ in range(REPEATS) for f in ["one_task.py", *order, *twins.values()]
            ]
            parsed = parse_run(folder, ["one_task.py", "one_task.py", *order, *repeats], env)
            seconds = parsed["cpu" if args.cpu else "seconds"]
            baseline += seconds["one_task.py"][1:]
            first.append(seconds[order[0]][0])
            for name in references:
                later[name] += seconds[name][0 if name != order[0] else 1 :]
                plain[name] += seconds[twins[name]][-REPEATS:]
            log(f"run {run + 1}: first {order[0]} {seconds[order[0]][0] * 1000:.1f} ms")
    base = median(baseline)
    rows = [
        Row("first reference DAG parsed (pays the suite's imports) / one-task DAG", base,
            median(first), "<= 10", baseline, first, note="each reference DAG first in turn"),
        *(
            Row(f"{name} (not first) / one-task DAG", base, median(later[name]), "<= 2",
                baseline, later[name])
            for name in references
        ),
        *(
            Row(f"{name} (not first) / its plain twin", median(plain[name]),
                median(later[name]), "-", plain[name], later[name],
                note=f"{sum(len(t) for t in shapes[name])} tasks")
            for name in references
        ),
    ]  # fmt: skip
    clock = "CPU seconds of the parsing process" if args.cpu else "the per-file duration"
    print_table("bench_parse", rows, f"fresh process per run: {len(first)} runs, "
                f"{REPEATS} re-parses of each file per run; timed: {clock}\n"
                f"{load_before}; product {git_revision()}")  # fmt: skip
    payload = {"runs": len(first), "repeats": REPEATS, "cpu": args.cpu}
    return finish("bench_parse", payload, rows, args.strict)


if __name__ == "__main__":
    sys.exit(main())
