"""Data service: a filtered, ordered page of 100 rows of a 10M-row version over REST,
against the same DuckDB query in process.

One table (``id`` int64, ``x`` float64, ``k`` int64 in 0..999) of --rows rows (10M;
1M with --quick) is committed to an embedded hub and served by ``dhub serve-data`` (a
real process, real HTTP, one worker). Each request asks
``/v1/rows?select=id,x,k&k=eq.<K>&order=x.desc&limit=100`` (K rotates, JSON out);
  baseline  the same SELECT … WHERE k = ? ORDER BY x DESC LIMIT 100 run by DuckDB in
            this process on the same rows (a native table, as the service holds them),
            fetched as Arrow;
  network   ``GET /v2/health/live`` on the same connection: the HTTP round trip alone.
Requests are sequential on one keep-alive connection, sides alternating in blocks;
p50 and p99 of each. Target: p99(REST) <= 2 x p99(DuckDB) + p99(network).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import Row, finish, install_sigterm, load_note, log, print_table, temp_dir

QUERY = "select=id,x,k&k=eq.{k}&order=x.desc&limit=100"
SQL = "SELECT id, x, k FROM t WHERE k = ? ORDER BY x DESC LIMIT 100"
BLOCK = 20


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def write_table(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    table = pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "x": rng.random(rows),
            "k": rng.integers(0, 1000, rows, dtype=np.int64),
        }
    )
    pq.write_table(table, path, row_group_size=1 << 20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M rows, 200 requests a side")
    parser.add_argument("--rows", type=int, help="rows of the version (10,000,000)")
    parser.add_argument("--requests", type=int, help="requests a side (1000; 200 with --quick)")
    parser.add_argument("--runs", type=int, default=1, help="ignored: one long run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    install_sigterm()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    requests = args.requests or (200 if args.quick else 1000)
    load_before = load_note()

    import duckdb
    import httpx

    from digitalhub_airflow.catalog import Catalog
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.store import LocalBlobStore

    with temp_dir("dhub-bench-data-") as work:
        source = work / "big.parquet"
        log(f"writing {rows:,} rows")
        write_table(source, rows)
        env = {
            **os.environ,
            "DHUB_HOME": str(work / "home"),
            "DHUB_CATALOG_URL": f"sqlite:///{work / 'catalog.sqlite'}",
            "DHUB_STORE_URL": str(work / "store"),
        }
        with DataHub(
            Catalog(env["DHUB_CATALOG_URL"]), LocalBlobStore(env["DHUB_STORE_URL"])
        ) as hub:
            hub.init()
            key = hub.commit("bench/big", source).version.key
        port = free_port()
        log(f"starting dhub serve-data on :{port}")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "digitalhub_airflow.cli",
                "serve-data",
                "--dataset",
                key,
                "--port",
                str(port),
                "--service",
                "big",
                "--project",
                "bench",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        baseline = duckdb.connect()
        baseline.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{source}')")
        ours: list[float] = []
        base: list[float] = []
        network: list[float] = []
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, timeout=60) as client:
                deadline = time.monotonic() + 600
                while True:
                    try:
                        if client.get("/v2/health/ready").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("dhub serve-data did not become ready")
                    time.sleep(0.5)
                for i in range(requests + BLOCK):  # the first block is a warm-up
                    k = i % 1000
                    sides = (
                        ("rest", "duckdb", "net") if (i // BLOCK) % 2 else ("net", "duckdb", "rest")
                    )
                    for side in sides:
                        t0 = time.perf_counter()
                        if side == "rest":
                            response = client.get(f"/v1/rows?{QUERY.format(k=k)}")
                            assert response.status_code == 200 and len(response.json()) == 100
                        elif side == "duckdb":
                            table = baseline.sql(SQL, params=[k]).to_arrow_table()
                            assert table.num_rows == 100
                        else:
                            client.get("/v2/health/live")
                        took = time.perf_counter() - t0
                        if i >= BLOCK:
                            {"rest": ours, "duckdb": base, "net": network}[side].append(took)
        finally:
            server.terminate()
            server.wait(30)
            baseline.close()

    p99 = {
        name: quantile(v, 0.99) for name, v in (("rest", ours), ("duckdb", base), ("net", network))
    }
    budget = 2 * p99["duckdb"] + p99["net"]
    table_rows = [
        Row(
            "p50, REST page vs DuckDB query",
            quantile(base, 0.5),
            quantile(ours, 0.5),
            note=f"network p50 {quantile(network, 0.5) * 1000:.2f} ms",
        ),
        Row(
            "p99, REST page vs DuckDB query",
            p99["duckdb"],
            p99["rest"],
            "<= 1",
            base,
            ours,
            checked=p99["rest"] / budget,
            note=f"checked: p99 REST / (2 x p99 DuckDB + p99 network {p99['net'] * 1000:.2f} ms)",
        ),
    ]
    header = (
        f"{rows:,} rows, {requests} requests a side, one keep-alive connection\n"
        f"{load_before} at start, {load_note()} at end"
    )
    print_table("data service: filtered, ordered page of 100 rows", table_rows, header)
    return finish(
        "bench_dataservice", {"rows": rows, "requests": requests}, table_rows, args.strict
    )


if __name__ == "__main__":
    sys.exit(main())
