"""Catalog pages under load of history: 10,000 versions, a 20-deep lineage chain.

One embedded catalog (SQLite + a folder) holds:
  * ``demo/big``: 10,000 versions. They are written as catalog rows in bulk (the pages
    read only the catalog; 10,000 real commits would take minutes and measure commit);
  * ``demo/c00`` .. ``demo/c20``: 21 datasets each made from the previous one by a
    recorded run (``lineage.runs.record_run``), so ``c20``'s upstream is 20 deep.
The app is the plugin's FastAPI app (authentication included, a viewer's Airflow JWT)
under FastAPI's TestClient, in process. Measured per page, --requests requests each
(default 200; 50 with --quick; times --runs), alternating pages request by request; the
median is reported:

  baseline  ``/dhub/ui/`` (projects): a trivial page of the same app
  ours      the versions page of ``demo/big`` (first page, and a page deep in history
            through the cursor), the lineage page of ``c20`` at depth 20, and the same
            three as JSON from the API; the model page (40 trained runs, 20 registry
            versions), the services page, a search; and drawing a 500-node lineage
            graph (mapped runs expanded: layout + the page's template, no catalog).

Target: each page within 10x of the trivial page.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
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

sys.path.insert(0, str(REPO))

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store import LocalBlobStore
from tests.ui_testlib import airflow_tokens, catalog_app, fan_in, render_lineage

TARGET = "<= 10"
VERSIONS = 10_000
CHAIN = 20
RUNS = 40


def build_history(hub: DataHub, folder: Path, versions: int) -> None:
    """``demo/big`` with ``versions`` versions: one real commit, the rest as bulk rows."""
    import hashlib

    from sqlalchemy import insert, select, update

    from digitalhub_airflow.catalog.models import Alias, Dataset, Version, utcnow

    source = folder / "big.csv"
    source.write_text("id,value\n1,0.5\n", encoding="utf-8")
    first = hub.commit("store://demo/dataitem/table/big", source, message="seed").version
    now = utcnow()
    with hub.catalog.session() as session:
        seed = session.scalars(select(Version).where(Version.version_id == first.version_id)).one()
        rows = [
            {
                "dataset_id": seed.dataset_id,
                "seq": seq,
                "version_id": hashlib.blake2b(str(seq).encode(), digest_size=32).hexdigest(),
                "kind": seed.kind,
                "format": seed.format,
                "schema_json": seed.schema_json,
                "schema_digest": seed.schema_digest,
                "row_count": seq,
                "size_bytes": 1000 + seq,
                "file_count": 1,
                "parent_id": None,
                "message": f"version {seq}",
                "producer": {"dag_id": "bench", "run_id": f"run_{seq}", "task_id": "load"},
                "created_by": "bench",
                "created_at": now,
            }
            for seq in range(2, versions + 1)
        ]
        session.execute(insert(Version), rows)
        newest = session.scalar(select(Version.id).where(Version.seq == versions))
        session.execute(
            update(Dataset).where(Dataset.id == seed.dataset_id).values(latest_seq=versions)
        )
        session.execute(
            update(Alias)
            .where(Alias.dataset_id == seed.dataset_id, Alias.name == "latest")
            .values(version_pk=newest)
        )


def build_chain(hub: DataHub, folder: Path, depth: int) -> str:
    """``c00`` -> run -> ``c01`` -> ... -> ``c<depth>``; the last version's key."""
    from digitalhub_airflow.catalog.models import utcnow
    from digitalhub_airflow.lineage.runs import SUCCESS, RunOutcome, RunSpec, record_run

    previous = None
    for i in range(depth + 1):
        source = folder / f"c{i:02d}.csv"
        source.write_text(f"id,step\n1,{i}\n", encoding="utf-8")
        key = hub.commit(f"store://demo/dataitem/table/c{i:02d}", source).key
        if previous is not None:
            spec = RunSpec("demo", f"step{i:02d}", f"{i:08x}", dag_id="bench_chain")
            with hub.catalog.session() as session:
                record_run(session, spec, RunOutcome(SUCCESS, [previous], [key]), utcnow())
        previous = key
    assert previous is not None
    return previous


