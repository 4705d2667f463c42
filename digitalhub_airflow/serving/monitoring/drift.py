"""Drift of a model's live inputs: a window of the rows a server logged (its request log,
one dataset version per flush) against the profile of the version the model was trained on.

The window is profiled like any version and compared column by column with the same
measures as data drift (quality/drift.py: PSI for numbers and dates, Jensen-Shannon for
categories, the null rate's rise and numbers outside the training range, which catch a
client sending empty or absurd fields before PSI does); only feature columns are
compared, never the log's own bookkeeping columns or the predictions. The report is
stored as a drift report between the training version and the newest log version read
(the window's versions are counted, not listed: a server flushing every 30 s commits
thousands a day), and graded by the same thresholds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.errors import (
    InvalidOptionError,
    InvalidSourceError,
    NotFoundError,
    TrackingError,
)
from digitalhub_airflow.quality.drift import Thresholds, compare_columns, store_report, worst
from digitalhub_airflow.quality.jsonable import jsonable
from digitalhub_airflow.quality.profiles import compute_profile, profile_dataset
from digitalhub_airflow.serving.runtime.request_log import META_COLUMNS

if TYPE_CHECKING:
    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.training.tracking import TrackingConfig

PREDICTION = re.compile(r"prediction(_\d+)?")
DURATION = re.compile(r"(\d+)\s*([smhdw])")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: Fewer logged rows than this make PSI over 20 bins noise, not evidence.
MIN_ROWS = 100


@dataclass(frozen=True)
class Window:
    """Rows logged at ``since <= ts < until`` (UTC)."""

    since: datetime
    until: datetime

    def __str__(self) -> str:
        return f"{_iso(self.since)}/{_iso(self.until)}"


def parse_window(
    window: str | None = None,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
) -> Window:
    """A window from ``window`` (the last ``30m``, ``6h``, ``7d``... before ``until``) or
    from ``since``; ``until`` defaults to now. Times are ISO 8601, naive ones UTC."""
    if (not window) == (not since):
        raise InvalidOptionError("give either a window (e.g. '6h') or a since time, not both")
    end = _timestamp(until, "until") if until else datetime.now(timezone.utc)
    if since:
        start = _timestamp(since, "since")
    else:
        match = DURATION.fullmatch(str(window).strip().lower())
        if match is None or int(match.group(1)) == 0:
            raise InvalidOptionError(
                f"window must be a positive duration such as 30m, 6h or 7d, not {window!r}"
            )
        start = end - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    if start >= end:
        raise InvalidOptionError(f"the window starts at {_iso(start)}, not before {_iso(end)}")
    return Window(start, end)


def _timestamp(value: str | datetime, what: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidOptionError(f"{what} must be an ISO 8601 time, not {value!r}") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def training_version(hub: DataHub, model_key: str, features: list[str]) -> str:
    """The version a catalog model was trained on: of its datasets, the one whose columns
    cover most of ``features`` (a model trained on several keeps them in order)."""
    from digitalhub_airflow.training.model_catalog import get_model

    datasets = get_model(hub, model_key).datasets
    if not datasets:
        raise NotFoundError(f"model {model_key} records no training dataset")
    infos = [hub.resolve(key) for key in datasets]
    return max(
        infos, key=lambda info: len({c["name"] for c in info.schema or []} & set(features))
    ).key


def window_versions(hub: DataHub, requests: str, window: Window) -> list[VersionInfo]:
    """The request-log versions that can hold rows of ``window``: those committed since it
    began (a row is committed after it is logged), oldest first."""
    from digitalhub_airflow.catalog.models import Version
    from digitalhub_airflow.datasets.versions import find_dataset, to_info

    require_current(hub.catalog)
    key = hub.key(requests).unversioned()
    with hub.catalog.session() as session:
        dataset = find_dataset(session, key)
        rows = session.scalars(
            select(Version)
            .where(Version.dataset_id == dataset.id, Version.created_at >= window.since)
            .order_by(Version.seq)
        )
        return [to_info(session, v, []) for v in rows]


@contextmanager
def window_rows(
    hub: DataHub, requests: str, window: Window, model: str | None = None
) -> Iterator[tuple[Any, list[VersionInfo]]]:
    """``(pyarrow.Table, versions)``: the logged rows of ``window`` (of one served
    ``model`` name if given) and the versions they were read from."""
    import tempfile

    import duckdb

    versions = window_versions(hub, requests, window)
    not_parquet = [v.key for v in versions if v.format != "parquet"]
    if not_parquet:
        raise InvalidSourceError(f"request logs are Parquet; {not_parquet[0]} is not")
    with tempfile.TemporaryDirectory(prefix="dhub-window-") as tmp:
        files = [str(p) for v in versions for p in hub.get(v.key, f"{tmp}/{v.version_id}")]
        if not files:
            yield None, versions
            return
        query = "SELECT * FROM read_parquet(?, union_by_name = true) WHERE ts >= ? AND ts < ?"
        params: list[Any] = [files, window.since, window.until]
        if model is not None:
            query += " AND model = ?"
            params.append(model)
        with duckdb.connect() as con:
            yield con.sql(query, params=params).to_arrow_table(), versions


def feature_columns(schema: Any) -> list[str]:
    """The logged model inputs: every column but the log's own and the predictions."""
    return [
        f.name for f in schema if f.name not in META_COLUMNS and not PREDICTION.fullmatch(f.name)
    ]


