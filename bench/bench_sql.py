"""The SQL endpoint and Flight against the same work done directly.

A version of ``--rows`` rows (10M; 1M with --quick) of four numeric columns is committed
to a fresh embedded hub; ``dhub sql-server`` and ``dhub flight-server`` serve it from
their own processes, as in production. Measured, alternating order, per side:

  (a) a filtered, ordered page of 100 rows (``WHERE a > … ORDER BY b DESC LIMIT 100``)
      over the wire protocol with psycopg, ``--queries`` times: p50 and p99; baseline the
      same DuckDB query in this process on the same Arrow table. Target p99 <= 2x (the
      network and protocol are in ours only).
  (b) the whole version over Flight (``do_get`` + ``read_all``), warm (the server holds
      the version in memory after its first read; that first read is reported too);
      baseline ``pyarrow.parquet.read_table`` of the version's files. Target >= 0.5x the
      throughput (seconds ratio <= 2).
  (c) ``COPY big TO STDOUT`` read by the real ``psql`` into /dev/null, rows/s; baseline
      ``psql`` reading the same rows from a real PostgreSQL server (``DHUB_TEST_PG_URL``;
      skipped without it). Informational: the ratio is reported.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import Row, finish, install_sigterm, load_note, log, print_table, temp_dir

from digitalhub_airflow.access import Principal
from digitalhub_airflow.access.tokens import issue
from tests.integration.endpoints_testlib import find_psql

PAGE = "SELECT * FROM big WHERE a > 0.25 ORDER BY b DESC, id LIMIT 100"
DHUB = Path(sys.executable).with_name("dhub")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_table(rows: int) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(7)
    return pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "a": rng.random(rows),
            "b": rng.integers(0, 1_000_000, rows, dtype=np.int64),
            "c": rng.standard_normal(rows),
        }
    )


def start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([str(DHUB), *args], env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # "listening on …"
    return proc


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_page(dsn: str, table: Any, queries: int) -> list[Row]:
    import duckdb
    import psycopg

    local = duckdb.connect()
    local.register("big", table)
    ours: list[float] = []
    base: list[float] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(PAGE).fetchall()  # the server loads the version once
        local.sql(PAGE).fetchall()
        for i in range(queries):
            for side in ("ours", "base") if i % 2 else ("base", "ours"):
                t0 = time.perf_counter()
                rows = (
                    conn.execute(PAGE).fetchall() if side == "ours" else local.sql(PAGE).fetchall()
                )
                (ours if side == "ours" else base).append(time.perf_counter() - t0)
                assert len(rows) == 100
    return [
        Row("page of 100 rows, p50", statistics.median(base), statistics.median(ours), "-"),
        Row("page of 100 rows, p99", percentile(base, 0.99), percentile(ours, 0.99), "<= 2"),
    ]


def bench_flight(port: int, token: str, files: list[Path], runs: int) -> list[Row]:
    import json

    import pyarrow.flight as fl
    import pyarrow.parquet as pq

    client = fl.FlightClient(f"grpc://127.0.0.1:{port}")
    options = fl.FlightCallOptions(headers=[client.authenticate_basic_token("bench", token)])
    ticket = fl.Ticket(json.dumps({"project": "bench", "table": "big"}).encode())
    t0 = time.perf_counter()
    nbytes = client.do_get(ticket, options).read_all().nbytes
    first = time.perf_counter() - t0
    ours, base = [], []
    for i in range(runs):
        for side in ("ours", "base") if i % 2 else ("base", "ours"):
            t0 = time.perf_counter()
            if side == "ours":
                client.do_get(ticket, options).read_all()
            else:
                pq.read_table([str(f) for f in files]) if len(files) > 1 else pq.read_table(
                    files[0]
                )
            (ours if side == "ours" else base).append(time.perf_counter() - t0)
    gbps = nbytes / statistics.median(ours) / 1e9
    return [
        Row(
            "whole version over Flight (warm)",
            statistics.median(base),
            statistics.median(ours),
            "<= 2",
            base,
            ours,
            note=f"{gbps:.2f} GB/s of Arrow; first read {first:.2f} s",
        )
    ]


def bench_copy(dsn: str, table: Any, runs: int, tmp: Path) -> list[Row]:
    import pyarrow.csv as pcsv

    psql = find_psql()
    server = os.environ.get("DHUB_TEST_PG_URL")
    if psql is None or not server:
        return [Row("COPY TO STDOUT via psql", None, None, skipped="no psql or DHUB_TEST_PG_URL")]
    csv = tmp / "big.csv"
    pcsv.write_csv(table, csv, pcsv.WriteOptions(include_header=False))
    name = f"bench_sql_{secrets.token_hex(4)}"
    for command in (
        f"CREATE TABLE {name} (id bigint, a float8, b bigint, c float8)",
        f"\\copy {name} FROM '{csv}' CSV",
    ):
        subprocess.run([psql, server, "-X", "-q", "-c", command], check=True)
    try:
        ours, base = [], []
        for i in range(runs):
            for side in ("ours", "base") if i % 2 else ("base", "ours"):
                url, what = (dsn, "big") if side == "ours" else (server, name)
                t0 = time.perf_counter()
                subprocess.run(
                    [psql, url, "-X", "-c", f"COPY {what} TO STDOUT"],
                    stdout=subprocess.DEVNULL,
                    check=True,
                )
                (ours if side == "ours" else base).append(time.perf_counter() - t0)
    finally:
        subprocess.run([psql, server, "-X", "-q", "-c", f"DROP TABLE {name}"], check=False)
    rate = table.num_rows / statistics.median(ours)
    theirs = table.num_rows / statistics.median(base)
    return [
        Row(
            "COPY TO STDOUT via psql",
            statistics.median(base),
            statistics.median(ours),
            "-",
            base,
            ours,
            note=f"{rate / 1e6:.2f} M rows/s (PostgreSQL {theirs / 1e6:.2f})",
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M rows, one run each")
    parser.add_argument("--rows", type=int, help="rows of the version (10M; 1M with --quick)")
    parser.add_argument("--runs", type=int, help="runs per side (3; 1 with --quick)")
    parser.add_argument("--queries", type=int, default=200, help="page queries per side")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args()
    install_sigterm()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    runs = args.runs or (1 if args.quick else 3)
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.settings import load_settings

    with temp_dir("dhub-bench-sql-") as tmp:
        secret = secrets.token_hex(32)
        env = {**os.environ, "DHUB_HOME": str(tmp / "home"), "DHUB_TOKEN_SECRET": secret}
        env.pop("DHUB_CATALOG_URL", None), env.pop("DHUB_STORE_URL", None)
        os.environ.update(DHUB_HOME=env["DHUB_HOME"])
        table = make_table(rows)
        log(f"committing {rows:,} rows")
        with DataHub.from_settings(load_settings()) as hub:
            hub.init()
            key = hub.commit("bench/big", table).key
            files = hub.get(key, tmp / "files")
        token = issue(Principal("bench", is_admin=True), secret.encode(), 3600)
        sql_port, flight_port = free_port(), free_port()
        servers = [
            start(env, "sql-server", "--port", str(sql_port)),
            start(env, "flight-server", "--port", str(flight_port)),
        ]
        try:
            dsn = f"postgresql://bench:{token}@127.0.0.1:{sql_port}/bench"
            log("page queries")
            results = bench_page(dsn, table, args.queries if not args.quick else 50)
            log("Flight bulk reads")
            results += bench_flight(flight_port, token, files, runs)
            log("COPY via psql")
            results += bench_copy(dsn, table, runs, tmp)
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait(timeout=30)
    print_table(f"SQL endpoint and Flight, {rows:,} rows", results, load_note())
    return finish("bench_sql", {"rows": rows, "runs": runs}, results, args.strict)


if __name__ == "__main__":
    sys.exit(main())
