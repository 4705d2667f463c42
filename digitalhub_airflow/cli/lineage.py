"""``dhub`` commands for lineage and transforms: lineage, query, reproduce."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.cli.support import AddCommand, count, emit

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

#: The commands of this module and their one-line help (``dhub --help`` lists them
#: without importing what they need).
COMMANDS = {
    "lineage": "where a version came from and what it fed (or a run's)",
    "query": "SQL over dataset versions: SELECT … FROM ds('store://…')",
    "reproduce": "re-run a recorded transform; same version id?",
}


PREVIEW_ROWS = 20


def cmd_lineage(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.lineage.graph import lineage_graph

    direction = args.direction or "both"
    graph = lineage_graph(hub, args.key, direction, args.depth)
    fmt = "json" if args.json else args.format
    if fmt == "json":
        emit(argparse.Namespace(json=True), graph.to_json(), "")
    else:
        print(graph.to_dot() if fmt == "dot" else graph.to_text())
    return 0


def cmd_query(hub: DataHub, args: argparse.Namespace) -> int:
    import uuid

    from digitalhub_airflow.access import Principal
    from digitalhub_airflow.access.tokens import from_environment
    from digitalhub_airflow.lineage.runs import RunSpec
    from digitalhub_airflow.query.sql import authorize_query, run_query
    from digitalhub_airflow.transforms.transform import SQL, Transform, pin_inputs, run_transform

    principal = Principal.of_user(args.user, args.role) if args.user else from_environment()
    if args.target:
        transform = Transform(output=args.target, kind=SQL, query=args.sql, message=args.message)
        project = hub.key(args.target).project if args.target.startswith("store://") else None
        project = project or args.target.partition("/")[0]
        authorize_query(hub.catalog, principal, args.sql, into=project)
        spec = RunSpec(
            project=project,
            name="query",
            uid=uuid.uuid4().hex[:16],
            kind=SQL,
        )
        result = run_transform(hub, transform, spec)
        verb = "cache hit, reusing" if result.cache_hit else "committed"
        emit(args, result.to_json(), f"{verb} {result.output.key} (run {result.run})")
        return 0
    transform = Transform(output="store://query/dataitem/table/preview", kind=SQL, query=args.sql)
    authorize_query(hub.catalog, principal, args.sql)
    pinned = pin_inputs(hub, transform.inputs)
    table = run_query(args.sql, {k: hub.read_table(v.key) for k, v in pinned.items()})
    rows = [{k: plain(v) for k, v in row.items()} for row in table.slice(0, args.limit).to_pylist()]
    text = table.slice(0, args.limit).to_pandas().to_string(index=False)
    more = f"\n({table.num_rows} rows)" if table.num_rows > args.limit else ""
    emit(args, {"inputs": {k: v.key for k, v in pinned.items()}, "rows": rows}, text + more)
    return 0


def plain(value: Any) -> Any:
    """SQL ``sum`` gives a 128-bit integer, which Arrow hands over as a Decimal."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def cmd_reproduce(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.transforms.reproduce import reproduce

    report = reproduce(hub, args.key)
    verdict = "same version id" if report.same else "DIFFERENT version id"
    lines = [
        f"run {report.run}",
        f"recorded   {report.output}",
        f"reproduced {report.reproduced_version_id}: {verdict}",
    ]
    if report.code_changed:
        lines.append("note: the function's source changed since the recorded run")
    emit(args, report.to_json(), "\n".join(lines))
    return 0 if report.same else 1


def register(add: AddCommand) -> None:
    """Add the lineage commands to the ``dhub`` parser."""
    p = add("lineage", cmd_lineage)
    p.add_argument("key", help="a version (store://…:v2, @alias, latest) or a run key")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--upstream", dest="direction", action="store_const", const="upstream")
    way.add_argument("--downstream", dest="direction", action="store_const", const="downstream")
    p.add_argument("--depth", type=int, default=5, help="version steps to follow (default 5)")
    p.add_argument("--format", choices=["text", "json", "dot"], default="text")
    p = add("query", cmd_query)
    p.add_argument("sql", help="one SELECT; name each dataset as ds('<key>')")
    p.add_argument("--target", help="commit the result as a version of this table dataset")
    p.add_argument("-m", "--message", default="")
    p.add_argument("--limit", type=count, default=PREVIEW_ROWS, help="rows to print")
    p.add_argument("--as", dest="user", help="run with this user's grants (docs/access.md)")
    p.add_argument("--role", action="append", default=[], help="a role of --as USER")
    p = add("reproduce", cmd_reproduce)
    p.add_argument("key", help="a version a transform produced, or the transform's run key")