def serving_drift(
    hub: DataHub,
    requests: str,
    window: Window,
    *,
    reference: str | None = None,
    model_key: str | None = None,
    model: str | None = None,
    service: str | None = None,
    thresholds: Thresholds | None = None,
    min_rows: int = MIN_ROWS,
) -> dict[str, Any]:
    """Compare the inputs ``requests`` logged in ``window`` with the training data and
    store the report.

    ``reference``: the training version's key; or ``model_key``, the catalog model whose
    training version is used. ``model``: only rows of this served model name.
    ``service``: the service key, recorded in the report.
    """
    thresholds = thresholds or Thresholds()
    if (reference is None) == (model_key is None):
        raise InvalidOptionError("give either the training dataset version or the model key")
    if min_rows < 1:
        raise InvalidOptionError(f"min_rows must be at least 1, not {min_rows!r}")
    require_current(hub.catalog)
    requests_key = str(hub.key(requests).unversioned())
    with window_rows(hub, requests_key, window, model) as (table, versions):
        rows = 0 if table is None else table.num_rows
        if rows < min_rows:
            which = f" of model {model}" if model else ""
            raise InvalidSourceError(
                f"{requests_key} logged {rows} rows{which} in {window} "
                f"({len(versions)} versions), fewer than the {min_rows} a drift report needs"
            )
        features = feature_columns(table.schema)
        if reference is None:
            reference = training_version(hub, str(model_key), features)
        ref_info, ref_profile = profile_dataset(hub, reference)
        known = {c["name"] for c in ref_profile["columns"]}
        compared = [name for name in features if name in known]
        if not compared:
            raise InvalidSourceError(
                f"no logged input of {requests_key} ({', '.join(features) or 'none'}) "
                f"is a column of {ref_info.key}"
            )
        current = table.select(compared)
        columns = compare_columns(
            ref_profile, compute_profile(current, row_count=rows), current, thresholds
        )
    unmatched = [name for name in features if name not in known]
    checks = {"schema": thresholds.schema_change if unmatched else "ok"}
    report = jsonable(
        {
            "kind": "serving",
            "reference": ref_info.key,
            "current": f"{requests_key} {window}",
            "requests": requests_key,
            "service": service,
            "model_key": model_key,
            "model": model,
            "window": {
                "since": _iso(window.since),
                "until": _iso(window.until),
                "rows": rows,
                "versions": len(versions),
                "first_version": versions[0].key,
                "last_version": versions[-1].key,
            },
            "status": worst([*checks.values(), *(c["status"] for c in columns)]),
            "checks": checks,
            "features": {"compared": compared, "not_in_reference": unmatched},
            "columns": columns,
            "thresholds": asdict(thresholds),
        }
    )
    return store_report(hub, report, current=report["window"]["last_version"])


