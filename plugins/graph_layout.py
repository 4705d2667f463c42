"""Drawing lineage as a left-to-right SVG: inputs left of the version, outputs right.

A layered layout: each node's layer is its signed distance from the root; within a
layer, nodes are ordered by the barycentre of their neighbours (a few down and up
sweeps, as in Sugiyama's method), which keeps edges short and crossings few. Runs of
one Airflow task on the same layer (mapped task instances, or the same task of many
DAG runs) are collapsed into one node with a count unless the page asks to expand
that task. Pure layout (coordinates and paths), no markup: the template writes the
SVG, so every label goes through the template's autoescaping. Near-linear in nodes
and edges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from digitalhub_airflow.lineage.runs import UPSTREAM_RELATIONS

NODE_W, NODE_H = 190, 44
COL_GAP, ROW_GAP = 70, 18
MARGIN = 10


SWEEPS = 4


@dataclass
class PlacedNode:
    key: str
    label: str
    sub: str
    kind: str
    x: int
    y: int
    href: str | None
    root: bool
    title: str = ""
    count: int = 1
    group: str | None = None


@dataclass
class Drawing:
    width: int
    height: int
    nodes: list[PlacedNode] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def _column(graph: dict[str, Any]) -> dict[str, int]:
    """Signed distance from the root: negative upstream, positive downstream."""
    side: dict[str, int] = {}
    for edge in graph["edges"]:
        sign = -1 if edge.get("direction") == "upstream" else 1
        for end in (edge["source"], edge["target"]):
            side.setdefault(end, sign)
    return {
        n["key"]: 0 if n["key"] == graph["root"] else side.get(n["key"], 1) * n["distance"]
        for n in graph["nodes"]
    }


def collapse(graph: dict[str, Any], expand: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``graph`` with the runs of one task on one layer as a single ``group`` node.

    A group's key is ``group:<dag_id>.<task_id>@<layer>``; ``expand`` names groups (by
    ``<dag_id>.<task_id>``) to leave as separate runs.
    """
    columns = _column(graph)
    members: dict[str, list[dict[str, Any]]] = {}
    for node in graph["nodes"]:
        task = _task_of(node)
        if task and task not in expand and node["key"] != graph["root"]:
            members.setdefault(f"group:{task}@{columns[node['key']]}", []).append(node)
    into: dict[str, str] = {}
    nodes = []
    for group, runs in members.items():
        if len(runs) < 2:
            continue
        first = runs[0]
        task = group.removeprefix("group:").rsplit("@", 1)[0]
        states = sorted({str(r.get("state") or "?") for r in runs})
        nodes.append(
            {
                **first,
                "key": group,
                "type": "group",
                "label": f"{first.get('task_id') or task} x{len(runs)}",
                "task": task,
                "count": len(runs),
                "states": states,
            }
        )
        into.update((r["key"], group) for r in runs)
    nodes += [n for n in graph["nodes"] if n["key"] not in into]
    edges, seen = [], set()
    for edge in graph["edges"]:
        source, target = (
            into.get(edge["source"], edge["source"]),
            into.get(edge["target"], edge["target"]),
        )
        mark = (source, edge["relation"], target)
        if mark not in seen:
            seen.add(mark)
            edges.append({**edge, "source": source, "target": target})
    return {**graph, "nodes": nodes, "edges": edges}


def _task_of(node: dict[str, Any]) -> str | None:
    if node.get("type") != "run" or not node.get("dag_id") or not node.get("task_id"):
        return None
    return f"{node['dag_id']}.{node['task_id']}"


def _order(layers: dict[int, list[str]], flows: list[tuple[str, str]]) -> None:
    """Reorder each layer by its neighbours' mean position (in place), sweeping right
    then left: the barycentre heuristic of layered graph drawing."""
    left: dict[str, list[str]] = {}
    right: dict[str, list[str]] = {}
    for start, end in flows:
        right.setdefault(start, []).append(end)
        left.setdefault(end, []).append(start)
    position = {key: i for keys in layers.values() for i, key in enumerate(keys)}
    cols = sorted(layers)
    for sweep in range(SWEEPS):
        forward = sweep % 2 == 0
        for col in cols[1:] if forward else cols[-2::-1]:
            near = left if forward else right
            layers[col].sort(key=lambda k, near=near: (_centre(k, near, position), position[k]))
            position.update((key, i) for i, key in enumerate(layers[col]))


def _centre(key: str, near: dict[str, list[str]], position: dict[str, int]) -> float:
    seen = [position[n] for n in near.get(key, []) if n in position]
    return sum(seen) / len(seen) if seen else float(position[key])


def layout(graph: dict[str, Any], href_of: Callable[[dict[str, Any]], str | None]) -> Drawing:
    """Place the nodes of a ``lineage_graph(...).to_json()`` (or its :func:`collapse`)
    in layers by distance, ordered to keep edges short."""
    columns = _column(graph)
    if not columns:
        return Drawing(NODE_W + 2 * MARGIN, NODE_H + 2 * MARGIN)
    first = min(columns.values())
    by_key = {n["key"]: n for n in graph["nodes"]}
    layers: dict[int, list[str]] = {}
    for key in sorted(by_key):
        layers.setdefault(columns[key], []).append(key)
    flows = [_flow(edge) for edge in graph["edges"]]
    _order(layers, [(a, b) for a, b in flows if a in by_key and b in by_key])
    placed: dict[str, PlacedNode] = {}
    for col, keys in layers.items():
        for row, key in enumerate(keys):
            node = by_key[key]
            label = str(node.get("label") or key)
            sub = key.removeprefix("store://") if node.get("type") != "group" else node["task"]
            placed[key] = PlacedNode(
                key=key,
                label=_fit(label, 26),
                sub=_fit(sub, 32),
                kind=str(node.get("type") or ""),
                x=MARGIN + (col - first) * (NODE_W + COL_GAP),
                y=MARGIN + row * (NODE_H + ROW_GAP),
                href=href_of(node),
                root=key == graph["root"],
                title=f"{label}\n{sub}",
                count=int(node.get("count") or 1),
                group=node.get("task") if node.get("type") == "group" else None,
            )
    tallest = max(len(keys) for keys in layers.values())
    drawing = Drawing(
        width=2 * MARGIN + (max(columns.values()) - first + 1) * (NODE_W + COL_GAP) - COL_GAP,
        height=2 * MARGIN + tallest * (NODE_H + ROW_GAP) - ROW_GAP,
        nodes=list(placed.values()),
    )
    for start, end in flows:
        if start in placed and end in placed:
            drawing.paths.append(_path(placed[start], placed[end]))
    return drawing


def _flow(edge: dict[str, Any]) -> tuple[str, str]:
    """An edge in data-flow order (stored pointing upstream: reversed)."""
    if edge["relation"] in UPSTREAM_RELATIONS:
        return edge["target"], edge["source"]
    return edge["source"], edge["target"]


def _fit(text: str, chars: int) -> str:
    """Text cut to what a node box holds (the full key is in the node's tooltip)."""
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _path(a: PlacedNode, b: PlacedNode) -> str:
    """A cubic curve from the right side of ``a`` to the left side of ``b``."""
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    bend = max(COL_GAP // 2, abs(x2 - x1) // 2)
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
