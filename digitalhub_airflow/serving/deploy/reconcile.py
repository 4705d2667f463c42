"""Declarative services: YAML files in git, compared with what is recorded and running.

A services file names a project, whether services missing from it are removed
(``prune``), and its services::

    project: demo
    prune: true
    services:
      - name: wine
        target: local
        models: {wine: "models:/wine@champion"}
        port: 8081

Reconciliation pins every model reference (an alias that moved is a change), then
compares each pinned spec's digest with the recorded one and with what really runs:
only what differs is deployed, and nothing is done when nothing differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitalhub_airflow.errors import ServingSpecError
from digitalhub_airflow.keys import validate_name
from digitalhub_airflow.serving.deploy.pinning import PinnedModel
from digitalhub_airflow.serving.deploy.services import ServiceRecord
from digitalhub_airflow.serving.deploy.spec import ServiceSpec, spec_from_json

FILE_FIELDS = frozenset({"project", "prune", "services"})


@dataclass(frozen=True)
class ServicesFile:
    project: str
    prune: bool
    services: tuple[ServiceSpec, ...]


def load_services_file(path: str | Path) -> ServicesFile:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ServingSpecError(f"cannot read services file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ServingSpecError(f"services file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ServingSpecError(f"services file {path} must be a mapping with project and services")
    unknown = sorted(set(data) - FILE_FIELDS)
    if unknown:
        raise ServingSpecError(f"services file {path}: unknown field(s) {unknown}")
    project = validate_name(str(data.get("project") or ""), "project")
    prune = data.get("prune", False)
    if not isinstance(prune, bool):
        raise ServingSpecError(f"services file {path}: prune must be true or false")
    entries = data.get("services") or []
    if not isinstance(entries, list):
        raise ServingSpecError(f"services file {path}: services must be a list")
    specs = tuple(spec_from_json(entry, project) for entry in entries)
    for spec in specs:
        if spec.project != project:
            raise ServingSpecError(
                f"services file {path}: service {spec.name!r} names project {spec.project!r}, "
                f"the file is for {project!r}"
            )
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        if (spec.target, spec.name) in seen:
            raise ServingSpecError(f"services file {path}: {spec.target}/{spec.name} is twice")
        seen.add((spec.target, spec.name))
    return ServicesFile(project, prune, specs)


@dataclass(frozen=True)
class Desired:
    """A service as it should run: its spec with pinned models, and the pins."""

    spec: ServiceSpec
    models: dict[str, PinnedModel]


@dataclass
class Plan:
    deploy: list[Desired] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    undeploy: list[ServiceRecord] = field(default_factory=list)
    #: Services recorded but missing from the file, left running (no ``prune``).
    kept: list[str] = field(default_factory=list)

    @property
    def is_noop(self) -> bool:
        return not self.deploy and not self.undeploy

    def to_json(self) -> dict[str, Any]:
        return {
            "deploy": [d.spec.key() for d in self.deploy],
            "unchanged": self.unchanged,
            "undeploy": [r.key for r in self.undeploy],
            "kept": self.kept,
        }


def plan(
    desired: Iterable[Desired],
    recorded: Iterable[ServiceRecord],
    *,
    prune: bool,
    live_digest: Callable[[ServiceRecord], str | None],
) -> Plan:
    """What to change so that ``desired`` runs. ``live_digest`` reads the digest of what
    really runs for a record (``None`` when nothing does): a process that died or a
    Deployment edited by hand is redeployed even when the catalog says ``running``."""
    result = Plan()
    by_id = {(r.target, r.name): r for r in recorded}
    wanted = set()
    for item in desired:
        spec = item.spec
        wanted.add((spec.target, spec.name))
        record = by_id.get((spec.target, spec.name))
        if (
            record is not None
            and record.serving
            and record.spec_digest == spec.digest
            and live_digest(record) == spec.digest
        ):
            result.unchanged.append(record.key)
        else:
            result.deploy.append(item)
    for ident, record in sorted(by_id.items()):
        if ident in wanted or record.state == "stopped":
            continue
        if prune:
            result.undeploy.append(record)
        else:
            result.kept.append(record.key)
    return result
