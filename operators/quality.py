"""Data-quality operators: validate a dataset version with a GX suite, profile it, and
compare two versions' profiles for drift. Each is a thin wrapper over a core call and
reports what it checked on ``self.task_io`` for lineage."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from digitalhub_airflow.errors import ValidationFailedError
from digitalhub_airflow.operators.base import DigitalHubOperator
from digitalhub_airflow.provider.task_io import QualityFacts

log = logging.getLogger(__name__)


class ValidateDatasetOperator(DigitalHubOperator):
    """Validate one exact dataset version with a Great Expectations suite.

    :param dataset: the version's key (templated; a key without version means the
        latest usable version: pass the triggering event's ``version_key`` to validate
        exactly what was committed).
    :param suite: a suite file (``.json``/``.yaml``; relative paths are taken from the
        DAG file's folder) or a registered suite key ``store://<p>/suite/gx/<name>[:<id>]``.
    :param on_failure: ``fail`` (the task fails, listing each failed expectation),
        ``warn`` (logged, the task succeeds) or ``quarantine`` (the version is hidden from
        ``latest`` and aliases until ``dhub release``; the task is skipped, so downstream
        tasks are skipped too).
    :param result_format: GX's ``BOOLEAN_ONLY``, ``BASIC``, ``SUMMARY`` or ``COMPLETE``.
    :param force: re-run even if this suite version already validated this version.
    """

    template_fields: Sequence[str] = ("dataset", "suite", "on_failure", "result_format")
    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        dataset: str,
        suite: str,
        on_failure: str = "fail",
        result_format: str = "SUMMARY",
        force: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.suite = suite
        self.on_failure = on_failure
        self.result_format = result_format
        self.force = force

    def suite_location(self) -> str:
        """A relative suite path is taken from the DAG file's folder, where suites live."""
        if self.suite.startswith("store://") or Path(self.suite).is_absolute():
            return self.suite
        folder = getattr(self.dag, "folder", None) if self.has_dag() else None
        return str(Path(folder) / self.suite) if folder else self.suite

    def declared_io(self) -> tuple[list[str], list[str]]:
        return [self.dataset], []

    def perform(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from digitalhub_airflow.quality.validate import validate_dataset

        with self.task_hub() as hub:
            outcome = validate_dataset(
                hub,
                self.dataset,
                self.suite_location(),
                on_failure=self.on_failure,
                result_format=self.result_format,
                force=self.force,
            )
        self.task_io.read(outcome.version)
        facts = self.task_io.quality.setdefault(outcome.version.key, QualityFacts())
        facts.assertions = outcome.assertions
        report = outcome.report()
        if outcome.success:
            log.info("%s", report)
            return outcome.to_json()
        if outcome.quarantined:
            log.error("%s", report)
            raise AirflowSkipException(
                f"v{outcome.version.seq} is quarantined: downstream tasks are skipped; "
                f"review it and `dhub release {outcome.version.dataset}:v{outcome.version.seq}`"
            )
        try:
            outcome.raise_for_failure()
        except ValidationFailedError as exc:
            raise AirflowFailException(str(exc)) from exc
        log.warning("%s", report)  # warn, or a version a person already released
        return outcome.to_json()


class ProfileDatasetOperator(DigitalHubOperator):
    """Profile a table version (types, nulls, distinct, moments, quantiles, top values,
    histograms) and store it with the version; a stored profile is reused.

    :param dataset: the version's key (templated).
    :param force: recompute even if the version already has a profile.
    """

    template_fields: Sequence[str] = ("dataset",)
    ui_color = "#d5f5e3"

    def __init__(self, *, dataset: str, force: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.force = force

    def declared_io(self) -> tuple[list[str], list[str]]:
        return [self.dataset], []

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.quality.profiles import ol_metrics, profile_dataset

        with self.task_hub() as hub:
            info, profile = profile_dataset(hub, self.dataset, force=self.force)
        self.task_io.read(info)
        facts = self.task_io.quality.setdefault(info.key, QualityFacts())
        facts.metrics = ol_metrics(profile, info.size_bytes)
        log.info(
            "profiled %s: %s rows, %s columns",
            info.key,
            profile["row_count"],
            len(profile["columns"]),
        )
        return {
            "version": info.key,
            "row_count": profile["row_count"],
            "columns": len(profile["columns"]),
        }


class CompareProfilesOperator(DigitalHubOperator):
    """Compare two versions for drift (PSI for numbers and dates, Jensen-Shannon for
    categories, schema and row-count changes); the report is stored with both.

    :param reference: the baseline version's key (templated).
    :param current: the version to check (templated).
    :param on_drift: ``fail`` (the task fails on a ``fail`` status) or ``warn``.
    :param thresholds: keyword overrides of :class:`~digitalhub_airflow.quality.drift.Thresholds`
        (``psi_warn``, ``psi_fail``, ``js_warn``, ``js_fail``, ``row_change_warn``,
        ``row_change_fail``, ``schema_change``).
    """

    template_fields: Sequence[str] = ("reference", "current", "on_drift")
    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        reference: str,
        current: str,
        on_drift: str = "fail",
        thresholds: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.reference = reference
        self.current = current
        self.on_drift = on_drift
        self.thresholds = dict(thresholds or {})

    def declared_io(self) -> tuple[list[str], list[str]]:
        return [self.reference, self.current], []

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.quality.drift import Thresholds, compare_versions

        check_on_drift(self.on_drift)
        with self.task_hub() as hub:
            report = compare_versions(
                hub, self.reference, self.current, Thresholds.of(self.thresholds)
            )
            for key in (report["reference"], report["current"]):
                self.task_io.read(hub.resolve(key))
        log.info("drift %s -> %s: %s", report["reference"], report["current"], report["status"])
        settle_drift(report, self.on_drift)
        return report


def check_on_drift(on_drift: str) -> None:
    from digitalhub_airflow.errors import InvalidOptionError

    if on_drift not in ("fail", "warn"):
        raise InvalidOptionError(f"on_drift must be fail or warn, not {on_drift!r}")


def settle_drift(report: dict[str, Any], on_drift: str) -> None:
    """Log the columns past a threshold; a ``fail`` report fails the task when
    ``on_drift`` is ``fail``, and is only logged when it is ``warn``."""
    from airflow.sdk.exceptions import AirflowFailException

    from digitalhub_airflow.errors import DriftError
    from digitalhub_airflow.quality.drift import column_problems, raise_for_drift

    for column in report["columns"]:
        if column["status"] != "ok":
            why = "; ".join(column_problems(column, column["status"]))
            log.warning("  %s %s: %s", column["name"], column["status"], why)
    try:
        raise_for_drift(report)
    except DriftError as exc:
        if on_drift == "fail":
            raise AirflowFailException(str(exc)) from exc
        log.warning("%s", exc)
