"""Lineage queries: upstream and downstream of any entity, to any depth, in ONE query.

The walk is a ``WITH RECURSIVE`` over the edge table (same SQL on SQLite and
PostgreSQL), bounded by depth; ``UNION`` drops repeated (edge, hop) rows so a diamond
does not multiply. Depth counts versions: one step from a version is its producing run
and that run's inputs, i.e. two edges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from digitalhub_airflow.catalog.models import Dataset, Project, Relationship, Run, Version
from digitalhub_airflow.errors import InvalidKeyError
from digitalhub_airflow.keys import parse_key
from digitalhub_airflow.lineage.runs import UPSTREAM_RELATIONS, load_run

DIRECTIONS = ("upstream", "downstream", "both")
MAX_DEPTH = 1000


@dataclass
class LineageGraph:
    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "nodes": sorted(self.nodes.values(), key=lambda n: (n["distance"], n["key"])),
            "edges": sorted(self.edges, key=lambda e: (e["source"], e["relation"], e["target"])),
        }

    def to_text(self) -> str:
        """An indented tree from the root, upstream (<-) and downstream (->)."""
        lines = [self._label(self.root)]
        lines += self._branches("upstream", "<-")
        lines += self._branches("downstream", "->")
        return "\n".join(lines)

    def _branches(self, direction: str, arrow: str) -> list[str]:
        children: dict[str, list[tuple[str, str]]] = {}
        for edge in self.edges:
            if edge["direction"] == direction:
                near, far = edge["source"], edge["target"]
                if direction == "downstream":
                    near, far = far, near
                children.setdefault(near, []).append((edge["relation"], far))
        lines: list[str] = []

        def branch(node: str, indent: str, seen: frozenset[str]) -> None:
            for relation, child in sorted(children.get(node, [])):
                lines.append(f"{indent}{arrow} {relation} {self._label(child)}")
                if child not in seen:
                    branch(child, indent + "   ", seen | {child})

        branch(self.root, "  ", frozenset({self.root}))
        return lines

    def _label(self, key: str) -> str:
        node = self.nodes.get(key, {})
        return f"{node.get('label', key)}  {key}"

    def to_dot(self) -> str:
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for key, node in sorted(self.nodes.items()):
            shape = "box" if node["type"] == "run" else "ellipse"
            lines.append(f"  {json.dumps(key)} [label={json.dumps(node['label'])}, shape={shape}];")
        for edge in self.edges:
            # Drawn in data-flow order: input -> run -> output.
            src, dst = (
                (edge["target"], edge["source"])
                if edge["relation"] in UPSTREAM_RELATIONS
                else (edge["source"], edge["target"])
            )
            label = json.dumps(edge["relation"])
            lines.append(f"  {json.dumps(src)} -> {json.dumps(dst)} [label={label}];")
        lines.append("}")
        return "\n".join(lines)


def walk(session: Session, root: str, direction: str, hops: int) -> list[tuple[str, str, str, int]]:
    """Edges reachable from ``root`` within ``hops`` edges: (source, relation, target, hop)."""
    rel = Relationship.__table__
    upstream = direction == "upstream"
    near = rel.c.source if upstream else rel.c.target
    first = select(rel.c.source, rel.c.relation, rel.c.target, literal(1).label("hop")).where(
        near == root, rel.c.relation.in_(UPSTREAM_RELATIONS)
    )
    cte = first.cte("walk", recursive=True)
    front = cte.c.target if upstream else cte.c.source
    step = (
        select(rel.c.source, rel.c.relation, rel.c.target, (cte.c.hop + 1).label("hop"))
        .join(cte, near == front)
        .where(cte.c.hop < hops, rel.c.relation.in_(UPSTREAM_RELATIONS))
    )
    cte = cte.union(step)
    query = select(cte.c.source, cte.c.relation, cte.c.target, func.min(cte.c.hop)).group_by(
        cte.c.source, cte.c.relation, cte.c.target
    )
    return [tuple(row) for row in session.execute(query)]


def describe_nodes(session: Session, keys: set[str]) -> dict[str, dict[str, Any]]:
    """Type and label of every node, in one query per entity type."""
    described: dict[str, dict[str, Any]] = {}
    by_version: dict[tuple[str, str, str], str] = {}
    run_keys = []
    for key in keys:
        parsed = parse_key(key)
        described[key] = {"key": key, "type": parsed.entity_type, "label": parsed.name}
        if parsed.entity_type == "dataitem" and parsed.version:
            by_version[(parsed.project, parsed.name or "", parsed.version)] = key
        elif parsed.entity_type == "run":
            run_keys.append(key)
    if by_version:
        # Datasets by name first, then versions through the (dataset, version id) index:
        # a version id alone is not indexed. Cross pairs are dropped by the lookup below.
        rows = session.execute(
            select(Project.name, Dataset.name, Version.version_id, Version.seq, Version.row_count)
            .join(Dataset, Dataset.project_id == Project.id)
            .join(Version, Version.dataset_id == Dataset.id)
            .where(
                Project.name.in_({project for project, _, _ in by_version}),
                Dataset.name.in_({name for _, name, _ in by_version}),
                Version.version_id.in_({version for _, _, version in by_version}),
            )
        )
        for project, name, version_id, seq, rows_count in rows:
            found = by_version.get((project, name, version_id))
            if found is not None:
                described[found].update(
                    label=f"{name} v{seq}", dataset=name, seq=seq, rows=rows_count
                )
    if run_keys:
        for run in session.scalars(select(Run).where(Run.key.in_(run_keys))):
            described[run.key].update(
                label=f"{run.name} ({run.state}{', cached' if run.cache_hit else ''})",
                state=run.state,
                cache_hit=run.cache_hit,
                dag_id=run.dag_id,
                task_id=run.task_id,
            )
    return described


def root_key(hub: Any, key: str) -> str:
    """The exact entity a key names: a version resolved to its id, or a run."""
    parsed = hub.key(key)
    if parsed.entity_type == "run":
        with hub.catalog.session() as session:
            return load_run(session, parsed).key
    if parsed.entity_type != "dataitem":
        raise InvalidKeyError(f"lineage is kept for data item versions and runs, not {key}")
    resolved: str = hub.resolve(parsed).key
    return resolved


def lineage_graph(hub: Any, key: str, direction: str = "both", depth: int = 5) -> LineageGraph:
    """The lineage of a version or run: nodes and edges within ``depth`` version steps."""
    from digitalhub_airflow.catalog.migrate import require_current

    if direction not in DIRECTIONS:
        raise InvalidKeyError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidKeyError(f"depth must be between 1 and {MAX_DEPTH}, not {depth}")
    require_current(hub.catalog)
    root = root_key(hub, str(key))
    graph = LineageGraph(root)
    with hub.catalog.session() as session:
        distances = {root: 0}
        for way in ("upstream", "downstream") if direction == "both" else (direction,):
            for source, relation, target, hop in walk(session, root, way, 2 * depth):
                graph.edges.append(
                    {"source": source, "relation": relation, "target": target, "direction": way}
                )
                far = target if way == "upstream" else source
                distances[far] = min(distances.get(far, hop), hop)
                distances.setdefault(source if way == "upstream" else target, hop - 1)
        graph.nodes = describe_nodes(session, set(distances))
        for node_key, node in graph.nodes.items():
            node["distance"] = distances[node_key]
    return graph
