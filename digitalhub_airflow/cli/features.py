"""``dhub features``: the feature store (Feast) over catalog datasets.

``apply`` registers definitions from git, ``materialize`` loads the online store,
``training-set`` commits a point-in-time-correct join, ``online`` looks features up,
``list`` shows what is registered and the recorded applies.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from digitalhub_airflow.cli.support import AddCommand, emit
from digitalhub_airflow.errors import InvalidOptionError

if TYPE_CHECKING:
    from datetime import datetime

    from digitalhub_airflow.hub import DataHub

COMMANDS = {"features": "feature store: apply definitions, materialize, training sets, lookups"}


def moment(text: str) -> datetime:
    """An ISO-8601 time (UTC unless it says otherwise), or ``now``."""
    from datetime import datetime, timezone

    if text == "now":
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def cmd_features(hub: DataHub, args: argparse.Namespace) -> int:
    raise InvalidOptionError("name an action: apply, materialize, training-set, online, list")


def cmd_apply(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.features.apply import apply_definitions

    result = apply_definitions(hub, args.folder, args.project)
    views = ", ".join(result.definitions["feature_views"])
    pins = "\n".join(f"  {s.name}: {s.version}" for s in result.sources)
    text = f"applied {views} to {result.project} (digest {result.digest[:12]}, run {result.run})"
    emit(args, result.to_json(), f"{text}\n{pins}")
    return 0


def cmd_materialize(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.features.materialize import materialize

    result = materialize(hub, args.project, args.end, args.start, args.view or None)
    text = f"materialized {', '.join(result.views)}: {result.rows} rows (run {result.run})"
    emit(args, result.to_json(), text)
    return 0


def cmd_training_set(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.features.training_set import build_training_set

    result = build_training_set(
        hub,
        args.service,
        args.entities,
        args.target,
        timestamp=args.timestamp_column,
        message=args.message,
    )
    text = f"committed {result.key} ({result.version.row_count} rows, digest {result.digest[:12]})"
    emit(args, result.to_json(), text)
    return 0


def cmd_online(hub: DataHub, args: argparse.Namespace) -> int:
    import json

    from digitalhub_airflow.features.online import OnlineFeatures

    try:
        rows = json.loads(args.entities)
    except ValueError as exc:
        raise InvalidOptionError(f"--entities is not JSON: {exc}") from exc
    if not isinstance(rows, dict):
        raise InvalidOptionError('--entities must be a JSON object: {"wine_id": [7, 9]}')
    features = OnlineFeatures.open(hub, args.project, args.service).lookup(rows)
    lines = [f"{name}: {values}" for name, values in features.items()]
    emit(args, features, "\n".join(lines))
    return 0


def cmd_list(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.browse.features import feature_overview

    overview = feature_overview(hub, args.project)
    lines = [
        f"{v['name']:<24} {', '.join(v['features'])}  <- {v['version'] or v['key']}  "
        f"(materialized to {v['materialized_to'] or 'never'})"
        for v in overview["feature_views"]
    ]
    lines += [f"service {s['name']}: {', '.join(s['views'])}" for s in overview["services"]]
    emit(args, overview, "\n".join(lines) or f"no feature views in {args.project}")
    return 0


def register(add: AddCommand) -> None:
    """Add ``features`` and its sub-commands to the ``dhub`` parser."""
    parser = add("features", cmd_features)
    sub = parser.add_subparsers(dest="features_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")

    def action(name: str, func: object, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = action("apply", cmd_apply, "register the definitions in a folder (entities, views …)")
    p.add_argument("folder", help="folder of Feast definitions (dags/features/)")
    p.add_argument("--project", help="catalog project (default: the sources' project)")
    p = action("materialize", cmd_materialize, "load the online store (incremental by default)")
    p.add_argument("project")
    p.add_argument("--end", type=moment, default="now", help="ISO-8601 time or now")
    p.add_argument("--start", type=moment, help="ISO-8601 time: a full window, not incremental")
    p.add_argument("--view", action="append", default=[], help="a feature view (repeatable)")
    p = action("training-set", cmd_training_set, "point-in-time join, committed as a version")
    p.add_argument("service", help="feature service name")
    p.add_argument("--entities", required=True, help="dataset of entity keys + event times")
    p.add_argument("--target", required=True, help="dataset to commit to (<project>/<name>)")
    p.add_argument("--timestamp-column", default="event_timestamp")
    p.add_argument("-m", "--message", default="")
    p = action("online", cmd_online, "look up online features for entity keys")
    p.add_argument("project")
    p.add_argument("service")
    p.add_argument("--entities", required=True, help='JSON: {"wine_id": [7, 9]}')
    p = action("list", cmd_list, "feature views, their source versions and freshness")
    p.add_argument("project")
