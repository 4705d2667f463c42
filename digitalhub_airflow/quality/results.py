"""Validation results in the catalog: stored whole, summarised for people and lineage.

A result belongs to one dataset version and one suite version; it is read back either as
a summary (``stored_results``, for the CLI and the web UI) or as GX's own
``ExpectationSuiteValidationResult`` (``load_validation``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from digitalhub_airflow.catalog.models import Project, Suite, ValidationRecord
from digitalhub_airflow.datasets.versions import resolve
from digitalhub_airflow.quality.suites import suite_key

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

#: Unexpected values kept per failed expectation in summaries and error messages.
EXAMPLES = 5
#: Keyword arguments that name the column(s) an expectation is about.
COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


def expectation_column(kwargs: dict[str, Any]) -> str | None:
    for name in COLUMN_KWARGS:
        value = kwargs.get(name)
        if value is not None:
            return ", ".join(value) if isinstance(value, list) else str(value)
    return None


def exception_message(info: dict[str, Any] | None) -> str | None:
    """GX reports errors either flat or keyed by metric; the last line says what broke."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        message = entry.get("exception_message")
        if entry.get("raised_exception") is False and not message:
            continue
        if message:
            return str(message).strip().splitlines()[-1]
    return None


def assertions(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``{assertion, success, column}`` per expectation (OpenLineage's shape)."""
    return [
        {
            "assertion": r["expectation_config"]["type"],
            "success": bool(r["success"]),
            "column": expectation_column(r["expectation_config"].get("kwargs", {})),
        }
        for r in result.get("results", [])
    ]


def failures(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each failed expectation: type, column, unexpected count and examples, or the error."""
    found = []
    for r in result.get("results", []):
        if r["success"]:
            continue
        config = r["expectation_config"]
        detail = r.get("result") or {}
        found.append(
            {
                "expectation": config["type"],
                "column": expectation_column(config.get("kwargs", {})),
                "kwargs": {k: v for k, v in config.get("kwargs", {}).items() if k != "batch_id"},
                "unexpected_count": detail.get("unexpected_count"),
                "unexpected_percent": detail.get("unexpected_percent"),
                "unexpected_examples": list(detail.get("partial_unexpected_list") or [])[:EXAMPLES],
                "observed_value": detail.get("observed_value"),
                "error": exception_message(r.get("exception_info")),
            }
        )
    return found


def describe_failure(failure: dict[str, Any]) -> str:
    """One readable line: ``expect_x on column 'c': 3 unexpected (1.5%), e.g. [...]``."""
    where = f" on column {failure['column']!r}" if failure["column"] else ""
    if failure["error"]:
        return f"{failure['expectation']}{where}: error: {failure['error']}"
    parts = []
    if failure["unexpected_count"] is not None:
        percent = failure["unexpected_percent"]
        share = f" ({percent:.2f}%)" if percent is not None else ""
        parts.append(f"{failure['unexpected_count']} unexpected{share}")
    if failure["unexpected_examples"]:
        parts.append(f"e.g. {failure['unexpected_examples']!r}")
    if failure["observed_value"] is not None:
        parts.append(f"observed {failure['observed_value']!r}")
    args = {k: v for k, v in failure["kwargs"].items() if k not in COLUMN_KWARGS}
    if args:
        parts.append(f"expected {args}")
    return f"{failure['expectation']}{where}: " + ", ".join(parts or ["failed"])


def summary(record: ValidationRecord, suite: str, version_key: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "version": version_key,
        "suite": suite,
        "success": record.success,
        "statistics": record.statistics,
        "result_format": record.result_format,
        "engine": record.engine,
        "failed_expectations": failures(record.result),
        "created_by": record.created_by,
        "created_at": record.created_at.isoformat(),
    }


def find_reusable(
    session: Session, version_pk: int, suite_pk: int, result_format: str
) -> ValidationRecord | None:
    """The newest stored result of this suite version on this dataset version."""
    return session.scalars(
        select(ValidationRecord)
        .where(
            ValidationRecord.version_pk == version_pk,
            ValidationRecord.suite_pk == suite_pk,
            ValidationRecord.result_format == result_format,
        )
        .order_by(ValidationRecord.id.desc())
        .limit(1)
    ).first()


def _records(hub: DataHub, key: str) -> list[tuple[ValidationRecord, str, str]]:
    from digitalhub_airflow.catalog.migrate import require_current

    require_current(hub.catalog)
    parsed = hub.key(key)  # before the session: a short key is expanded in its own
    with hub.catalog.session() as session:
        version = resolve(session, parsed)
        rows = session.execute(
            select(ValidationRecord, Suite.name, Suite.suite_id, Project.name)
            .join(Suite, Suite.id == ValidationRecord.suite_pk)
            .join(Project, Project.id == Suite.project_id)
            .where(ValidationRecord.version_pk == version.id)
            .order_by(ValidationRecord.id.desc())
        ).all()
        version_key = str(parsed.unversioned().with_version(version.version_id))
        return [
            (record, str(suite_key(project, name, suite_id)), version_key)
            for record, name, suite_id, project in rows
        ]


def stored_results(hub: DataHub, key: str) -> list[dict[str, Any]]:
    """Validation results of the version ``key`` names, newest first (JSON-able)."""
    return [summary(record, suite, version) for record, suite, version in _records(hub, key)]


def load_validation(hub: DataHub, key: str) -> Any | None:
    """The newest stored result of a version as GX's ``ExpectationSuiteValidationResult``."""
    from digitalhub_airflow.quality.gx import load_result

    records = _records(hub, key)
    return load_result(records[0][0].result) if records else None
