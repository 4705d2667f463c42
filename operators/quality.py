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
from digitalhub_airflow.task_io import QualityFacts

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

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from digitalhub_airflow.quality.validate import validate_dataset

        with self.hook.get_hub() as hub:
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
        elif self.on_failure == "warn":
            log.warning("%s", report)
        elif self.on_failure == "quarantine":
            log.error("%s", report)
            raise AirflowSkipException(
                f"v{outcome.version.seq} quarantined; release it with "
                f"`dhub release {outcome.version.key}` after review"
            )
        try:
            outcome.raise_for_failure()
        except ValidationFailedError as exc:
            raise AirflowFailException(str(exc)) from exc
        return outcome.to_json()
