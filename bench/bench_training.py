"""Training overhead, and a search grid under a real Airflow scheduler.

(a) One ~5 s training (gradient boosting on a synthetic 20-feature table; the number of
    trees is calibrated on this machine so a plain fit takes --train-seconds of CPU):
      baseline  the same training function called plainly: read the table version,
                split, fit.
      ours      ``TrainModelOperator.execute`` (force=True: no reuse), on the embedded
                default (MLflow on SQLite), which also logs params, metrics, the dataset
                input, the model with signature and input example, and records the model
                entity; sklearn autolog on (the default). Target: ratio <= 1.2.
                Informational: the same in CPU seconds of the process (steadier than
                wall seconds on a shared machine), with autolog's plots drawn, and with
                autolog off.
(b) A 16-configuration grid DAG (plan -> 16 mapped random-forest trainings) run by a
    real Airflow: ``airflow scheduler`` with the LocalExecutor and ``airflow api-server``
    (the workers' execution API), metadata in a fresh database on the test PostgreSQL
    (DHUB_TEST_PG_URL; skipped without it):
      baseline  core.parallelism = 1 (one task at a time)
      ours      core.parallelism = 2 (two LocalExecutor workers)
    Measured from the metadata DB: first mapped task's start to last one's end.
    Informational; 0.5 would be perfect scaling on 2 free cores.
Runs alternate which side goes first; medians of --runs (3; 1 with --quick).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_harness import Airflow, metadata_database
from benchlib import (
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

TABLE = "store://bench/dataitem/table/synthetic"
FOREST_GRID = {
    "estimator": ["random_forest"],
    "n_estimators": [20, 40, 60, 80],
    "max_depth": [4, 8, 12, None],
}
GRID_DAG = """
from airflow.sdk import dag

from digitalhub_airflow.operators.training import (
    PlanSearchOperator,
    TrainModelOperator,
    dataset_of,
    parent_run_of,
)


@dag(schedule=None, catchup=False)
def bench_grid():
    plan = PlanSearchOperator(
        task_id="plan", project="bench", name="forest", strategy="grid",
        space={space!r}, dataset={table!r},
    )
    TrainModelOperator.partial(
        task_id="train", project="bench", name="forest", force=True,
        entrypoint="digitalhub_airflow.training.estimators:train_estimator",
        datasets=dataset_of("plan"), target="label", parent_run_id=parent_run_of("plan"),
    ).expand(hyperparameters=plan.output)


bench_grid()
"""


def boosted_trees(data: Any, params: dict[str, Any]) -> Any:
    """The ~5 s training function both sides run."""
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(n_estimators=params["trees"], random_state=0)
    return model.fit(data.x_train, data.y_train)


def make_table(hub: Any, rows: int) -> str:
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=20, n_informative=10, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(20)]).assign(label=y)
    return hub.commit(TABLE, frame).version.key


def clocked(fn: Any) -> tuple[float, float]:
    """Wall and CPU seconds of this process for ``fn()``: on a machine shared with other
    work the CPU seconds move much less than the wall seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def plain(hub: Any, key: str, trees: int) -> tuple[float, float]:
    from digitalhub_airflow.training.data import load_training_data

    def train() -> None:
        data = load_training_data(hub, [hub.resolve(key)], task="classification", target="label")
        boosted_trees(data, {"trees": trees})

    return clocked(train)


def operator(key: str, trees: int, **options: bool) -> tuple[float, float]:
    from digitalhub_airflow.operators.training import TrainModelOperator

    op = TrainModelOperator(
        task_id="train", project="bench", name="boosted", entrypoint=boosted_trees,
        datasets=[key], target="label", hyperparameters={"trees": trees}, force=True,
        **options,
    )  # fmt: skip
    ti = SimpleNamespace(
        dag_id="bench", run_id="bench", task_id="train", try_number=1, map_index=-1
    )
    return clocked(lambda: op.execute({"ti": ti}))


def calibrate(hub: Any, key: str, seconds: float) -> int:
    """Trees for a fit of ``seconds`` of CPU (one core: the fit is single-threaded);
    a short probe, then one at about the size found, to correct the estimate."""
    trees = 20
    for _ in range(2):
        _, cpu = plain(hub, key, trees)
        trees = max(5, round(trees * seconds / cpu))
    return trees


