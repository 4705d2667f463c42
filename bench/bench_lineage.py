"""Lineage cost: a depth-20 lineage query on a big PostgreSQL catalog, and a 50-task DAG
with lineage on and off.

(a) A PostgreSQL catalog (its own schema) is bulk-loaded with COPY, not through the
    commit path: ``--datasets`` datasets x ``--versions`` versions each (1000 x 1000 =
    1M versions; 1000 x 50 with --quick). Version k of dataset d was produced by a run
    that consumed version k of datasets d-1 and d-2, so every version has a deep,
    fanned-in history (1M runs, 3M edges at full size). Measured on random versions:
      baseline  a primary-key lookup of the version row (one SELECT by id);
      ours      ``lineage_graph(hub, key, "upstream", depth=20)``: resolve the key, the
                recursive walk (40 edges deep), and the node labels.
    Target: ours <= 20x baseline.
(b) ``airflow dags test`` of a generated DAG of 50 suite tasks (25 commits, each
    followed by a tag of its version) with lineage off (``DHUB_LINEAGE=off``,
    OpenLineage disabled) and on (catalog runs and edges, OpenLineage events to a file).
    OpenLineage is emitted from a thread (``[openlineage] execute_in_thread``, the
    embedded default's setting). Target: on <= 1.05x off in wall time; also in CPU
    seconds of `airflow dags test` (steadier on a shared machine). Also reported:
    catalog lineage alone; the provider's default (a fork per event); and the floor, the
    same provider setting on a DAG of 50 plain ``@task`` no-ops (OpenLineage on vs off),
    which no code of ours runs in.
(b2) The same DAG under a real Airflow (``airflow scheduler``, LocalExecutor with 2 task
    slots, ``airflow api-server``; metadata on the test PostgreSQL): every task in its own
    process, as deployed. Lineage off vs on (catalog + OpenLineage from a thread), the
    span from the first task's start to the last one's end. Target: <= 1.05.
(c) In process, without Airflow: the DAG's commit + tag pair on an embedded catalog,
    catalog lineage off and on (the run in the commit's transaction, the run closed after
    each task, the Symlinks lookups), alternating, ``--pairs`` each: the milliseconds our
    recording adds to a task, free of the DAG's scheduling noise.
Options: --quick, --runs N, --only catalog|dag|scheduler|recording, --pairs N, --strict.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_harness import Airflow, metadata_database
from benchlib import (
    Row,
    git_revision,
    install_sigterm,
    load_note,
    log,
    median,
    print_table,
    temp_dir,
    unique_name,
    write_json,
)

DEPTH = 20
DAG_TASKS = 50
LOOKUPS_PER_SAMPLE = 200


# -- (a) lineage query on a big catalog ---------------------------------------------------
def copy_rows(cursor: Any, table: str, columns: list[str], rows: Any) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(str(v) for v in row) + "\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def version_id(dataset: int, seq: int) -> str:
    return f"{dataset:08x}{seq:08x}".ljust(64, "0")


def load_catalog(hub: Any, schema: str, datasets: int, versions: int) -> None:
    """Projects, datasets, versions, runs and edges, straight into the tables."""
    raw = hub.catalog.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f'SET search_path TO "{schema}"')
        now = "2026-01-01 00:00:00+00"
        copy_rows(cursor, "dhub_projects", ["id", "name", "created_at"], [(1, "bench", now)])
        copy_rows(
            cursor,
            "dhub_datasets",
            ["id", "project_id", "name", "kind", "latest_seq", "created_at"],
            ((d + 1, 1, f"d{d:04d}", "table", versions, now) for d in range(datasets)),
        )
        columns = ["id", "dataset_id", "seq", "version_id", "kind", "format", "size_bytes"]
        columns += ["file_count", "message", "created_by", "created_at"]
        copy_rows(
            cursor,
            "dhub_versions",
            columns,
            (
                (
                    d * versions + s,
                    d + 1,
                    s,
                    version_id(d, s),
                    "table",
                    "parquet",
                    1,
                    1,
                    "",
                    "b",
                    now,
                )
                for d in range(datasets)
                for s in range(1, versions + 1)
            ),
        )
        log(f"  {datasets * versions} versions loaded")
        run_columns = ["id", "key", "project", "kind", "name", "cache_hit", "state"]
        run_columns += ["started_at", "created_by"]
        copy_rows(
            cursor,
            "dhub_runs",
            run_columns,
            (
                (
                    d * versions + s,
                    run_key(d, s),
                    "bench",
                    "airflow",
                    f"d{d:04d}",
                    "f",
                    "success",
                    now,
                    "b",
                )
                for d in range(2, datasets)
                for s in range(1, versions + 1)
            ),
        )
        copy_rows(
            cursor,
            "dhub_relationships",
            ["source", "relation", "target", "created_at"],
            edges(datasets, versions, now),
        )
        log("  runs and edges loaded")
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def version_key(dataset: int, seq: int) -> str:
    return f"store://bench/dataitem/table/d{dataset:04d}:{version_id(dataset, seq)}"


def run_key(dataset: int, seq: int) -> str:
    return f"store://bench/run/airflow/d{dataset:04d}:{dataset:08x}{seq:08x}"


def edges(datasets: int, versions: int, now: str) -> Any:
    for d in range(2, datasets):
        for s in range(1, versions + 1):
            run = run_key(d, s)
            yield version_key(d, s), "produced_by", run, now
            yield run, "consumes", version_key(d - 1, s), now
            yield run, "consumes", version_key(d - 2, s), now


def bench_catalog(args: argparse.Namespace) -> list[Row]:
    from sqlalchemy import select

    from digitalhub_airflow.catalog.engine import Catalog
    from digitalhub_airflow.catalog.models import Version
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.lineage.graph import lineage_graph
    from digitalhub_airflow.store.local import LocalBlobStore

    url = os.environ.get("DHUB_TEST_PG_URL")
    if not url:
        return [Row("lineage depth 20 vs PK lookup", None, None, skipped="no DHUB_TEST_PG_URL")]
    schema = unique_name("bench_lineage").replace("-", "_")
    with temp_dir("bench-lineage-") as tmp:
        hub = DataHub(Catalog(url, schema), LocalBlobStore(tmp / "store"))
        try:
            hub.init()
            started = time.perf_counter()
            load_catalog(hub, schema, args.datasets, args.versions)
            log(f"  catalog loaded in {time.perf_counter() - started:.0f}s")
            rng = random.Random(7)
            # Roots deep enough for 20 steps of history.
            roots = [
                (rng.randrange(DEPTH * 2 + 2, args.datasets), rng.randrange(1, args.versions + 1))
                for _ in range(LOOKUPS_PER_SAMPLE)
            ]
            check = lineage_graph(hub, version_key(*roots[0]), "upstream", DEPTH).to_json()
            deepest = max(n["distance"] for n in check["nodes"])
            assert deepest == 2 * DEPTH, deepest

            def lookups() -> float:
                t0 = time.perf_counter()
                for d, s in roots:
                    with hub.catalog.session() as session:
                        session.scalars(
                            select(Version).where(Version.id == d * args.versions + s)
                        ).one()
                return time.perf_counter() - t0

            def walks() -> float:
                t0 = time.perf_counter()
                for d, s in roots:
                    lineage_graph(hub, version_key(d, s), "upstream", DEPTH)
                return time.perf_counter() - t0

            samples: dict[str, list[float]] = {"baseline": [], "ours": []}
            for run in range(args.runs):
                order = [("baseline", lookups), ("ours", walks)]
                for name, fn in order if run % 2 == 0 else order[::-1]:
                    samples[name].append(fn() / len(roots))
        finally:
            with hub.catalog.engine.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            hub.close()
    return [
        ratio_row(
            f"lineage depth {DEPTH} on {args.datasets * args.versions:,} versions vs PK lookup",
            samples,
            "<= 20",
            f"{len(check['nodes'])} nodes, {len(check['edges'])} edges per query; s per query",
        )
    ]


# -- (b) a 50-task DAG with lineage on and off ---------------------------------------------
DAG_TEMPLATE = """
from airflow.sdk import dag
from digitalhub_airflow.operators import CommitDatasetOperator, TagDatasetOperator

