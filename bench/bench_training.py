"""Training overhead and parallel search, on the embedded default (MLflow on SQLite).

(a) One ~5 s training (gradient boosting on a synthetic 20-feature table; the number of
    trees is calibrated on this machine so a plain fit takes --train-seconds):
      baseline  the same training function called plainly: read the table version,
                split, fit.
      ours      ``TrainModelOperator.execute`` (force=True: no reuse), which also logs
                params, metrics, the dataset input, the model with signature and input
                example, and records the model entity; with sklearn autolog on (the
                default) and off. Target: ratio <= 1.2.
(b) A 16-configuration grid (random forests on the same table):
      baseline  the 16 trainings one after the other in one process;
      ours      the same 16 split over 2 worker processes (the two Airflow workers of
                a LocalExecutor with parallelism 2; already started, as workers are).
    Informational; 0.5 would be perfect scaling on 2 free cores.
Runs alternate which side goes first; medians of --runs (3; 1 with --quick).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    Row,
    git_revision,
    install_sigterm,
    load_note,
    log,
    median,
    print_table,
    temp_dir,
    write_json,
)

TABLE = "store://bench/dataitem/table/synthetic"
FOREST_GRID = {
    "estimator": ["random_forest"],
    "n_estimators": [20, 40, 60, 80],
    "max_depth": [4, 8, 12, None],
}


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


def plain(hub: Any, key: str, trees: int) -> float:
    from digitalhub_airflow.training.data import load_training_data

    started = time.perf_counter()
    data = load_training_data(hub, [hub.resolve(key)], task="classification", target="label")
    boosted_trees(data, {"trees": trees})
    return time.perf_counter() - started


def operator(key: str, trees: int, autolog: bool) -> float:
    from digitalhub_airflow.operators.training import TrainModelOperator

    op = TrainModelOperator(
        task_id="train", project="bench", name="boosted", entrypoint=boosted_trees,
        datasets=[key], target="label", hyperparameters={"trees": trees}, force=True,
        autolog=autolog,
    )  # fmt: skip
    ti = SimpleNamespace(
        dag_id="bench", run_id="bench", task_id="train", try_number=1, map_index=-1
    )
    started = time.perf_counter()
    op.execute({"ti": ti})
    return time.perf_counter() - started


def train_config(key: str, params: dict[str, Any]) -> str:
    """One grid configuration, as one mapped task would run it."""
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.settings import load_settings
    from digitalhub_airflow.training.runner import TrainingRequest, train_model
    from digitalhub_airflow.training.tracking import embedded_tracking

    settings = load_settings()
    request = TrainingRequest(
        "bench", "forest", "digitalhub_airflow.training.estimators:train_estimator", [key],
        "label", params=params, force=True,
    )  # fmt: skip
    with DataHub.from_settings(settings) as hub:
        return train_model(hub, embedded_tracking(settings.home), request).run_id


def warm() -> int:
    import mlflow.sklearn  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    import digitalhub_airflow.training.runner  # noqa: F401

    return os.getpid()


def calibrate(hub: Any, key: str, seconds: float) -> int:
    probe = 20
    elapsed = plain(hub, key, probe)
    return max(5, round(probe * seconds / elapsed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per side")
    parser.add_argument("--runs", type=int, help="runs per side (default 3; 1 with --quick)")
    parser.add_argument("--rows", type=int, default=20000, help="rows of the table (20000)")
    parser.add_argument("--train-seconds", type=float, default=5.0, help="plain fit time (5)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    install_sigterm()
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.training.search import grid

    rows: list[Row] = []
    with temp_dir("bench-training") as home:
        os.environ["DHUB_HOME"] = str(home)
        for name in ("DHUB_CATALOG_URL", "DHUB_STORE_URL", "DHUB_CATALOG_SCHEMA"):
            os.environ.pop(name, None)
        with DataHub.from_settings() as hub:
            hub.init()
            key = make_table(hub, args.rows)
            trees = calibrate(hub, key, args.train_seconds)
            log(f"{trees} trees for a ~{args.train_seconds:.0f} s fit; warming MLflow up")
            operator(key, 5, autolog=True)  # creates MLflow's schema, imports everything
            base, auto, bare = [], [], []
            for i in range(runs):
                order = [0, 1, 2] if i % 2 == 0 else [2, 1, 0]
                for side in order:
                    if side == 0:
                        base.append(plain(hub, key, trees))
                    elif side == 1:
                        auto.append(operator(key, trees, autolog=True))
                    else:
                        bare.append(operator(key, trees, autolog=False))
                log(
                    f"run {i + 1}: plain {base[-1]:.2f}s, operator {auto[-1]:.2f}s, "
                    f"no autolog {bare[-1]:.2f}s"
                )
        rows.append(
            Row(
                "(a) TrainModelOperator vs plain fit",
                median(base),
                median(auto),
                "<= 1.2",
                base,
                auto,
            )
        )
        rows.append(
            Row(
                "(a) same, autolog off",
                median(base),
                median(bare),
                "-",
                base,
                bare,
                note="informational",
            )
        )

        configs = grid(FOREST_GRID)
        sequential, parallel = [], []
        with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
            pids = {f.result() for f in [pool.submit(warm) for _ in range(4)]}
            log(f"2 workers warm ({len(pids)} processes)")
            train_config(key, configs[0])  # warm this process too
            for i in range(runs):
                for side in [0, 1] if i % 2 == 0 else [1, 0]:
                    started = time.perf_counter()
                    if side == 0:
                        for params in configs:
                            train_config(key, params)
                        sequential.append(time.perf_counter() - started)
                    else:
                        list(pool.map(train_config, [key] * len(configs), configs))
                        parallel.append(time.perf_counter() - started)
                log(f"run {i + 1}: sequential {sequential[-1]:.1f}s, 2 workers {parallel[-1]:.1f}s")
        rows.append(
            Row(
                "(b) 16-config grid: 2 workers vs sequential",
                median(sequential),
                median(parallel),
                "-",
                sequential,
                parallel,
                note="0.5 = perfect on 2 free cores",
            )
        )

    header = f"{load_note()}; rev {git_revision()}; {args.rows} rows, {trees} trees"
    print_table("bench_training", rows, header)
    path = write_json(
        "bench_training", {"rows": [r.to_json() for r in rows], "trees": trees, "runs": runs}
    )
    print(f"\n(summary: {path})")
    failed = [r for r in rows if r.status == "FAIL"]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
