"""``dhub report``: a version's profile and validation results as one self-contained
HTML file, to share without the UI."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from digitalhub_airflow.cli.support import AddCommand, emit

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

COMMANDS = {"report": "write a version's profile and validation results as one HTML file"}


def cmd_report(hub: DataHub, args: argparse.Namespace) -> int:
    from pathlib import Path

    from digitalhub_airflow.errors import InvalidOptionError
    from digitalhub_airflow.reports.contents import gather
    from digitalhub_airflow.reports.html import render

    contents = gather(hub, args.key, profile_missing=not args.no_profile)
    version = contents.version
    name = version["dataset"].rsplit("/", 1)[-1]
    path = Path(args.output or f"{name}-v{version['seq']}.html")
    try:
        path.write_text(render(contents), encoding="utf-8")
    except OSError as exc:
        raise InvalidOptionError(f"cannot write the report to {path}: {exc.strerror}") from None
    emit(args, {"key": version["key"], "path": str(path)}, f"{version['key']} -> {path}")
    return 0


def register(add: AddCommand) -> None:
    p = add("report", cmd_report)
    p.add_argument("key", help="the version: store://…:<id>, <project>/<name>:vN, @alias …")
    p.add_argument("-o", "--output", help="the HTML file (default: <name>-v<N>.html)")
    p.add_argument(
        "--no-profile",
        action="store_true",
        help="do not profile a version never profiled (the report says it has no profile)",
    )