def build_models(hub: DataHub, runs: int) -> None:
    """``demo/clf``: ``runs`` trained runs, every other one registered by a gate decision."""
    from digitalhub_airflow.catalog.models import GateDecision
    from digitalhub_airflow.training.model_catalog import ModelRecord, record_model

    for i in range(runs):
        run_id = f"{i:032x}"
        record_model(
            hub,
            ModelRecord(
                f"store://demo/model/mlflow/clf:{run_id}", "demo", "clf", run_id, "1",
                "http://mlflow:5000", f"runs:/{run_id}/m", "train.py", "c0de", f"cache{i}",
                {"depth": i}, {"accuracy": i / runs}, ["store://demo/dataitem/table/c00:v1"],
                "y", "classification",
            ),
        )  # fmt: skip
    with hub.catalog.session() as session:
        for i in range(0, runs, 2):
            run_id = f"{i:032x}"
            session.add(
                GateDecision(
                    model_key=f"store://demo/model/mlflow/clf:{run_id}", run_id=run_id,
                    registered_name="demo.clf", registered_version=str(i // 2 + 1),
                    alias="champion", metric="accuracy", greater_is_better=True,
                    search_value=i / runs, candidate_value=i / runs,
                    champion_version=str(i // 2) if i else None,
                    champion_value=(i - 2) / runs if i else None,
                    evaluation_dataset="store://demo/dataitem/table/c01:v1", promoted=True,
                    reason="better", actor="bench",
                )
            )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 requests per page")
    parser.add_argument("--requests", type=int, help="requests per page (200; 50 with --quick)")
    parser.add_argument("--runs", type=int, default=1, help="rounds of --requests per page (1)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    install_sigterm()
    load_before = load_note()
    revision = git_revision()
    requests = (args.requests or (50 if args.quick else 200)) * max(args.runs, 1)
    for name in ("httpx", "httpx2"):  # one log line per request would swamp the table
        logging.getLogger(name).setLevel(logging.WARNING)

    from fastapi.testclient import TestClient

    with temp_dir("dhub-bench-ui-") as work:
        hub = DataHub(
            Catalog(f"sqlite:///{work / 'catalog.sqlite'}"), LocalBlobStore(work / "store")
        )
        hub.init()
        log(f"writing {VERSIONS} versions and a {CHAIN}-deep lineage chain under {work}")
        build_history(hub, work, VERSIONS)
        last = build_chain(hub, work, CHAIN)
        chain_ref = last.rsplit(":", 1)[1]
        build_models(hub, RUNS)
        outer = catalog_app(hub)
        big_graph = fan_in(mapped=166, inputs=166)
        drawing_500 = "lineage drawing, 500 nodes (expanded)"
        headers = {"Authorization": f"Bearer {airflow_tokens()['viewer']}"}
        deep = VERSIONS // 2
        pages = {
            "trivial": "/dhub/ui/",
            "versions page (10,000 versions)": "/dhub/ui/datasets/demo/table/big",
            "versions page, deep cursor": f"/dhub/ui/datasets/demo/table/big?before_seq={deep}",
            "lineage page (20-deep chain)": (
                f"/dhub/ui/datasets/demo/table/c{CHAIN:02d}/versions/{chain_ref}/lineage"
                f"?direction=upstream&depth={CHAIN}"
            ),
            "versions API (JSON)": "/dhub/api/v1/datasets/demo/table/big/versions",
            "lineage API (JSON)": (
                f"/dhub/api/v1/datasets/demo/table/c{CHAIN:02d}/versions/{chain_ref}/lineage"
                f"?direction=upstream&depth={CHAIN}"
            ),
            f"model page ({RUNS} runs)": "/dhub/ui/models/demo/clf",
            "services page": "/dhub/ui/services",
            "search page": "/dhub/ui/search?q=c1",
            drawing_500: "",
        }
        samples: dict[str, list[float]] = {name: [] for name in pages}
        with TestClient(outer) as client:
            for url in pages.values():  # warm up; and check each page really works
                if not url:
                    continue
                response = client.get(url, headers=headers)
                if response.status_code != 200:
                    raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")
            lineage = client.get(pages["lineage API (JSON)"], headers=headers).json()
            if len(lineage["nodes"]) != 2 * CHAIN + 1:
                raise SystemExit(f"lineage has {len(lineage['nodes'])} nodes, not {2 * CHAIN + 1}")
            for i in range(requests):
                order = list(pages.items())
                for name, url in order if i % 2 == 0 else reversed(order):
                    t0 = time.perf_counter()
                    if url:
                        client.get(url, headers=headers)
                    else:
                        render_lineage(big_graph, frozenset({"d.split"}))
                    samples[name].append(time.perf_counter() - t0)
        hub.close()

    base = median(samples["trivial"])
    rows = [
        Row(
            name,
            base,
            median(values),
            TARGET,
            samples["trivial"],
            values,
            note=f"{median(values) * 1000:.1f} ms",
        )
        for name, values in samples.items()
        if name != "trivial"
    ]
    header = (
        f"{requests} requests per page, alternating; median; trivial page {base * 1000:.1f} ms"
        f"\n{load_before} at start, {load_note()} at end; product {revision}"
    )
    print_table(f"bench_ui{' (quick)' if args.quick else ''}", rows, header)
    return finish(
        "bench_ui",
        {
            "quick": args.quick,
            "requests": requests,
            "versions": VERSIONS,
            "chain_depth": CHAIN,
            "pages": pages,
            "samples_s": samples,
            "load_at_start": load_before,
            "product_revision_measured": revision,
        },
        rows,
        args.strict,
    )


if __name__ == "__main__":
    sys.exit(main())
