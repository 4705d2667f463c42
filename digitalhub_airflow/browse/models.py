"""Models as the Models page and the API show them: per model, its registry versions.

Every trained run of a project is a ``model`` entity; the champion gate registers the
best run of a search as a registry version and records the decision. From those two
tables alone (no MLflow call: the page stays fast when the tracking server is slow)
this builds what MLflow's registry page shows, plus what it does not know: the exact
dataset versions each version learnt from and was evaluated on, and every gate verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from sqlalchemy import select

from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.catalog.models import GateDecision, ModelEntity
from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.keys import validate_name

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

#: Runs listed per model (the newest); older ones stay in MLflow.
MAX_RUNS = 200


def scrub_url(url: str) -> str:
    from digitalhub_airflow.browse.read_model import scrub_url as scrub

    return scrub(url)


def mlflow_links(tracking_uri: str, experiment_id: str, run_id: str) -> dict[str, str | None]:
    """Links into MLflow's UI for a run (only for a tracking server, not a local file)."""
    base = scrub_url(tracking_uri).rstrip("/")
    if urlsplit(base).scheme not in ("http", "https"):
        return {"run": None}
    return {"run": f"{base}/#/experiments/{quote(experiment_id)}/runs/{quote(run_id)}"}


def registry_link(tracking_uri: str, registered: str, version: str | None = None) -> str | None:
    base = scrub_url(tracking_uri).rstrip("/")
    if urlsplit(base).scheme not in ("http", "https"):
        return None
    page = f"{base}/#/models/{quote(registered, safe='')}"
    return page + (f"/versions/{quote(version)}" if version else "")


def _run(m: ModelEntity) -> dict[str, Any]:
    return {
        "key": m.key,
        "run_id": m.run_id,
        "experiment_id": m.experiment_id,
        "metrics": m.metrics or {},
        "params": m.params or {},
        "trained_on": list(m.datasets or []),
        "task": m.task,
        "target": m.target,
        "producer": m.producer,
        "created_by": m.created_by,
        "created_at": m.created_at.isoformat(),
        "mlflow": mlflow_links(m.tracking_uri, m.experiment_id, m.run_id),
    }


def _unknown_run(g: GateDecision) -> dict[str, Any]:
    """A registered run the catalog has no model entity of (trained elsewhere)."""
    return {
        "key": g.model_key,
        "run_id": g.run_id,
        "metrics": {},
        "params": {},
        "trained_on": [],
        "producer": None,
        "created_at": None,
        "mlflow": {"run": None},
    }


def _gate(g: GateDecision) -> dict[str, Any]:
    delta = None
    if g.champion_value is not None:
        delta = g.candidate_value - g.champion_value
    return {
        "registered_version": g.registered_version,
        "run_id": g.run_id,
        "alias": g.alias,
        "metric": g.metric,
        "greater_is_better": g.greater_is_better,
        "candidate_value": g.candidate_value,
        "champion_version": g.champion_version,
        "champion_value": g.champion_value,
        "delta": delta,
        "evaluation_dataset": g.evaluation_dataset,
        "promoted": g.promoted,
        "reason": g.reason,
        "actor": g.actor,
        "at": g.at.isoformat(),
    }


def _summary(
    project: str, name: str, runs: list[ModelEntity], gates: list[GateDecision]
) -> dict[str, Any]:
    """One model: aliases from the promoted gate decisions, versions from the registered."""
    registered = f"{project}.{name}"
    aliases: dict[str, str] = {}
    for g in gates:  # oldest first: the last promotion of each alias wins
        if g.promoted:
            aliases[g.alias] = g.registered_version
    by_run = {m.run_id: m for m in runs}
    versions: dict[str, dict[str, Any]] = {}
    for g in gates:
        entry = versions.get(g.registered_version)
        if entry is None:
            run = by_run.get(g.run_id)
            entry = {
                "version": g.registered_version,
                "run": _run(run) if run is not None else _unknown_run(g),
                "aliases": sorted(a for a, v in aliases.items() if v == g.registered_version),
                "evaluated_on": [],
                "gates": [],
            }
            versions[g.registered_version] = entry
        if g.evaluation_dataset not in entry["evaluated_on"]:
            entry["evaluated_on"].append(g.evaluation_dataset)
        entry["gates"].append(_gate(g))
    registered_runs = {g.run_id for g in gates}
    tracking = runs[0].tracking_uri if runs else ""
    ordered = sorted(
        versions.values(),
        key=lambda v: int(v["version"]) if v["version"].isdigit() else 0,
        reverse=True,
    )
    for entry in ordered:
        entry["registry"] = registry_link(tracking, registered, entry["version"])
    return {
        "name": name,
        "project": project,
        "registered_name": registered,
        "aliases": aliases,
        "champion": aliases.get("champion"),
        "versions": ordered,
        "runs": [_run(m) for m in runs if m.run_id not in registered_runs],
        "run_count": len(runs),
        "gates": [_gate(g) for g in reversed(gates)],
        "registry": registry_link(tracking, registered),
    }


def list_models(hub: DataHub, project: str) -> list[dict[str, Any]]:
    """The project's models, one entry per model name (not one per training run)."""
    require_current(hub.catalog)
    validate_name(project, "project")
    with hub.catalog.session() as session:
        runs = session.scalars(
            select(ModelEntity)
            .where(ModelEntity.project == project)
            .order_by(ModelEntity.created_at.desc(), ModelEntity.id.desc())
            .limit(MAX_RUNS * 10)
        ).all()
        gates = session.scalars(
            select(GateDecision)
            .where(GateDecision.registered_name.startswith(f"{project}.", autoescape=True))
            .order_by(GateDecision.id)
        ).all()
        names = sorted({m.name for m in runs} | {g.registered_name.split(".", 1)[1] for g in gates})
        return [
            _summary(
                project,
                name,
                [m for m in runs if m.name == name][:MAX_RUNS],
                [g for g in gates if g.registered_name == f"{project}.{name}"],
            )
            for name in names
        ]


def model_detail(hub: DataHub, project: str, name: str) -> dict[str, Any]:
    """One model with every registry version, candidate run and gate decision."""
    require_current(hub.catalog)
    validate_name(project, "project")
    validate_name(name, "model name")
    with hub.catalog.session() as session:
        runs = session.scalars(
            select(ModelEntity)
            .where(ModelEntity.project == project, ModelEntity.name == name)
            .order_by(ModelEntity.created_at.desc(), ModelEntity.id.desc())
            .limit(MAX_RUNS)
        ).all()
        gates = session.scalars(
            select(GateDecision)
            .where(GateDecision.registered_name == f"{project}.{name}")
            .order_by(GateDecision.id)
        ).all()
        if not runs and not gates:
            raise NotFoundError(f"model {name} does not exist in project {project}")
        detail: dict[str, Any] = _summary(project, name, list(runs), list(gates))
        return detail
