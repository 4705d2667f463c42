"""Validating one exact dataset version with one suite version, idempotently.

The result is stored whole, linked to (dataset version, suite version, result format);
running the same pair again reuses it unless ``force``. The outcome moves the version's
quality state (see :mod:`digitalhub_airflow.quality.state`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.catalog.models import ValidationRecord
from digitalhub_airflow.datasets.versions import QUARANTINED, VersionInfo, resolve, to_info
from digitalhub_airflow.errors import (
    InvalidOptionError,
    QuarantinedError,
    ValidationFailedError,
)
from digitalhub_airflow.keys import as_key
from digitalhub_airflow.quality import results
from digitalhub_airflow.quality.gx import RESULT_FORMATS
from digitalhub_airflow.quality.jsonable import jsonable
from digitalhub_airflow.quality.state import ON_FAILURE, after_validation
from digitalhub_airflow.quality.suites import SuiteInfo, load_suite
from digitalhub_airflow.settings import current_user

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

ENGINES = ("auto", "gx")


@dataclass
class ValidationOutcome:
    """What one validation found, and what it did to the version's state."""

    version: VersionInfo
    suite: SuiteInfo
    on_failure: str
    result: dict[str, Any]
    engine: str
    reused: bool
    result_id: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return bool(self.result.get("success"))

    @property
    def statistics(self) -> dict[str, Any]:
        statistics: dict[str, Any] = self.result.get("statistics", {})
        return statistics

    @property
    def assertions(self) -> list[dict[str, Any]]:
        return results.assertions(self.result)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version.key,
            "suite": self.suite.key,
            "success": self.success,
            "state": self.version.quality,
            "on_failure": self.on_failure,
            "statistics": self.statistics,
            "engine": self.engine,
            "reused": self.reused,
            "result_id": self.result_id,
            "failed_expectations": self.failures,
        }

    def report(self) -> str:
        """A readable report: verdict, statistics, one line per failed expectation."""
        stats = self.statistics
        verdict = "PASSED" if self.success else "FAILED"
        lines = [
            f"{verdict}: {self.version.key} (v{self.version.seq}) against {self.suite.key}",
            f"  {stats.get('successful_expectations', 0)} of "
            f"{stats.get('evaluated_expectations', 0)} expectations met; "
            f"state {self.version.quality}" + ("; stored result reused" if self.reused else ""),
        ]
        lines += [f"  - {results.describe_failure(f)}" for f in self.failures]
        return "\n".join(lines)

    @property
    def quarantined(self) -> bool:
        return self.version.quality == QUARANTINED

    def raise_for_failure(self) -> None:
        """A failed validation with ``on_failure="fail"`` is an error listing each failure;
        one that left the version quarantined is an error saying how to release it."""
        if self.success:
            return
        if self.on_failure == "fail":
            raise ValidationFailedError(self.report(), self.failures)
        if self.quarantined:
            raise QuarantinedError(
                f"{self.version.key} (v{self.version.seq}) is quarantined; review it and "
                f"`dhub release {self.version.dataset}:v{self.version.seq}`"
            )


def check_options(on_failure: str, result_format: str) -> str:
    if on_failure not in ON_FAILURE:
        raise InvalidOptionError(
            f"on_failure must be one of {', '.join(ON_FAILURE)}, not {on_failure!r}"
        )
    result_format = str(result_format).upper()
    if result_format not in RESULT_FORMATS:
        raise InvalidOptionError(
            f"result_format must be one of {', '.join(RESULT_FORMATS)}, not {result_format!r}"
        )
    return result_format


