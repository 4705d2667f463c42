"""Model serving: ``dhub serve`` against ``mlflow models serve`` on the same model.

One scikit-learn model (a 20-tree random forest on the wine table, trained and registered
through the product's training runner on the embedded MLflow) is served by
  baseline  ``mlflow models serve -m models:/<name>/<v> --env-manager local --workers W``,
            scored with its own format (``/invocations``, ``dataframe_split``);
  ours      ``dhub serve --model wine=models:/<name>/<v> --workers W``, scored with an
            OIP v2 ``FP64`` tensor (the numpy fast path); ``/invocations`` with the very
            body MLflow gets is reported too (informational).
Both get the same closed-loop load (:func:`closed_loop`: C aiohttp tasks each sending
one one-row request after the previous answer) for --seconds at 1, 8 and 32 clients,
after a warm-up. Runs alternate which server is measured first; medians of --runs.
Targets: throughput ratio >= 2 and p99 ratio <= 1 at every concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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

CONCURRENCY = (1, 8, 32)


# -- load generator (written once, used for every server) -----------------------------
async def _closed_loop(
    url: str, body: bytes, clients: int, seconds: float, warmup: float
) -> tuple[int, list[float]]:
    import aiohttp

    latencies: list[float] = []
    done = 0
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + seconds

        async def client() -> None:
            nonlocal done
            while True:
                sent = time.perf_counter()
                if sent >= stop:
                    return
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url} answered {response.status}")
                answered = time.perf_counter()
                if sent >= measure_from:
                    latencies.append(answered - sent)
                    done += 1

        await asyncio.gather(*(client() for _ in range(clients)))
    return done, latencies


def closed_loop(
    url: str, body: bytes, clients: int, seconds: float, warmup: float = 1.0
) -> dict[str, float]:
    """Throughput (requests/s), p50 and p99 latency (s) of ``clients`` closed loops."""
    import numpy as np

    done, latencies = asyncio.run(_closed_loop(url, body, clients, seconds, warmup))
    return {
        "throughput": done / seconds,
        "p50": float(np.percentile(latencies, 50)),
        "p99": float(np.percentile(latencies, 99)),
    }


# -- servers --------------------------------------------------------------------------
def start_mlflow(model_uri: str, env: dict[str, str], workers: int, log_dir: Path) -> Any:
    from tests.serving_helpers import RunningServer, free_port, wait_ready

    port = free_port()
    log_path = log_dir / "mlflow-serve.log"
    with log_path.open("w") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "mlflow"),
                "models",
                "serve",
                "-m",
                model_uri,
                "--env-manager",
                "local",
                "--workers",
                str(workers),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", process, log_path)
    wait_ready(server, "/ping")
    return server


def bodies(frame: Any) -> dict[str, bytes]:
    import json

    row = frame.iloc[:1]
    split = {"dataframe_split": {"columns": list(row.columns), "data": row.to_numpy().tolist()}}
    values = row.to_numpy()
    v2 = {
        "inputs": [
            {
                "name": "features",
                "shape": list(values.shape),
                "datatype": "FP64",
                "data": values.ravel().tolist(),
            }
        ]
    }
    return {"mlflow": json.dumps(split).encode(), "v2": json.dumps(v2).encode()}


#: The served models: the target is judged on the linear model, where the serving path
#: dominates; the forest's own predict (sklearn's per-tree dispatch) bounds its ratio.
MODELS: dict[str, tuple[dict[str, Any], str]] = {
    "logistic": (
        {"estimator": "logistic_regression", "preprocess": "none", "max_iter": 5000},
        "target",
    ),
    "forest": ({"estimator": "random_forest", "n_estimators": 20, "preprocess": "none"}, "info"),
}
SIDES = ("mlflow", "dhub v2", "dhub /invocations")


def measure(
    model_uri: str, env: dict[str, str], home: Path, body: dict[str, bytes], args: Any
) -> dict[tuple[str, int], list[dict[str, float]]]:
    """Both servers up side by side; every concurrency, every side, ``runs`` times."""
    from tests.serving_helpers import running_server

    samples: dict[tuple[str, int], list[dict[str, float]]] = {}
    mlflow_env = {  # it runs `uvicorn` from PATH
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    workers = str(args.workers)
    with running_server(
        env, "--model", f"wine={model_uri}", "--workers", workers, log_dir=home
    ) as ours:
        baseline = start_mlflow(model_uri, mlflow_env, args.workers, home)
        try:
            targets = {
                "mlflow": (f"{baseline.url}/invocations", body["mlflow"]),
                "dhub v2": (f"{ours.url}/v2/models/wine/infer", body["v2"]),
                "dhub /invocations": (f"{ours.url}/invocations", body["mlflow"]),
            }
            for url, payload in targets.values():  # warm every side, check answers
                closed_loop(url, payload, 1, 0.5, warmup=0.5)
            for i in range(args.runs):
                order = list(targets) if i % 2 == 0 else list(reversed(targets))
                for clients in CONCURRENCY:
                    for side in order:
                        url, payload = targets[side]
                        result = closed_loop(url, payload, clients, args.seconds)
                        samples.setdefault((side, clients), []).append(result)
                        log(
                            f"run {i + 1} {side:<18} {clients:>2} clients: "
                            f"{result['throughput']:8.0f} req/s  p50 "
                            f"{result['p50'] * 1e3:6.2f} ms  p99 {result['p99'] * 1e3:6.2f} ms"
                        )
        finally:
            baseline.stop()
    return samples


def rows_for(kind: str, judged: bool, figures: dict[str, Any]) -> list[Row]:
    rows = []
    for clients, point in figures.items():
        base, v2, inv = point["mlflow"], point["dhub v2"], point["dhub /invocations"]
        label = f"{kind} {int(clients):>2} clients"
        rows += [
            Row(
                f"{label}: req/s (v2)",
                base["throughput"],
                v2["throughput"],
                ">= 2" if judged else "-",
            ),
            Row(f"{label}: p99 s (v2)", base["p99"], v2["p99"], "<= 1" if judged else "-"),
            Row(f"{label}: p50 s (v2)", base["p50"], v2["p50"]),
            Row(f"{label}: req/s (/invocations)", base["throughput"], inv["throughput"]),
            Row(f"{label}: p99 s (/invocations)", base["p99"], inv["p99"]),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run, 3 s per point")
    parser.add_argument("--runs", type=int, help="runs per side (default 3; 1 with --quick)")
    parser.add_argument("--seconds", type=float, help="measured seconds per point (default 5)")
    parser.add_argument("--workers", type=int, default=1, help="server workers, both sides (1)")
    parser.add_argument("--only", choices=sorted(MODELS), help="one model instead of both")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.seconds = args.seconds or (3.0 if args.quick else 5.0)
    install_sigterm()
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.training.tracking import embedded_tracking
    from tests.serving_helpers import train_champion
    from tests.training_helpers import TARGET, wine_frame

    rows: list[Row] = []
    figures: dict[str, Any] = {}
    with temp_dir("bench-serving") as home:
        env = {**os.environ, "DHUB_HOME": str(home), "NO_PROXY": "127.0.0.1,localhost"}
        for name in ("DHUB_CATALOG_URL", "DHUB_STORE_URL", "DHUB_CATALOG_SCHEMA"):
            env.pop(name, None)
        os.environ.update(DHUB_HOME=str(home))
        tracking = embedded_tracking(home)
        env["MLFLOW_TRACKING_URI"] = tracking.tracking_uri
        body = bodies(wine_frame().drop(columns=[TARGET]))
        for kind, (params, role) in MODELS.items():
            if args.only and kind != args.only:
                continue
            with DataHub.from_settings() as hub:
                hub.init()
                model = train_champion(hub, tracking, params)
            log(f"{kind}: trained {model.version_uri}")
            samples = measure(model.version_uri, env, home, body, args)
            figures[kind] = {
                str(c): {
                    side: {
                        k: median([s[k] for s in samples[(side, c)]])
                        for k in ("throughput", "p50", "p99")
                    }
                    for side in SIDES
                }
                for c in CONCURRENCY
            }
            rows += rows_for(kind, role == "target", figures[kind])

    header = (
        f"{load_note()}; rev {git_revision()}; {args.workers} worker(s) each; "
        f"{args.seconds:.0f} s per point, {args.runs} run(s); baseline = mlflow models serve; "
        "req/s rows: ratio = ours/baseline throughput"
    )
    print_table("bench_serving", rows, header)
    for kind, per_clients in figures.items():
        for clients, point in per_clients.items():
            print(
                f"  {kind:<8} {clients:>2} clients  "
                + "  ".join(
                    f"{side}: {p['throughput']:.0f} req/s p50 {p['p50'] * 1e3:.2f} ms "
                    f"p99 {p['p99'] * 1e3:.2f} ms"
                    for side, p in point.items()
                )
            )
    payload = {"figures": figures, "runs": args.runs, "seconds": args.seconds}
    return finish("bench_serving", payload, rows, args.strict)


if __name__ == "__main__":
    sys.exit(main())
