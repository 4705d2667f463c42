"""Expectation suites as code: JSON/YAML files in git, registered as versioned ``suite``
entities whose id is the digest of their canonical content.

A suite file is checked expectation by expectation with Great Expectations' own
registry and argument models, so a typo fails here, naming the file and the entry,
instead of being dropped silently (GX logs and skips an unknown expectation type).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from digitalhub_airflow.catalog.models import Project, Suite
from digitalhub_airflow.datasets.manifest import canonical_json
from digitalhub_airflow.errors import InvalidKeyError, NotFoundError, SuiteError
from digitalhub_airflow.hashing import hash_bytes
from digitalhub_airflow.keys import Key, parse_key, validate_name
from digitalhub_airflow.quality.fastpath import canonical_config
from digitalhub_airflow.quality.gx import gx_module
from digitalhub_airflow.settings import current_user

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

SUITE_SUFFIXES = {".json", ".yaml", ".yml"}


@dataclass(frozen=True)
class SuiteInfo:
    """One registered suite version."""

    key: str
    name: str
    suite_id: str
    content: dict[str, Any]
    pk: int

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "suite_id": self.suite_id}


def suite_key(project: str, name: str, suite_id: str | None = None) -> Key:
    return Key(project, "suite", "gx", name, suite_id)


def read_suite_file(path: str | Path) -> dict[str, Any]:
    """The canonical content of a suite file; :class:`SuiteError` names file and problem."""
    path = Path(path)
    if path.suffix.lower() not in SUITE_SUFFIXES:
        raise SuiteError(f"suite file {path}: expected .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"suite file {path}: cannot be read: {exc}") from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except (ValueError, ImportError) as exc:
        raise SuiteError(f"suite file {path}: not valid {path.suffix[1:]}: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError has no common base with ValueError
        raise SuiteError(f"suite file {path}: not valid YAML: {exc}") from exc
    return canonical_suite(data, f"suite file {path}", default_name=path.stem.lower())


def canonical_suite(data: Any, where: str, default_name: str | None = None) -> dict[str, Any]:
    """Check a suite document and return its normalised content (what its id hashes)."""
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: must be a mapping with 'name' and 'expectations'")
    unknown = set(data) - {"name", "expectations", "meta", "notes", "id"}
    if unknown:
        raise SuiteError(f"{where}: unknown top-level fields {sorted(unknown)}")
    name = data.get("name") or default_name
    try:
        validate_name(name or "", "suite name")
    except InvalidKeyError as exc:
        raise SuiteError(f"{where}: {exc}") from exc
    expectations = data.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        raise SuiteError(f"{where}: 'expectations' must be a non-empty list")
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise SuiteError(f"{where}: 'meta' must be a mapping")
    meta = {k: v for k, v in meta.items() if k != "great_expectations_version"}
    checked = [
        _check_expectation(e, f"{where}: expectations[{i}]") for i, e in enumerate(expectations)
    ]
    return {"name": name, "expectations": checked, "meta": meta}


def _check_expectation(entry: Any, where: str) -> dict[str, Any]:
    """One expectation as GX builds it: natively for the fast path's simple cases (GX's
    import costs seconds), by GX for the rest."""
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        raise SuiteError(f"{where}: must be a mapping with a 'type' string")
    kwargs = entry.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise SuiteError(f"{where} ({entry['type']}): 'kwargs' must be a mapping")
    built = canonical_config(entry) or _gx_config(entry, where)
    if "severity" in entry:
        built["severity"] = entry["severity"]
    return built


def _gx_config(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """The expectation as GX builds it (unknown type or bad arguments -> SuiteError)."""
    gx = gx_module()
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    try:
        config = ExpectationConfiguration(
            type=entry["type"], kwargs=entry.get("kwargs", {}), meta=entry.get("meta") or {}
        )
        expectation = config.to_domain_obj()
    except gx.exceptions.ExpectationNotFoundError as exc:
        raise SuiteError(f"{where}: unknown expectation type {entry['type']!r}") from exc
    except Exception as exc:  # pydantic and GX configuration errors: report them all
        detail = " ".join(str(exc).split())
        raise SuiteError(f"{where} ({entry['type']}): {detail}") from exc
    built: dict[str, Any] = expectation.configuration.to_json_dict()
    built.pop("id", None)
    built.pop("rendered_content", None)
    return built


def suite_digest(content: dict[str, Any]) -> str:
    return hash_bytes(canonical_json(content))


def register_suite(
    hub: DataHub, project: str, content: dict[str, Any], source: str = ""
) -> SuiteInfo:
    """Store a suite version (idempotent: the same content keeps its id and row)."""
    from digitalhub_airflow.catalog.migrate import require_current

    require_current(hub.catalog)
    suite_id = suite_digest(content)
    with hub.catalog.session() as session:
        project_row = session.scalars(select(Project).where(Project.name == project)).first()
        if project_row is None:
            project_row = Project(name=validate_name(project, "project"))
            session.add(project_row)
            session.flush()
        row = session.scalars(
            select(Suite).where(
                Suite.project_id == project_row.id,
                Suite.name == content["name"],
                Suite.suite_id == suite_id,
            )
        ).first()
        if row is None:
            row = Suite(
                project_id=project_row.id,
                name=content["name"],
                suite_id=suite_id,
                content=content,
                source=source,
                created_by=current_user(),
            )
            session.add(row)
            session.flush()
        return _info(project, row)


def load_suite(hub: DataHub, project: str, ref: str | Path) -> SuiteInfo:
    """A suite from a file path (registered on the way) or a ``store://.../suite/gx/`` key."""
    text = str(ref)
    if text.startswith("store://"):
        return find_suite(hub, parse_key(text))
    return register_suite(hub, project, read_suite_file(ref), source=Path(ref).name)


def find_suite(hub: DataHub, key: Key) -> SuiteInfo:
    """A registered suite by key; without an id, its newest registered version."""
    from digitalhub_airflow.catalog.migrate import require_current

    if key.entity_type != "suite" or key.name is None or key.alias is not None:
        raise InvalidKeyError(f"{key} does not name a suite (store://<p>/suite/gx/<name>[:<id>])")
    require_current(hub.catalog)
    with hub.catalog.session() as session:
        query = (
            select(Suite)
            .join(Project, Project.id == Suite.project_id)
            .where(Project.name == key.project, Suite.name == key.name)
        )
        if key.version:
            query = query.where(Suite.suite_id.startswith(key.version, autoescape=True))
        rows = session.scalars(query.order_by(Suite.created_at.desc(), Suite.id.desc())).all()
        if not rows:
            raise NotFoundError(f"suite {key} is not registered")
        if key.version and len({r.suite_id for r in rows}) > 1:
            raise InvalidKeyError(f"suite id prefix {key.version} of {key} is ambiguous")
        return _info(key.project, rows[0])


def _info(project: str, row: Suite) -> SuiteInfo:
    return SuiteInfo(
        key=str(suite_key(project, row.name, row.suite_id)),
        name=row.name,
        suite_id=row.suite_id,
        content=row.content,
        pk=row.id,
    )
