"""A run as the catalog's run page and API show it: what ran, where in Airflow, and the
versions it consumed and produced, each labelled like a lineage node.

Versions of projects the asker may not read are left out and counted in ``hidden``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.keys import Key, parse_key
from digitalhub_airflow.lineage.graph import describe_nodes
from digitalhub_airflow.lineage.runs import get_run

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


def run_key(project: str, kind: str, name: str, run_id: str) -> Key:
    """The run key URL segments name (validated: a bad segment is a 400)."""
    return Key(project, "run", kind, name, version=run_id)


def run_detail(hub: DataHub, key: Key, projects: Collection[str] | None) -> dict[str, Any]:
    """The run with ``inputs`` and ``outputs`` as ``[{"key", "label", "seq", ...}]``."""
    run = get_run(hub, key)
    visible = {
        side: [k for k in run[side] if projects is None or parse_key(k).project in projects]
        for side in ("inputs", "outputs")
    }
    hidden = len(run["inputs"]) + len(run["outputs"]) - sum(map(len, visible.values()))
    with hub.catalog.session() as session:
        described = describe_nodes(session, {k for keys in visible.values() for k in keys})
    return {
        **run,
        **{side: [described[k] for k in keys] for side, keys in visible.items()},
        "hidden": hidden,
    }
