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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import ServingSpecError
from digitalhub_airflow.keys import validate_name
from digitalhub_airflow.serving.deploy.pinning import PinnedModel
from digitalhub_airflow.serving.deploy.services import ServiceRecord
from digitalhub_airflow.serving.deploy.spec import ServiceSpec, spec_from_json

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.deploy.deployer import Deployers, Rollout

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


def expand_paths(patterns: str | Iterable[str], base: Path) -> list[Path]:
    """Files or globs (relative ones under ``base``), sorted; a pattern that matches
    nothing stays as it is, for a clear error when it is read."""
    import glob
    import os

    found: list[Path] = []
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        found += [Path(m) for m in sorted(glob.glob(full)) or [full]]
    return found


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


@dataclass
class ReconcileResult:
    """The plan as JSON (``deploy``, ``unchanged``, ``undeploy``, ``kept``: service keys),
    the records of what was deployed or undeployed, and the rollouts still under way."""

    summary: dict[str, list[str]] = field(
        default_factory=lambda: {"deploy": [], "unchanged": [], "undeploy": [], "kept": []}
    )
    rollouts: list[Rollout] = field(default_factory=list)
    records: list[ServiceRecord] = field(default_factory=list)

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """How many services were deployed, unchanged, undeployed and kept."""
        s = self.summary
        return len(s["deploy"]), len(s["unchanged"]), len(s["undeploy"]), len(s["kept"])


def merge_files(files: Iterable[ServicesFile]) -> dict[str, tuple[bool, list[ServiceSpec]]]:
    """Project -> (prune, specs): files of one project merge, and ``prune`` in any of
    them prunes the project."""
    projects: dict[str, tuple[bool, list[ServiceSpec]]] = {}
    for file in files:
        prune, specs = projects.get(file.project, (False, []))
        projects[file.project] = (prune or file.prune, [*specs, *file.services])
    return projects


def reconcile(
    hub: DataHub,
    files: Sequence[ServicesFile],
    deployers: Deployers,
    pin_spec: Callable[[DataHub, ServiceSpec], Desired],
    *,
    dry_run: bool = False,
) -> ReconcileResult:
    """Make the services of ``files`` run through ``deployers`` (one per target), changing
    only what differs; ``dry_run`` plans only. Kubernetes rollouts are started, not waited
    for: they are in ``result.rollouts`` (the CLI waits, an Airflow task defers)."""
    from digitalhub_airflow.serving.deploy.deployer import Rollout, deployer_for
    from digitalhub_airflow.serving.deploy.services import list_services

    result = ReconcileResult()

    def live_digest(record: ServiceRecord) -> str | None:
        return deployer_for(deployers, record.target).live_digest(record)

    for project, (prune, specs) in sorted(merge_files(files).items()):
        for spec in specs:
            deployer_for(deployers, spec.target).preflight(spec)
        desired = [pin_spec(hub, s) for s in specs]
        found = plan(desired, list_services(hub, project), prune=prune, live_digest=live_digest)
        for key, items in found.to_json().items():
            result.summary[key] += items
        if dry_run:
            continue
        for item in found.deploy:
            started = deployer_for(deployers, item.spec.target).start(hub, item)
            if isinstance(started, Rollout):
                result.rollouts.append(started)
            else:
                result.records.append(started)
        for record in found.undeploy:
            result.records.append(deployer_for(deployers, record.target).undeploy(hub, record))
    return result