def bench_overhead(hub: Any, key: str, args: argparse.Namespace, runs: int) -> list[Row]:
    trees = calibrate(hub, key, args.train_seconds)
    log(f"{trees} trees for a ~{args.train_seconds:.0f} s fit; warming MLflow up")
    operator(key, 5)  # creates MLflow's schema, imports everything
    sides: dict[str, Any] = {
        "plain": lambda: plain(hub, key, trees),
        "operator": lambda: operator(key, trees),
        "plots": lambda: operator(key, trees, autolog_plots=True),
        "no autolog": lambda: operator(key, trees, autolog=False),
    }
    wall: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    for i in range(runs):
        for name in list(sides) if i % 2 == 0 else list(reversed(sides)):
            seconds, cpu_seconds = sides[name]()
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
        log(f"run {i + 1}: " + ", ".join(
            f"{n} {wall[n][-1]:.2f}s ({cpu[n][-1]:.2f}s CPU)" for n in sides
        ))  # fmt: skip
    args.trees = trees

    def row(measure: str, side: str, times: dict[str, list[float]], target: str) -> Row:
        base = times["plain"]
        note = f"{trees} trees" if target != "-" else "informational"
        return Row(measure, median(base), median(times[side]), target, base, times[side],
                   note=note)  # fmt: skip

    return [
        row("(a) TrainModelOperator vs plain fit", "operator", wall, "<= 1.2"),
        row("(a) same, CPU seconds of the process", "operator", cpu, "-"),
        row("(a) same, autolog plots drawn", "plots", wall, "-"),
        row("(a) same, autolog off", "no autolog", wall, "-"),
    ]


# -- (b) the grid DAG under a real scheduler --------------------------------------------
def grid_configs() -> list[dict[str, Any]]:
    from digitalhub_airflow.training.search import grid

    return grid(FOREST_GRID)


def bench_scheduler(home: Path, runs: int) -> list[Row]:
    measure = "(b) 16-config grid DAG: parallelism 2 vs 1"
    server = os.environ.get("DHUB_TEST_PG_URL")
    if not server:
        return [Row(measure, None, None, skipped="no DHUB_TEST_PG_URL")]
    spans: dict[int, list[float]] = {1: [], 2: []}
    busy: dict[int, list[float]] = {1: [], 2: []}
    dags = {"bench_grid.py": GRID_DAG.format(space=FOREST_GRID, table=TABLE)}
    configs = len(grid_configs())
    with (
        temp_dir("bench-training-airflow") as root,
        metadata_database(server) as url,
        Airflow(root, url, dags, {"DHUB_HOME": str(home)}) as airflow,
    ):
        log(f"Airflow up (API server on port {airflow.port}); grid of {configs}")
        for i in range(runs):
            for slots in (1, 2) if i % 2 == 0 else (2, 1):
                times = airflow.run_dag(
                    "bench_grid", f"bench-p{slots}-{i}", configs, "train",
                    AIRFLOW__CORE__PARALLELISM=str(slots),
                )  # fmt: skip
                spans[slots].append(times.span)
                busy[slots].append(times.busy / times.span)
            log(f"run {i + 1}: parallelism 1 {spans[1][-1]:.1f}s, 2 {spans[2][-1]:.1f}s")
    return [
        Row(measure, median(spans[1]), median(spans[2]), "-", spans[1], spans[2],
            note=f"tasks running at once: {median(busy[1]):.2f} vs {median(busy[2]):.2f}; "
            "0.5 = perfect on 2 free cores"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per side")
    parser.add_argument("--runs", type=int, help="runs per side (default 3; 1 with --quick)")
    parser.add_argument("--rows", type=int, default=20000, help="rows of the table (20000)")
    parser.add_argument("--train-seconds", type=float, default=5.0, help="plain fit time (5)")
    parser.add_argument("--only", choices=["overhead", "grid"], help="run one part")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    args.trees = None
    install_sigterm()
    from digitalhub_airflow.hub import DataHub

    rows: list[Row] = []
    with temp_dir("bench-training") as home:
        os.environ["DHUB_HOME"] = str(home)
        for name in ("DHUB_CATALOG_URL", "DHUB_STORE_URL", "DHUB_CATALOG_SCHEMA"):
            os.environ.pop(name, None)
        with DataHub.from_settings() as hub:
            hub.init()
            key = make_table(hub, args.rows)
            if args.only != "grid":
                rows += bench_overhead(hub, key, args, runs)
        if args.only != "overhead":
            rows += bench_scheduler(home, runs)

    header = f"{load_note()}; rev {git_revision()}; {args.rows} rows"
    print_table("bench_training", rows, header)
    return finish("bench_training", {"trees": args.trees, "runs": runs}, rows, args.strict)


if __name__ == "__main__":
    sys.exit(main())
