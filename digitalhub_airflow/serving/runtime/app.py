"""The model server as a plain ASGI callable: OIP v2 REST, MLflow ``/invocations``,
health and Prometheus ``/metrics``.

No web framework: routing is a handful of string comparisons and prediction runs inline
on the event loop (a small model answers faster than a hop to a thread pool), which
keeps the per-request cost near the model's own. With one worker, models load in a
background thread after startup, so ``/v2/health/live`` answers at once and
``/v2/health/ready`` turns 200 when every model is loaded. With several workers each
loads before it accepts a connection: a ready answer from one worker must not send
traffic to another that is still loading. Every refusal is ``{"error": "..."}`` with a 4xx status;
the server stays up.

A client's input never gets a 500: bodies are bounded in size (413) and JSON nesting
depth (400) before they are parsed, and every parse path refuses with a one-line 4xx.
A 500 means a server fault: its body is ``{"error": "internal error", "request_id": ...}``
(also the ``x-request-id`` header), and the traceback is logged with that request id;
the exception's text never reaches the client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from digitalhub_airflow.errors import InferenceError
from digitalhub_airflow.serving.runtime.asgi import (
    Receive,
    Scope,
    Send,
    respond,
    respond_server_fault,
)
from digitalhub_airflow.serving.runtime.loaded_models import OUTPUT_NAME, LoadedModel
from digitalhub_airflow.serving.runtime.metrics import UNKNOWN_MODEL, ServingMetrics
from digitalhub_airflow.serving.runtime.pipelines import Pipeline, PipelineSpec
from digitalhub_airflow.serving.runtime.protocol import (
    decode_infer_request,
    decode_mlflow_json,
    error_body,
    infer_response,
    mlflow_predictions,
    parse_json,
)
from digitalhub_airflow.serving.runtime.request_log import RequestLog

if TYPE_CHECKING:
    from digitalhub_airflow.serving.runtime.protocol import Features

log = logging.getLogger(__name__)


def _fault_body(request_id: str) -> bytes:
    return error_body("internal error", request_id=request_id)


SERVER_NAME = "dhub-serve"
SERVER_VERSION = "1"
#: Larger request bodies are refused with 413 (``--max-body-bytes``).
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
REASONS = {400: "bad_request", 404: "not_found", 413: "payload_too_large", 415: "bad_media_type"}


class Servable(Protocol):
    name: str
    version: str

    @property
    def feature_names(self) -> list[str] | None: ...

    def metadata(self) -> dict[str, Any]: ...

    def predict(self, features: Any) -> tuple[Any, Any]: ...


@dataclass(frozen=True)
class ModelPlan:
    """A model to load: its served name, pinned version and local files; ``features``:
    the feature service its requests' entity keys are looked up in (project, service,
    the definition digest pinned at deploy, declared defaults)."""

    name: str
    version: str
    path: str
    features: dict[str, Any] | None = None


@dataclass
class ServerPlan:
    models: list[ModelPlan]
    pipelines: list[PipelineSpec] = field(default_factory=list)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


class ServingApp:
    def __init__(
        self,
        plan: ServerPlan,
        request_log: RequestLog | None = None,
        load_before_serving: bool = False,
    ) -> None:
        self.plan = plan
        self.load_before_serving = load_before_serving
        self.metrics = ServingMetrics()
        self.request_log = request_log
        self.servables: dict[str, Servable] = {}
        self.expected = [m.name for m in plan.models] + [p.name for p in plan.pipelines]
        self.ready = False
        self.load_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def load(self) -> None:
        """Load every model, then the pipelines over them (runs in a thread at startup)."""
        try:
            models: dict[str, LoadedModel] = {}
            for plan in self.plan.models:
                started = time.perf_counter()
                models[plan.name] = LoadedModel(plan.name, plan.version, Path(plan.path))
                self.servables[plan.name] = (
                    with_features(models[plan.name], plan.features)
                    if plan.features
                    else models[plan.name]
                )
                log.info(
                    "loaded model %s version %s in %.1f s (numpy fast path: %s)",
                    plan.name,
                    plan.version,
                    time.perf_counter() - started,
                    "on" if models[plan.name].fast_path else "off",
                )
            for spec in self.plan.pipelines:
                self.servables[spec.name] = Pipeline(spec, models)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("loading the models failed; the server stays not ready")
            return
        self.ready = True

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.load_before_serving:  # uvicorn accepts only after startup completes
                    await asyncio.to_thread(self.load)
                else:
                    loader = threading.Thread(target=self.load, name="dhub-model-loader")
                    loader.daemon = True
                    loader.start()
                if self.request_log is not None:
                    self.request_log.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.request_log is not None:
                    self.request_log.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- ASGI entry ------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        model_label, protocol = UNKNOWN_MODEL, "other"
        rows = 0
        try:
            if path.startswith("/v2/models/"):
                protocol = "v2"
                name, version, action = _model_route(path)
                if name in self.expected:  # label only served names: bounded label values
                    model_label = name
                servable = self._servable(name, version)
                if action == "infer":
                    _require(method, "POST")
                    body, rows = await self._infer(servable, await self._body(scope, receive))
                    await respond(send, 200, body)
                elif action == "ready":
                    _require(method, "GET")
                    await _respond_json(send, 200, {"name": name, "ready": True})
                else:
                    _require(method, "GET")
                    await _respond_json(send, 200, servable.metadata())
            elif path == "/invocations":
                protocol = "mlflow"
                _require(method, "POST")
                servable = self._invocations_target(scope)
                model_label = servable.name
                body, rows = await self._invocations(
                    scope, servable, await self._body(scope, receive)
                )
                await respond(send, 200, body)
            else:
                await self._plain_route(method, path, send)
                return
        except InferenceError as exc:
            status = exc.status
            self.metrics.error(model_label, REASONS.get(status, f"http_{status}"))
            await respond(send, status, error_body(str(exc)))
        except Exception:  # a bug or a model failure: 500, the server stays up
            status = 500
            self.metrics.error(model_label, "internal")
            await respond_server_fault(send, method, path, _fault_body, log)
        else:
            status = 200
        self.metrics.observe(model_label, protocol, status, time.perf_counter() - started, rows)

    async def _plain_route(self, method: str, path: str, send: Send) -> None:
        if method != "GET":
            await respond(send, 405, error_body(f"{method} is not allowed on {path}"))
        elif path == "/v2/health/live":
            await _respond_json(send, 200, {"live": True})
        elif path in ("/v2/health/ready", "/ping", "/health"):
            body: dict[str, Any] = {"ready": self.ready}
            if self.load_error:
                body["error"] = self.load_error
            await _respond_json(send, 200 if self.ready else 503, body)
        elif path == "/v2":
            await _respond_json(
                send, 200, {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []}
            )
        elif path == "/metrics":
            text, content_type = self.metrics.render()
            await respond(send, 200, text, content_type.encode())
        else:
            await respond(send, 404, error_body(f"no route {path}"))

    # -- requests --------------------------------------------------------------------------
    def _servable(self, name: str, version: str | None) -> Servable:
        servable = self.servables.get(name)
        if servable is None:
            if name in self.expected:
                raise InferenceError(f"model {name!r} is still loading", 503)
            raise InferenceError(
                f"model {name!r} is not served here; served: {', '.join(self.expected)}", 404
            )
        if version is not None and version != servable.version:
            raise InferenceError(
                f"model {name!r} has version {servable.version} here, not {version}", 404
            )
        return servable

    def _invocations_target(self, scope: Scope) -> Servable:
        query = scope.get("query_string", b"").decode("latin-1")
        wanted = parse_qs(query).get("model", [None])[0]
        if wanted is None:
            for header, value in scope["headers"]:
                if header in (b"model", b"x-model"):
                    wanted = value.decode("latin-1")
        if wanted is None:
            if len(self.expected) != 1:
                raise InferenceError(
                    f"this server serves {', '.join(self.expected)}; name one with ?model=NAME "
                    "or a 'model' header"
                )
            wanted = self.expected[0]
        return self._servable(wanted, None)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.plan.max_body_bytes
        for header, value in scope["headers"]:
            if header != b"content-length":
                continue
            if not value.strip().isdigit():
                raise InferenceError("the content-length header is not a number")
            if int(value) > limit:
                raise InferenceError(
                    f"the body is {int(value)} bytes; at most {limit} are accepted", 413
                )
        chunks = []
        size = 0
        more = True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise InferenceError(f"the body exceeds {limit} bytes", 413)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _infer(self, servable: Servable, body: bytes) -> tuple[bytes, int]:
        request = decode_infer_request(parse_json(body))
        logged, predictions = servable.predict(request.inputs)
        outputs = {OUTPUT_NAME: predictions}
        if request.outputs is not None:
            unknown = [n for n in request.outputs if n not in outputs]
            if unknown:
                raise InferenceError(
                    f"model {servable.name!r} has no output(s) {', '.join(unknown)}; "
                    f"its outputs are {', '.join(outputs)}"
                )
        response = infer_response(servable.name, servable.version, request.request_id, outputs)
        self._log(servable, request.request_id, logged, predictions)
        return json.dumps(response).encode(), _rows(predictions)

    async def _invocations(
        self, scope: Scope, servable: Servable, body: bytes
    ) -> tuple[bytes, int]:
        content_type = b"application/json"
        for header, value in scope["headers"]:
            if header == b"content-type":
                content_type = value.split(b";")[0].strip().lower()
        features: Features | dict[str, Any]
        if content_type == b"text/csv":
            features = _csv_columns(body)
        elif content_type == b"application/json":
            payload = parse_json(body)
            if isinstance(payload, dict) and "params" in payload:
                raise InferenceError("'params' are not supported by this server")
            features = decode_mlflow_json(payload)
        else:
            raise InferenceError(
                f"content type {content_type.decode('latin-1')!r} is not supported; "
                "send application/json or text/csv",
                415,
            )
        logged, predictions = servable.predict(features)
        self._log(servable, None, logged, predictions)
        return json.dumps(mlflow_predictions(predictions)).encode(), _rows(predictions)

    def _log(
        self, servable: Servable, request_id: str | None, features: Any, predictions: Any
    ) -> None:
        if self.request_log is not None:
            self.request_log.record(
                model=servable.name,
                model_version=servable.version,
                request_id=request_id,
                feature_names=servable.feature_names,
                features=features,
                predictions=predictions,
            )


def with_features(model: LoadedModel, features: dict[str, Any]) -> Servable:
    """``model`` behind an online lookup of the feature service pinned at deploy; a
    service whose definitions changed since is refused (redeploy to take them)."""
    from digitalhub_airflow.features.online import OnlineFeatures
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.runtime.pipelines import FeatureLookup

    with DataHub.from_settings() as hub:
        online = OnlineFeatures.open(
            hub, features["project"], features["service"], features.get("defaults")
        )
    if features.get("digest") and online.digest != features["digest"]:
        raise InferenceError(
            f"feature service {online.service!r} was re-applied (digest {online.digest[:12]}, "
            f"deployed with {features['digest'][:12]}): redeploy the model"
        )
    return FeatureLookup(model, online)


def _model_route(path: str) -> tuple[str, str | None, str | None]:
    """``/v2/models/{name}[/versions/{v}][/ready|/infer]`` -> (name, version, action)."""
    parts = path[len("/v2/models/") :].split("/")
    action = None
    if parts[-1] in ("ready", "infer") and len(parts) in (2, 4):
        action = parts.pop()
    if len(parts) == 1 and parts[0]:
        return parts[0], None, action
    if len(parts) == 3 and parts[0] and parts[1] == "versions" and parts[2]:
        return parts[0], parts[2], action
    raise InferenceError(f"no route {path}", 404)


def _require(method: str, allowed: str) -> None:
    if method != allowed:
        raise InferenceError(f"use {allowed} here, not {method}", 405)


def _rows(predictions: Any) -> int:
    return len(predictions) if getattr(predictions, "ndim", 0) else 1


def _csv_columns(body: bytes) -> dict[str, Any]:
    import csv
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, csv.Error, pd.errors.ParserError) as exc:  # UnicodeDecodeError too
        raise InferenceError(f"malformed CSV body: {exc}") from exc
    return {str(c): frame[c].to_numpy() for c in frame.columns}


async def _respond_json(send: Send, status: int, payload: Any) -> None:
    await respond(send, status, json.dumps(payload).encode())
