"""``dhub serve``: the model server (OIP v2 REST, MLflow ``/invocations``, ``/metrics``)."""

from __future__ import annotations

import argparse

from digitalhub_airflow.cli.support import AddCommand
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.serving.runtime.app import DEFAULT_MAX_BODY_BYTES


def cmd_serve(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.serving.runtime.server import ServeOptions, serve
    from digitalhub_airflow.settings import load_settings
    from digitalhub_airflow.training.tracking import tracking_from_env

    options = ServeOptions(
        models=args.model,
        pipelines=args.pipeline,
        host=args.host,
        port=args.port,
        workers=args.workers,
        service=args.service,
        project=args.project,
        request_log=args.request_log,
        log_sample_rate=args.log_sample_rate,
        log_flush_rows=args.log_flush_rows,
        log_flush_seconds=args.log_flush_seconds,
        max_body_bytes=args.max_body_bytes,
    )
    serve(hub, tracking_from_env(load_settings().home), options)
    return 0


def register(add: AddCommand) -> None:
    """Add ``serve`` to the ``dhub`` parser."""
    p = add("serve", cmd_serve, "serve MLflow models over OIP v2 REST and /invocations")
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=REF",
        help="models:/<name>@<alias>, models:/<name>/<version>, runs:/…, any MLflow model URI "
        "or store://<project>/model/mlflow/<name>:<id> (repeatable)",
    )
    p.add_argument(
        "--pipeline", action="append", default=[], metavar="FILE", help="pipeline spec (YAML)"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--service", default="local", help="service name recorded in the request log")
    p.add_argument("--project", help="project of a --request-log given by bare name")
    p.add_argument(
        "--request-log",
        metavar="KEY",
        help="table dataset for sampled requests: store://<project>/dataitem/table/<name>",
    )
    p.add_argument("--log-sample-rate", type=float, default=0.1, help="share of requests logged")
    p.add_argument("--log-flush-rows", type=int, default=1000)
    p.add_argument("--log-flush-seconds", type=float, default=30.0)
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
