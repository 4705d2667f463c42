"""Feature store: (a) what an online lookup adds to a served request, (b) materialisation
throughput against Feast's own.

(a) One ``ServingApp`` in process serving the same scikit-learn model twice: ``inline``
takes the six features in the request; ``ids`` takes a wine id and fetches the features
from the SQLite online store (``dhub serve --features``). Closed-loop clients (1 and 8
concurrent, one-row requests) call the ASGI app directly: latencies are the server's own,
no network. Target: the p99 added by the lookup <= 2 ms.

(b) ``dhub features materialize`` (``features.materialize.materialize``: source refresh,
row count, Feast's materialisation, the catalog run) of N rows into a fresh SQLite online
store, against Feast's ``FeatureStore.materialize`` (what ``feast materialize`` runs)
over the same Parquet file into another fresh SQLite store. Target: rows/s ratio >= 0.9
(time ratio <= 1.11).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import runpy
import shutil
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchlib import REPO, Row, finish, install_sigterm, load_note, log, median, temp_dir

sys.path.insert(0, str(REPO))

from tests.serving_helpers import asgi_request

JSON = {"content-type": "application/json"}

FEATURES = ["f0", "f1", "f2", "f3", "f4", "f5"]
DEFINITIONS = """
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.INT64)
source = FileSource(
    name="items", path="{path}", timestamp_field="event_timestamp"
)
item_features = FeatureView(
    name="item_features", entities=[item], ttl=timedelta(days=3650), source=source,
    schema=[{fields}],
)
item_service = FeatureService(name="item_service", features=[item_features])
"""
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def frame(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    data = {"item_id": np.arange(1, rows + 1, dtype="int64")}
    data.update({f: rng.normal(size=rows) for f in FEATURES})
    data["event_timestamp"] = [NOW - timedelta(minutes=i % 1000) for i in range(rows)]
    return pd.DataFrame(data)


def definitions(folder: Path, path: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fields = ", ".join(f'Field(name="{f}", dtype=Float64)' for f in FEATURES)
    text = textwrap.dedent(DEFINITIONS).format(path=path, fields=fields)
    (folder / "items.py").write_text(text, encoding="utf-8")
    return folder


def open_hub(home: Path) -> Any:
    from digitalhub_airflow.hub import DataHub

    os.environ["DHUB_HOME"] = str(home)
    os.environ.pop("DHUB_CATALOG_URL", None)
    os.environ.pop("DHUB_STORE_URL", None)
    hub = DataHub.from_settings()
    hub.init()
    return hub


# -- (a) lookup latency --------------------------------------------------------------------
def save_model(folder: Path, data: Any) -> Path:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    x = data[FEATURES]
    y = (data["f0"] > 0).astype("int64")
    model = LogisticRegression().fit(x, y)
    path = folder / "model"
    mlflow.sklearn.save_model(model, path, signature=infer_signature(x, model.predict(x)))
    return path


async def closed_loop(app: Any, path: str, bodies: list[bytes], clients: int) -> list[float]:
    """``clients`` loops, each sending its share of ``bodies`` one after the other."""
    latencies: list[float] = []

    async def call(body: bytes) -> None:
        started = time.perf_counter()
        response = await asgi_request(app, "POST", path, body, headers=JSON)
        latencies.append(time.perf_counter() - started)
        assert response.status == 200, response.body[:300]

    async def client(share: list[bytes]) -> None:
        for body in share:
            await call(body)

    await asyncio.gather(*(client(bodies[i::clients]) for i in range(clients)))
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def lookup_rows(work: Path, requests: int, runs: int) -> list[Row]:
    from digitalhub_airflow.features.apply import apply_definitions
    from digitalhub_airflow.features.materialize import materialize
    from digitalhub_airflow.serving.runtime.app import ModelPlan, ServerPlan, ServingApp

    data = frame(1000)
    hub = open_hub(work / "home")
    hub.commit("bench/items", data)
    applied = apply_definitions(
        hub, definitions(work / "defs", "store://bench/dataitem/table/items")
    )
    materialize(hub, "bench", NOW + timedelta(seconds=1), NOW - timedelta(days=1))
    model = save_model(work, data)
    features = {"project": "bench", "service": "item_service", "digest": applied.digest}
    plan = ServerPlan([ModelPlan("inline", "1", str(model)),
                       ModelPlan("ids", "1", str(model), features)])  # fmt: skip
    app = ServingApp(plan)
    app.load()
    assert app.ready, app.load_error
    ids = [int(i) for i in data["item_id"].sample(requests, replace=True, random_state=2)]
    by_id = data.set_index("item_id")

    def inline(i: int) -> bytes:
        inputs = [{"name": f, "shape": [1], "datatype": "FP64", "data": [float(by_id.at[i, f])]}
                  for f in FEATURES]  # fmt: skip
        return json.dumps({"inputs": inputs}).encode()

    def by_key(i: int) -> bytes:
        return json.dumps({"inputs": [{"name": "item_id", "shape": [1], "datatype": "INT64",
                                       "data": [i]}]}).encode()  # fmt: skip

    cases = {"inline": [inline(i) for i in ids], "ids": [by_key(i) for i in ids]}
    rows = []
    for clients in (1, 8):
        samples: dict[str, list[float]] = {"inline": [], "ids": []}
        p50: dict[str, list[float]] = {"inline": [], "ids": []}
        for run in range(runs):
            order = ["inline", "ids"] if run % 2 == 0 else ["ids", "inline"]
            for name in order:
                path = f"/v2/models/{name}/infer"
                asyncio.run(closed_loop(app, path, cases[name][:20], clients))  # warm-up
                lat = asyncio.run(closed_loop(app, path, cases[name], clients))
                samples[name].append(percentile(lat, 0.99))
                p50[name].append(percentile(lat, 0.5))
        base, ours = median(samples["inline"]), median(samples["ids"])
        added_ms = (ours - base) * 1000
        log(f"{clients} clients: p99 inline {base * 1000:.2f} ms, ids {ours * 1000:.2f} ms")
        row = Row(f"p99 of a one-row request, {clients} client(s): ids / inline", base, ours,
                  "<= 2", samples["inline"], samples["ids"],
                  note=f"p99 added {added_ms:.2f} ms (target <= 2 ms); p50 added "
                       f"{(median(p50['ids']) - median(p50['inline'])) * 1000:.2f} ms",
                  checked=added_ms)  # fmt: skip
        rows.append(row)
    hub.close()
    return rows


# -- (b) materialisation ---------------------------------------------------------------------
def feast_baseline(work: Path, parquet: Path) -> Any:
    """A plain Feast repo over the same Parquet file, configured as its docs show."""
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    repo = work / "feast-repo"
    shutil.rmtree(repo, ignore_errors=True)
    definitions(repo / "defs", str(parquet))
    config = RepoConfig(
        project="plain", provider="local",
        registry={"registry_type": "file", "path": str(repo / "registry.db")},
        offline_store={"type": "file"},
        online_store={"type": "sqlite", "path": str(repo / "online.db")},
        entity_key_serialization_version=3, repo_path=str(repo),
    )  # fmt: skip
    store = FeatureStore(config=config)
    namespace = runpy.run_path(str(repo / "defs" / "items.py"))
    store.apply([namespace[n] for n in ("item", "source", "item_features", "item_service")])
    return store


def materialize_rows(work: Path, rows: int, runs: int) -> Row:
    from digitalhub_airflow.features.apply import apply_definitions
    from digitalhub_airflow.features.config import work_dir
    from digitalhub_airflow.features.materialize import materialize

    data = frame(rows)
    parquet = work / "items.parquet"
    data.to_parquet(parquet, index=False)
    hub = open_hub(work / "mat-home")
    hub.commit("bench/items", parquet)
    apply_definitions(hub, definitions(work / "mat-defs", "store://bench/dataitem/table/items"))
    online = work_dir(hub) / "bench" / "online.db"
    start, end = NOW - timedelta(days=1), NOW + timedelta(seconds=1)
    samples: dict[str, list[float]] = {"feast": [], "ours": []}
    for run in range(runs):
        order = ["feast", "ours"] if run % 2 == 0 else ["ours", "feast"]
        for name in order:
            if name == "feast":
                store = feast_baseline(work, parquet)
                began = time.perf_counter()
                store.materialize(start, end)
            else:
                online.unlink(missing_ok=True)
                apply_definitions(hub, work / "mat-defs")  # recreates the online tables
                began = time.perf_counter()
                done = materialize(hub, "bench", end, start)
                assert done.rows == rows, done.rows
            samples[name].append(time.perf_counter() - began)
    hub.close()
    base, ours = median(samples["feast"]), median(samples["ours"])
    log(f"materialize {rows} rows: feast {rows / base:,.0f} rows/s, ours {rows / ours:,.0f}")
    return Row(f"materialize {rows} rows x {len(FEATURES)} features (SQLite): ours / feast",
               base, ours, "<= 1.11", samples["feast"], samples["ours"],
               note=f"rows/s ours {rows / ours:,.0f}, feast {rows / base:,.0f}, "
                    f"ratio {base / ours:.2f} (target >= 0.9)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rows, 1 run")
    parser.add_argument("--runs", type=int, help="runs per side (default 3; 1 with --quick)")
    parser.add_argument("--requests", type=int, help="requests per run (default 1000)")
    parser.add_argument("--rows", type=int, help="rows materialised (default 50,000)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    install_sigterm()
    load_before = load_note()
    runs = args.runs or (1 if args.quick else 3)
    requests = args.requests or (300 if args.quick else 1000)
    rows_n = args.rows or (10_000 if args.quick else 50_000)
    with temp_dir("dhub-bench-features-") as work:
        rows = lookup_rows(work, requests, runs)
        rows.append(materialize_rows(work, rows_n, runs))
    from benchlib import print_table

    print_table("feature store: online lookup and materialisation", rows,
                f"{load_before} (before); {load_note()} (after)")  # fmt: skip
    payload = {"runs": runs, "requests": requests, "rows": rows_n}
    return finish("bench_features", payload, rows, args.strict)


if __name__ == "__main__":
    sys.exit(main())
