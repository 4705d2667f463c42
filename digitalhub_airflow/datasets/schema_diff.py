"""Schema differences between versions, and the ``additive`` schema policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from digitalhub_airflow.errors import SchemaPolicyError

SCHEMA_POLICIES = ("any", "additive")


@dataclass
class SchemaDiff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    retyped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped)

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "retyped": self.retyped}


def diff_schemas(old: list[dict[str, Any]] | None, new: list[dict[str, Any]] | None) -> SchemaDiff:
    """Columns added, removed and retyped going from ``old`` to ``new``."""
    before = {c["name"]: c for c in old or []}
    after = {c["name"]: c for c in new or []}
    diff = SchemaDiff()
    for name, column in after.items():
        if name not in before:
            diff.added.append({"name": name, "type": column["type"]})
        elif before[name]["type"] != column["type"]:
            diff.retyped.append({"name": name, "from": before[name]["type"], "to": column["type"]})
    diff.removed = [{"name": n, "type": c["type"]} for n, c in before.items() if n not in after]
    return diff


def check_policy(
    policy: str, old: list[dict[str, Any]] | None, new: list[dict[str, Any]] | None
) -> None:
    """Raise :class:`SchemaPolicyError` listing the columns that break ``policy``."""
    if policy not in SCHEMA_POLICIES:
        raise SchemaPolicyError(
            f"schema_policy must be one of {', '.join(SCHEMA_POLICIES)}, not {policy!r}", []
        )
    if policy == "any" or old is None:
        return
    diff = diff_schemas(old, new)
    broken = [c["name"] for c in diff.removed] + [c["name"] for c in diff.retyped]
    if broken:
        details = [f"{c['name']} removed" for c in diff.removed] + [
            f"{c['name']} retyped {c['from']} -> {c['to']}" for c in diff.retyped
        ]
        raise SchemaPolicyError(
            "schema policy 'additive' refuses this commit: " + "; ".join(details), broken
        )