@dag(schedule=None, catchup=False)
def dhub_bench_lineage():
    for i in range({pairs}):
        key = f"store://bench/dataitem/table/t{{i:02d}}"
        commit = CommitDatasetOperator(task_id=f"commit_{{i:02d}}", target=key,
                                       source="{source}")
        commit >> TagDatasetOperator(task_id=f"tag_{{i:02d}}", key=key, alias="checked")

dhub_bench_lineage()
"""

PLAIN_DAG = """
from airflow.sdk import dag, task

@dag(schedule=None, catchup=False)
def dhub_bench_plain():
    @task
    def noop() -> None:
        return None

    for i in range({tasks}):
        noop.override(task_id=f"noop_{{i:02d}}")()

dhub_bench_plain()
"""


def bench_dags(tmp: Path) -> dict[str, str]:
    """The suite DAG (``dhub_bench_lineage``) and the plain one (``dhub_bench_plain``) in
    ``tmp/dags``, and a migrated Airflow home for ``airflow dags test``: its environment."""
    source = tmp / "rows.csv"
    source.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(1000)))
    dags = tmp / "dags"
    dags.mkdir()
    (dags / "dhub_bench_lineage.py").write_text(
        DAG_TEMPLATE.format(pairs=DAG_TASKS // 2, source=source)
    )
    (dags / "dhub_bench_plain.py").write_text(PLAIN_DAG.format(tasks=DAG_TASKS))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for name in ("DHUB_CATALOG_URL", "DHUB_STORE_URL", "DHUB_CATALOG_SCHEMA"):
        env.pop(name, None)
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    return env


def bench_dag(args: argparse.Namespace) -> list[Row]:
    with temp_dir("bench-lineage-dag-") as tmp:
        base_env = bench_dags(tmp)
        airflow = str(Path(sys.executable).parent / "airflow")
        threaded = openlineage_to(tmp / "ol.jsonl")
        forked = openlineage_to(tmp / "ol.jsonl", in_thread=False)
        disabled = {"AIRFLOW__OPENLINEAGE__DISABLED": "True"}
        sides = {
            "baseline": {"DHUB_LINEAGE": "off", **disabled},
            "catalog": {"DHUB_LINEAGE": "on", **disabled},
            "ours": {"DHUB_LINEAGE": "on", **threaded},
            "forked": {"DHUB_LINEAGE": "on", **forked},
            "plain_off": disabled,
            "plain_on": threaded,
        }
        samples: dict[str, list[float]] = {name: [] for name in sides}
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        for run in range(args.runs):
            order = list(sides.items())
            for name, extra in order if run % 2 == 0 else order[::-1]:
                # A fresh DHUB home per sample: every commit does the same work each time.
                env = {**base_env, **extra, "DHUB_HOME": str(tmp / f"home-{name}-{run}")}
                dag_id = "dhub_bench_plain" if name.startswith("plain") else "dhub_bench_lineage"
                t0, cpu0 = time.perf_counter(), children_cpu()
                subprocess.run(
                    [airflow, "dags", "test", dag_id],
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=3600,
                )
                samples[name].append(time.perf_counter() - t0)
                cpu[name].append(children_cpu() - cpu0)
                log(f"  {name}: {samples[name][-1]:.1f}s wall, {cpu[name][-1]:.1f}s CPU")
        events = (tmp / "ol.jsonl").read_text().count('"eventType"')
    off = samples["baseline"]
    return [
        ratio_row(
            f"DAG of {DAG_TASKS} suite tasks, lineage on vs off",
            {"baseline": off, "ours": samples["ours"]},
            "<= 1.05",
            f"catalog runs + OpenLineage from a thread; {events} events in all",
        ),
        ratio_row(
            "  the same in CPU seconds (user + system of `airflow dags test`)",
            {"baseline": cpu["baseline"], "ours": cpu["ours"]},
            "-",
            "steadier than wall on a shared machine; emission threads included",
        ),
        ratio_row(
            "  the same, catalog runs and edges only",
            {"baseline": off, "ours": samples["catalog"]},
            "-",
            "OpenLineage disabled",
        ),
        ratio_row(
            "  the same, OpenLineage in a fork per event",
            {"baseline": off, "ours": samples["forked"]},
            "-",
            "the provider's default (execute_in_thread = False)",
        ),
        ratio_row(
            f"  floor: {DAG_TASKS} plain @task no-ops, OpenLineage on vs off",
            {"baseline": samples["plain_off"], "ours": samples["plain_on"]},
            "-",
            "the provider alone, in a thread; no suite code",
        ),
    ]


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def openlineage_to(path: Path, in_thread: bool = True) -> dict[str, str]:
    """Airflow settings that send OpenLineage events to a file, from a thread (the
    embedded default's setting) or, with ``in_thread=False``, a fork per event."""
    transport = {"type": "file", "log_file_path": str(path), "append": True}
    return {
        "AIRFLOW__OPENLINEAGE__DISABLED": "False",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": str(in_thread),
    }


# -- (b2) the same DAG under a real scheduler ----------------------------------------------
def bench_scheduler(args: argparse.Namespace) -> list[Row]:
    measure = f"DAG of {DAG_TASKS} suite tasks under a scheduler, lineage on vs off"
    server = os.environ.get("DHUB_TEST_PG_URL")
    if not server:
        return [Row(measure, None, None, skipped="no DHUB_TEST_PG_URL")]
    with temp_dir("bench-lineage-sched-") as tmp:
        source = tmp / "rows.csv"
        source.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(1000)))
        dags = {"dhub_bench_lineage.py": DAG_TEMPLATE.format(pairs=DAG_TASKS // 2, source=source)}
        sides = {
            "baseline": {"DHUB_LINEAGE": "off", "AIRFLOW__OPENLINEAGE__DISABLED": "True"},
            "ours": {
                "DHUB_LINEAGE": "on",
                **openlineage_to(tmp / "ol.jsonl"),
            },
        }
        samples: dict[str, list[float]] = {name: [] for name in sides}
        slots = {"AIRFLOW__CORE__PARALLELISM": "2"}
        for name in ("DHUB_CATALOG_URL", "DHUB_STORE_URL", "DHUB_CATALOG_SCHEMA"):
            os.environ.pop(name, None)
        with metadata_database(server) as url, Airflow(tmp, url, dags, slots) as airflow:
            # Not measured: the first run pays for cold caches (bytecode, page cache).
            warm = {**sides["baseline"], "DHUB_HOME": str(tmp / "home-warm")}
            airflow.run_dag("dhub_bench_lineage", "warm-up", DAG_TASKS, **warm)
            for run in range(args.runs):
                order = list(sides.items())
                for name, extra in order if run % 2 == 0 else order[::-1]:
                    home = str(tmp / f"home-{name}-{run}")
                    times = airflow.run_dag(
                        "dhub_bench_lineage", f"{name}-{run}", DAG_TASKS, **extra, DHUB_HOME=home
                    )
                    samples[name].append(times.span)
                    log(f"  {name}: {times.span:.1f}s")
        events = (tmp / "ol.jsonl").read_text().count('"eventType"')
    return [
        ratio_row(
            measure,
            samples,
            "<= 1.05",
            f"LocalExecutor, 2 slots, a process per task; {events} events in all",
        )
    ]


# -- (c) what our catalog lineage adds to one task, in process ------------------------------
def bench_recording(args: argparse.Namespace) -> list[Row]:
    """The DAG's commit + tag pair on an embedded catalog, without and with the run: the
    producing run in the commit's transaction, the run closed after each task, and the
    Symlinks lookups OpenLineage's facets need. Airflow and the provider are not in it."""
    with temp_dir("bench-lineage-rec-") as tmp:
        os.environ["DHUB_HOME"] = str(tmp / "home")
        for name in ("DHUB_CATALOG_URL", "DHUB_STORE_URL", "DHUB_CATALOG_SCHEMA"):
            os.environ.pop(name, None)
        from digitalhub_airflow.catalog.models import utcnow
        from digitalhub_airflow.hub import DataHub
        from digitalhub_airflow.lineage.producing import (
            ProducingRun,
            finish_producing_run,
            producing,
        )
        from digitalhub_airflow.lineage.runs import SUCCESS, RunOutcome, RunSpec, digest_text
        from digitalhub_airflow.provider.openlineage import version_symlinks

        source = tmp / "rows.csv"
        source.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(1000)))

        def run_of(task: str) -> ProducingRun:
            spec = RunSpec("", f"bench.{task}", digest_text(task)[:16], dag_id="bench")
            spec.task_id, spec.parameters = task, {"target": task, "source": str(source)}
            return ProducingRun(spec, utcnow())

        def close(hub: DataHub, run: ProducingRun, outcome: RunOutcome, infos: list) -> None:
            finish_producing_run(hub.catalog, run, outcome, "bench")
            version_symlinks(hub, infos)

        def pair(hub: DataHub, n: int, lineage: bool) -> float:
            key = f"store://bench/dataitem/table/t{n:04d}"
            t0 = time.perf_counter()
            commit_run = run_of(f"commit_{n}") if lineage else None
            with producing(commit_run):
                version = hub.commit(key, source).version
            if commit_run is not None:
                close(hub, commit_run, RunOutcome(SUCCESS, [], [version.key]), [version])
            tagged = hub.tag(key, "checked")
            if lineage:
                close(hub, run_of(f"tag_{n}"), RunOutcome(SUCCESS, [tagged.key]), [tagged])
            return time.perf_counter() - t0

        samples: dict[str, list[float]] = {"baseline": [], "ours": []}
        with DataHub.from_settings() as hub:
            pair(hub, 0, True)  # warm: catalog created, statements compiled
            for n in range(1, 2 * args.pairs + 1):
                name = "ours" if n % 2 else "baseline"
                samples[name].append(pair(hub, n, name == "ours"))
    added = (median(samples["ours"]) - median(samples["baseline"])) / 2
    return [
        ratio_row(
            "  in process: one commit + tag pair, catalog lineage off / on",
            samples,
            "-",
            f"embedded SQLite; {added * 1000:.1f} ms added per task; s per pair",
        )
    ]


