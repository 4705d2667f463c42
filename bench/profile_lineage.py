"""Where lineage time goes in a task: a diagnostic, not a benchmark.

Runs ``airflow dags test`` of bench_lineage's 50-task DAG in process (lineage off, then
on) and of its 50 plain ``@task`` no-ops (OpenLineage on), with timers around the task
runner, the OpenLineage listener's task hooks and the suite's run recording, and prints
milliseconds per task for each. Whole-DAG wall times vary by 10-25% from run to run on a
shared machine; these per-task figures are steady to a millisecond or two.

    .venv/bin/python bench/profile_lineage.py
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lineage import DAG_TASKS, bench_dags, openlineage_to
from benchlib import log, temp_dir

#: (owner, attribute) timed in the child, by label.
TIMED = {
    "task runner (whole task)": ("airflow.sdk.execution_time.task_runner", "run"),
    "operator execute + run record": ("airflow.sdk.execution_time.task_runner", "_execute_task"),
    "suite: close the run": ("digitalhub_airflow.operators.base:DigitalHubOperator", "_record_run"),
    "suite: open the catalog": ("digitalhub_airflow.hooks.digitalhub:DigitalHubHook", "get_hub"),
    "OpenLineage: START event": (
        "airflow.providers.openlineage.plugins.listener:OpenLineageListener",
        "_on_task_instance_running",
    ),
    "OpenLineage: COMPLETE event": (
        "airflow.providers.openlineage.plugins.listener:OpenLineageListener",
        "_on_task_instance_success",
    ),
}


def install_timers(totals: dict[str, float], counts: dict[str, int]) -> None:
    import importlib

    for label, (target, name) in TIMED.items():
        module_name, _, class_name = target.partition(":")
        owner: Any = importlib.import_module(module_name)
        if class_name:
            owner = getattr(owner, class_name)
        wrapped = getattr(owner, name)

        def timer(
            *args: Any, _fn: Callable[..., Any] = wrapped, _label: str = label, **kwargs: Any
        ) -> Any:
            started = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                totals[_label] += time.perf_counter() - started
                counts[_label] += 1

        setattr(owner, name, timer)


def child(dag_id: str, out: str) -> None:
    """In the child: time the hooks, run the DAG in this process, write ms per task."""
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    install_timers(totals, counts)
    started = time.perf_counter()

    def report() -> None:
        per_task = {k: totals[k] * 1000 / DAG_TASKS for k in TIMED if counts[k]}
        wall = time.perf_counter() - started
        Path(out).write_text(json.dumps({"wall_s": wall, "ms_per_task": per_task}))

    atexit.register(report)
    from airflow.__main__ import main

    sys.argv = ["airflow", "dags", "test", dag_id]
    main()


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return 0
    with temp_dir("profile-lineage-") as tmp:
        env = bench_dags(tmp)
        on = openlineage_to(tmp / "ol.jsonl")
        off = {"AIRFLOW__OPENLINEAGE__DISABLED": "True"}
        cases = {
            "suite, lineage off": ("dhub_bench_lineage", {"DHUB_LINEAGE": "off", **off}),
            "suite, lineage on": ("dhub_bench_lineage", {"DHUB_LINEAGE": "on", **on}),
            "plain @task, OpenLineage on": ("dhub_bench_plain", on),
        }
        results = {}
        for case, (dag_id, extra) in cases.items():
            out = tmp / f"{dag_id}-{len(results)}.json"
            log(f"  {case}")
            subprocess.run(
                [sys.executable, __file__, "--child", dag_id, str(out)],
                env={**env, **extra, "DHUB_HOME": str(tmp / f"home-{len(results)}")},
                check=True,
                capture_output=True,
            )
            results[case] = json.loads(out.read_text())
    print(f"\nms per task ({DAG_TASKS} tasks), airflow dags test in one process")
    print(f"{'':34s}" + "".join(f"{case:>30s}" for case in results))
    for label in TIMED:
        cells = [r["ms_per_task"].get(label) for r in results.values()]
        print(f"{label:34s}" + "".join(f"{c:30.1f}" if c else f"{'-':>30s}" for c in cells))
    print(f"{'wall s (whole run)':34s}" + "".join(f"{r['wall_s']:30.1f}" for r in results.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
