"""``dhub serve-data``: a table dataset as a REST (PostgREST-style) and GraphQL service;
``dhub deploy`` runs it as a managed service for a spec with ``kind: data``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from digitalhub_airflow.cli.support import AddCommand, port_number, positive_int, seconds

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

COMMANDS = {"serve-data": "serve a table dataset over REST and GraphQL (a version or an alias)"}


def cmd_serve_data(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.dataservice.server import DataServeOptions, serve_data

    serve_data(
        hub,
        DataServeOptions(
            dataset=args.dataset,
            host=args.host,
            port=args.port,
            workers=args.workers,
            service=args.service,
            project=args.project,
            allow_quarantined=args.allow_quarantined,
            refresh_seconds=args.refresh_seconds,
        ),
    )
    return 0


def register(add: AddCommand) -> None:
    p = add("serve-data", cmd_serve_data)
    p.add_argument(
        "--dataset",
        required=True,
        metavar="KEY",
        help="store://<project>/dataitem/table/<name>[:<version>|@<alias>] or <project>/<name>; "
        "an alias (or latest) is followed as it moves",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=8080)
    p.add_argument("--workers", type=positive_int, default=1, help="uvicorn worker processes")
    p.add_argument("--service", default="data", help="the service's name (metrics label)")
    p.add_argument("--project", help="the service's project (project tokens need READ on it)")
    p.add_argument(
        "--allow-quarantined",
        action="store_true",
        help="serve a quarantined version named explicitly (refused otherwise)",
    )
    p.add_argument(
        "--refresh-seconds", type=seconds, default=2.0, help="how often an alias is re-resolved"
    )