def ratio_row(measure: str, samples: dict[str, list[float]], target: str, note: str) -> Row:
    base, ours = samples["baseline"], samples["ours"]
    return Row(measure, median(base), median(ours), target, base, ours, note=note)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--versions", type=int)
    parser.add_argument("--only", choices=["catalog", "dag", "scheduler", "recording"])
    parser.add_argument("--pairs", type=int, default=50, help="commit + tag pairs per side in (c)")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    args.runs = args.runs or (1 if args.quick else 3)
    args.versions = args.versions or (50 if args.quick else 1000)
    install_sigterm()
    load_before = load_note()
    rows: list[Row] = []
    if args.only in (None, "catalog"):
        log("== (a) lineage query on a bulk-loaded PostgreSQL catalog")
        rows += bench_catalog(args)
    if args.only in (None, "dag"):
        log(f"== (b) airflow dags test, {DAG_TASKS} tasks, lineage off / on")
        rows += bench_dag(args)
    if args.only in (None, "scheduler"):
        log(f"== (b2) the same DAG under a scheduler, {DAG_TASKS} tasks, lineage off / on")
        rows += bench_scheduler(args)
    if args.only in (None, "dag", "recording"):
        log("== (c) catalog lineage per task, in process")
        rows += bench_recording(args)
    header = (
        f"runs per side: {args.runs} (median); ratio = ours / baseline"
        f"\n{load_before} at start, {load_note()} at end; product {git_revision()}"
    )
    print_table(f"bench_lineage{' (quick)' if args.quick else ''}", rows, header)
    write_json(
        "bench_lineage",
        {"quick": args.quick, "runs": args.runs, "rows": [r.to_json() for r in rows]},
    )
    return 1 if args.strict and any(r.status == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
