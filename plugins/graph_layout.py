"""Drawing lineage as a left-to-right SVG: inputs left of the version, outputs right.

Pure layout (coordinates and paths), no markup: the template writes the SVG, so every
label goes through the template's autoescaping. Linear in nodes and edges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from digitalhub_airflow.lineage.runs import UPSTREAM_RELATIONS

NODE_W, NODE_H = 190, 44
COL_GAP, ROW_GAP = 70, 18
MARGIN = 10


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


def layout(graph: dict[str, Any], href_of: Callable[[dict[str, Any]], str | None]) -> Drawing:
    """Place the nodes of a ``lineage_graph(...).to_json()`` in columns by distance."""
    columns = _column(graph)
    if not columns:
        return Drawing(NODE_W + 2 * MARGIN, NODE_H + 2 * MARGIN)
    first = min(columns.values())
    rows: dict[int, int] = {}
    placed: dict[str, PlacedNode] = {}
    for node in sorted(graph["nodes"], key=lambda n: (columns[n["key"]], n["key"])):
        col = columns[node["key"]]
        row = rows.get(col, 0)
        rows[col] = row + 1
        sub = node["key"].removeprefix("store://")
        label = str(node.get("label") or node["key"])
        placed[node["key"]] = PlacedNode(
            key=node["key"],
            label=_fit(label, 26),
            sub=_fit(sub, 32),
            kind=str(node.get("type") or ""),
            x=MARGIN + (col - first) * (NODE_W + COL_GAP),
            y=MARGIN + row * (NODE_H + ROW_GAP),
            href=href_of(node),
            root=node["key"] == graph["root"],
        )
    drawing = Drawing(
        width=2 * MARGIN + (max(columns.values()) - first + 1) * (NODE_W + COL_GAP) - COL_GAP,
        height=2 * MARGIN + max(rows.values()) * (NODE_H + ROW_GAP) - ROW_GAP,
        nodes=list(placed.values()),
    )
    for edge in graph["edges"]:
        start, end = edge["source"], edge["target"]
        if edge["relation"] in UPSTREAM_RELATIONS:  # stored pointing upstream: draw reversed
            start, end = end, start
        if start in placed and end in placed:
            drawing.paths.append(_path(placed[start], placed[end]))
    return drawing


def _fit(text: str, chars: int) -> str:
    """Text cut to what a node box holds (the full key is in the node's tooltip)."""
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _path(a: PlacedNode, b: PlacedNode) -> str:
    """A cubic curve from the right side of ``a`` to the left side of ``b``."""
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    bend = max(COL_GAP // 2, abs(x2 - x1) // 2)
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