def drift_reports(hub: DataHub, requests: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The stored drift reports of a request log, newest first."""
    from digitalhub_airflow.catalog.models import DriftRecord, Version
    from digitalhub_airflow.datasets.versions import find_dataset

    require_current(hub.catalog)
    key = hub.key(requests).unversioned()
    with hub.catalog.session() as session:
        dataset = find_dataset(session, key)
        query = (
            select(DriftRecord)
            .join(Version, DriftRecord.current_pk == Version.id)
            .where(Version.dataset_id == dataset.id)
            .order_by(DriftRecord.id.desc())
            .limit(limit)
        )
        return [
            {
                **r.report,
                "id": r.id,
                "created_by": r.created_by,
                "created_at": r.created_at.isoformat(),
            }
            for r in session.scalars(query)
        ]


def service_drift(
    hub: DataHub,
    tracking: TrackingConfig,
    service: str,
    window: Window,
    *,
    model: str | None = None,
    reference: str | None = None,
    thresholds: Thresholds | None = None,
    min_rows: int = MIN_ROWS,
) -> dict[str, Any]:
    """:func:`serving_drift` of a recorded service: its request log, the rows of its one
    served ``model`` (name it when it serves several), and that model's training version
    unless ``reference`` is given."""
    from digitalhub_airflow.keys import parse_key
    from digitalhub_airflow.serving.deploy.services import get_service

    key = parse_key(service)
    if key.entity_type != "service":
        raise InvalidOptionError(f"{service} is not a service key (store://<p>/service/...)")
    assert key.kind is not None and key.name is not None  # a service key names them
    record = get_service(hub, key.project, key.kind, key.name)
    requests = record.spec.get("request_log")
    if not requests:
        raise InvalidSourceError(
            f"service {record.key} logs no requests: deploy it with request_log"
        )
    if model is None:
        if len(record.models) != 1:
            raise InvalidOptionError(
                f"service {record.key} serves {', '.join(sorted(record.models))}: name one"
            )
        model = next(iter(record.models))
    if model not in record.models:
        raise NotFoundError(f"service {record.key} serves no model {model!r}")
    model_key = None
    if reference is None:
        model_key = catalog_model_key(hub, tracking, record.models[model]["pinned"])
    return serving_drift(
        hub,
        requests,
        window,
        reference=reference,
        model_key=model_key,
        model=model,
        service=record.key,
        thresholds=thresholds,
        min_rows=min_rows,
    )


def catalog_model_key(hub: DataHub, tracking: TrackingConfig, ref: str) -> str:
    """The catalog model a served reference stands for: a catalog key names it; a
    registry version trained by the platform carries it as a tag of its run."""
    from mlflow.exceptions import MlflowException

    from digitalhub_airflow.keys import SCHEME, parse_key
    from digitalhub_airflow.serving.model_refs import REGISTRY_RE
    from digitalhub_airflow.training.runner import TAG_MODEL_KEY
    from digitalhub_airflow.training.tracking import tracking_session

    if ref.startswith(SCHEME):
        if parse_key(ref).entity_type != "model":
            raise InvalidOptionError(f"{ref} is not a model key")
        return ref
    registry = REGISTRY_RE.fullmatch(ref)
    if registry is None or not (registry["version"] or "").isdigit():
        raise InvalidOptionError(
            f"{ref} is not a registry version (models:/<name>/<version>) or a catalog model "
            "key; give the training dataset version instead"
        )
    with tracking_session(tracking) as client:
        try:
            version = client.get_model_version(registry["name"], registry["version"])
            model_key = (
                None  # registered from no run: not trained by the platform
                if version.run_id is None
                else client.get_run(version.run_id).data.tags.get(TAG_MODEL_KEY)
            )
        except MlflowException as exc:
            raise TrackingError(f"cannot read {ref} from the registry: {exc.message}") from exc
    if model_key is None:
        raise NotFoundError(
            f"{ref} was not trained by the platform (no catalog model); "
            "give the training dataset version instead"
        )
    return model_key
