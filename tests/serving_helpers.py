"""Shared by the serving tests and benchmarks: a registered scikit-learn model and a real
``dhub serve`` process.

- :func:`train_champion` commits the wine table, trains a small random forest through
  the product's training runner and registers it with the ``champion`` alias, so it can be
  served as ``models:/<registered>@champion``, ``models:/<registered>/<version>`` or by its
  catalog key (``store://demo/model/mlflow/<name>:<run>``).
- :func:`running_server` starts the installed ``dhub serve`` on a free port with the
  environment given (a ``Backend.env()`` plus :func:`tracking_env`), waits for
  ``/v2/health/ready`` and stops it with SIGTERM (which flushes the request log).
- :func:`scale_features` / :func:`class_names` are pipeline steps
  (``tests.serving_helpers:scale_features``).
- :func:`fit_iris_models` fits scikit-learn iris classifiers, one with a column signature
  and one with a tensor signature; :func:`save_iris_models` saves them as MLflow models in
  a folder (no tracking server); :func:`iris_app` serves them from an in-process
  :class:`ServingApp`, and :func:`asgi_call` sends it one HTTP request without a socket.

Use from a test::

    model = train_champion(hub, tracking)
    with running_server(env, "--model", f"wine={model.alias_uri}") as server:
        httpx.post(f"{server.url}/v2/models/wine/infer", json=...)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.training.runner import train_model
from digitalhub_airflow.training.selection import registered_model_name, select_and_gate
from digitalhub_airflow.training.tracking import TrackingConfig
from tests.training_helpers import TARGET, commit_wine, model_name, request, wine_frame

REPO = Path(__file__).resolve().parent.parent
DHUB = REPO / ".venv" / "bin" / "dhub"
#: Numeric features and no pipeline: the estimator takes a numpy matrix (fast path).
FOREST = {"estimator": "random_forest", "n_estimators": 20, "preprocess": "none"}
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class TrainedModel:
    name: str
    registered: str
    version: str
    model_key: str
    feature_names: list[str]

    @property
    def alias_uri(self) -> str:
        return f"models:/{self.registered}@champion"

    @property
    def version_uri(self) -> str:
        return f"models:/{self.registered}/{self.version}"


def train_champion(
    hub: DataHub, tracking: TrackingConfig, params: dict[str, Any] | None = None
) -> TrainedModel:
    """Train on the wine table and make the model the champion of a fresh registered name."""
    version = commit_wine(hub)
    name = model_name()
    outcome = train_model(hub, tracking, request(version, name, params=params or FOREST))
    gate = select_and_gate(
        hub, tracking, project="demo", name=name, run_ids=[outcome.run_id], metric="accuracy"
    )
    assert gate.promoted, gate.reason
    features = [c for c in wine_frame().columns if c != TARGET]
    return TrainedModel(
        name,
        registered_model_name("demo", name),
        gate.registered_version,
        outcome.model_key,
        features,
    )


def tracking_env(tracking: TrackingConfig) -> dict[str, str]:
    """The ``DHUB_MLFLOW_*`` variables that point ``dhub serve`` at ``tracking``."""
    env = {"DHUB_MLFLOW_TRACKING_URI": tracking.tracking_uri}
    if tracking.registry_uri:
        env["DHUB_MLFLOW_REGISTRY_URI"] = tracking.registry_uri
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (graceful: the request log is flushed) and the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def wait_ready(
    server: RunningServer, path: str = "/v2/health/ready", timeout: float = READY_TIMEOUT_S
) -> None:
    """Until ``path`` answers 200; the server's log in the error if it exits or times out."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.url} exited {server.process.returncode}:\n{server.log_text()}"
            )
        try:
            if httpx.get(f"{server.url}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{server.url}{path} not ready in {timeout} s:\n{server.log_text()}")


@contextmanager
def running_server(
    env: dict[str, str], *args: str, log_dir: Path | None = None, timeout: float = READY_TIMEOUT_S
) -> Iterator[RunningServer]:
    """``dhub serve <args>`` on a free port of 127.0.0.1, ready, stopped on exit."""
    port = free_port()
    log_dir = log_dir or Path(env.get("DHUB_HOME") or os.getcwd())
    # Pipeline steps such as tests.serving_helpers:scale_features import from the checkout.
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))}
    log_path = log_dir / f"dhub-serve-{port}.log"
    with log_path.open("w") as out:
        process = subprocess.Popen(
            [str(DHUB), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_ready(server, timeout=timeout)
        yield server
    finally:
        server.stop()


# -- pipeline steps used by the tests ----------------------------------------------------
def scale_features(value: Any) -> Any:
    """Pre-processing: the request carries features in hundredths of their unit."""
    return value * 100.0


def class_names(predictions: Any) -> Any:
    """Post-processing: class numbers -> names."""
    import numpy as np

    names = np.array(["barolo", "grignolino", "barbera"], dtype=object)
    return names[predictions.astype(int)]


# -- an in-process server over small local models ---------------------------------------
@dataclass(frozen=True)
class AsgiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def asgi_call(app: Any, *args: Any, **kwargs: Any) -> AsgiResponse:
    """One HTTP request to the ASGI ``app`` in this process (body sent in one message);
    the arguments are :func:`asgi_request`'s."""
    import asyncio

    return asyncio.run(asgi_request(app, *args, **kwargs))


async def asgi_request(
    app: Any,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    headers: dict[str, str] | None = None,
    query: bytes = b"",
    raw_headers: list[tuple[bytes, bytes]] | None = None,
) -> AsgiResponse:
    """One HTTP request to the ASGI ``app`` from inside a running event loop (concurrent
    clients of one app)."""
    sent: list[dict[str, Any]] = []
    head = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": head + (raw_headers or []),
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return AsgiResponse(start["status"], response_headers, payload)


IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def fit_iris_models() -> dict[str, tuple[Any, Any]]:
    """Iris classifiers by served name -> (estimator, MLflow signature): ``iris`` fitted on
    a DataFrame (column signature, FP64 columns: the numpy fast path), ``iris-tensor`` on
    a numpy array (tensor signature float64 ``[-1, 4]``, as KServe's example model)."""
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(x, columns=IRIS_COLUMNS)
    fitted = {}
    for name, features in (("iris", frame), ("iris-tensor", x)):
        model = LogisticRegression(max_iter=500).fit(features, y)
        fitted[name] = (model, infer_signature(features, model.predict(features)))
    return fitted


def save_iris_models(folder: Path) -> dict[str, Path]:
    """:func:`fit_iris_models` saved as MLflow models under ``folder`` (no tracking)."""
    import mlflow.sklearn

    paths = {}
    for name, (model, signature) in fit_iris_models().items():
        paths[name] = folder / name
        mlflow.sklearn.save_model(
            model,
            str(paths[name]),
            signature=signature,
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],  # not inferred: that runs the model again
        )
    return paths


def iris_app(folder: Path) -> Any:
    """A loaded, ready :class:`ServingApp` serving :func:`save_iris_models`'s models."""
    from digitalhub_airflow.serving.runtime.app import ModelPlan, ServerPlan, ServingApp

    paths = save_iris_models(folder)
    plan = ServerPlan([ModelPlan(name, "1", str(path)) for name, path in paths.items()])
    app = ServingApp(plan)
    app.load()
    assert app.ready, app.load_error
    return app