def validate_dataset(
    hub: DataHub,
    key: str,
    suite: str | Path,
    *,
    on_failure: str = "fail",
    result_format: str = "SUMMARY",
    force: bool = False,
    engine: str = "auto",
) -> ValidationOutcome:
    """Validate the version ``key`` names with ``suite`` (a file or a suite key).

    ``engine``: ``auto`` (common expectations on Arrow, the rest with GX) or ``gx``.
    """
    result_format = check_options(on_failure, result_format)
    if engine not in ENGINES:
        raise InvalidOptionError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    require_current(hub.catalog)
    version_key = as_key(hub.resolve(key).key)
    suite_info = load_suite(hub, version_key.project, suite)
    with hub.catalog.session() as session:
        version = resolve(session, version_key)
        stored = (
            None
            if force
            else results.find_reusable(session, version.id, suite_info.pk, result_format)
        )
    if stored is None:
        used, result = run_checks(hub, str(version_key), suite_info.content, result_format, engine)
    else:
        used, result = stored.engine, stored.result
    with hub.catalog.session() as session:
        version = resolve(session, version_key)
        if stored is None:
            stored = ValidationRecord(
                version_pk=version.id,
                suite_pk=suite_info.pk,
                result_format=result_format,
                engine=used,
                success=bool(result["success"]),
                statistics=result.get("statistics", {}),
                result=result,
                created_by=current_user(),
            )
            session.add(stored)
            session.flush()
            reused = False
        else:
            reused = True
        reason = f"{'passed' if result['success'] else 'failed'} {suite_info.key}"
        after_validation(session, version.id, bool(result["success"]), on_failure, reason)
        session.flush()
        info = to_info(session, version)
        return ValidationOutcome(
            version=info,
            suite=suite_info,
            on_failure=on_failure,
            result=result,
            engine=used,
            reused=reused,
            result_id=stored.id,
            failures=results.failures(result),
        )


def run_checks(
    hub: DataHub, key: str, content: dict[str, Any], result_format: str, engine: str = "auto"
) -> tuple[str, dict[str, Any]]:
    """Run the suite on the version's data; the result as plain JSON, in GX's layout.

    ``auto`` evaluates the common expectations natively on Arrow (identical results,
    :mod:`digitalhub_airflow.quality.fastpath`) and the rest with GX on a DataFrame;
    ``gx`` runs everything with GX.
    """
    from digitalhub_airflow.quality.fastpath import evaluate, gx_order

    table = hub.read_table(key)
    expectations = content["expectations"]
    if engine == "gx":
        return "gx", _gx(table, content, result_format)
    found = {i: evaluate(table, e, result_format) for i, e in enumerate(expectations)}
    rest = [i for i, result in found.items() if result is None]
    if len(rest) == len(expectations):
        return "gx", _gx(table, content, result_format)
    if rest:  # GX reports the rest in its own order: map its results back to the suite
        subset = [expectations[i] for i in rest]
        by_gx = _gx(table, {**content, "expectations": subset}, result_format)["results"]
        for position, result in zip(gx_order(subset), by_gx, strict=True):
            found[rest[position]] = result
    done: dict[int, dict[str, Any]] = {}
    for i, result in found.items():
        assert result is not None  # GX ran every expectation the fast path did not
        done[i] = result
    # GX lists the expectations whose metrics raised first, then the others.
    order = gx_order(expectations)
    failed = [i for i in order if results.exception_message(done[i].get("exception_info"))]
    ordered = [done[i] for i in failed] + [done[i] for i in order if i not in failed]
    return ("arrow+gx" if rest else "arrow"), _suite_result(content, ordered)


def _gx(table: Any, content: dict[str, Any], result_format: str) -> dict[str, Any]:
    from digitalhub_airflow.quality.gx import run_suite

    result = run_suite(table.to_pandas(), content, result_format)
    plain: dict[str, Any] = jsonable(json.loads(json.dumps(result, default=str)))
    return plain


def _suite_result(content: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """A suite result in GX's layout from per-expectation results."""
    from datetime import datetime, timezone
    from importlib.metadata import version

    results = jsonable(results)
    passed = sum(1 for r in results if r["success"])
    return {
        "success": passed == len(results),
        "results": results,
        "suite_name": content["name"],
        "suite_parameters": {},
        "statistics": {
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": passed / len(results) * 100 if results else None,
        },
        "meta": {
            "great_expectations_version": version("great-expectations"),  # GX not imported
            "engine": "dhub-arrow",
            "validation_time": datetime.now(timezone.utc).isoformat(),
        },
        "id": None,
    }
