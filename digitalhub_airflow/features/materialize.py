"""Loading the online store: Feast's materialisation, recorded with its source versions.

Incremental by default (from where each view's last materialisation ended, as
``feast materialize-incremental``), or over an explicit ``[start, end)`` window. Sources
follow their dataset first (:mod:`digitalhub_airflow.features.refresh`), so a DAG run
scheduled on a new version of the dataset loads that version. The run records
``consumes`` edges to the exact versions read.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.features.config import open_feature_store
from digitalhub_airflow.features.errors import FeatureRequestError
from digitalhub_airflow.features.records import record
from digitalhub_airflow.features.refresh import refresh_views
from digitalhub_airflow.features.sources import PinnedSource

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


@dataclass
class MaterializeResult:
    project: str
    run: str | None
    start: datetime | None
    end: datetime
    views: list[str]
    rows: int
    sources: list[PinnedSource] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "run": self.run,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat(),
            "views": self.views,
            "rows": self.rows,
            "sources": [s.to_json() for s in self.sources],
        }


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def incremental_start(view: Any, now: datetime) -> datetime:
    """Where ``feast materialize-incremental`` starts a view: its last end, else ``ttl``
    before now (a year before now for a zero ``ttl``)."""
    if view.most_recent_end_time is not None:
        return aware(view.most_recent_end_time)
    ttl: timedelta | None = view.ttl
    if ttl is None:
        raise FeatureRequestError(
            f"feature view {view.name!r} has no ttl and was never materialised: give a window start"
        )
    return now - (ttl if ttl.total_seconds() > 0 else timedelta(weeks=52))


def rows_in_window(source: PinnedSource, timestamp: str, start: datetime, end: datetime) -> int:
    """Source rows whose event time falls in ``[start, end)``: what the window loads."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    column = ds.dataset(str(source.folder), format="parquet").to_table(columns=[timestamp])[0]
    if column.type.tz is None:
        column = pc.assume_timezone(column, "UTC")
    mask = pc.and_(pc.greater_equal(column, start), pc.less(column, end))
    return int(pc.sum(pc.cast(mask, "int64")).as_py() or 0)


def materialize(
    hub: DataHub,
    project: str,
    end: datetime,
    start: datetime | None = None,
    views: list[str] | None = None,
) -> MaterializeResult:
    """Materialise ``views`` (default: all) up to ``end``; refuse an empty window."""
    end = aware(end)
    store = open_feature_store(hub, project)
    chosen = store.list_feature_views()
    if views:
        unknown = sorted(set(views) - {v.name for v in chosen})
        if unknown:
            raise FeatureRequestError(f"no feature view {', '.join(unknown)} in {project}")
        chosen = [v for v in chosen if v.name in views]
    if not chosen:
        raise FeatureRequestError(f"no feature views registered in {project}: apply first")
    now = datetime.now(timezone.utc)
    starts = {v.name: aware(start) if start else incremental_start(v, now) for v in chosen}
    if all(s >= end for s in starts.values()):
        raise FeatureRequestError(
            f"empty materialisation window: nothing between {min(starts.values()).isoformat()} "
            f"and {end.isoformat()}"
        )
    pinned = refresh_views(hub, store, chosen)
    rows = sum(
        rows_in_window(p, v.batch_source.timestamp_field, starts[v.name], end)
        for p, v in zip(pinned, chosen, strict=True)
    )
    names = [v.name for v in chosen]
    with contextlib.redirect_stdout(sys.stderr):  # Feast prints progress; stdout is ours
        if start is None:
            store.materialize_incremental(end, names)
        else:
            store.materialize(aware(start), end, names)
    parameters = {
        "views": names,
        "start": start.isoformat() if start else "incremental",
        "end": end.isoformat(),
        "rows": rows,
        "sources": [p.to_json() for p in pinned],
    }
    run = record(hub, project, "materialize", parameters, [p.version for p in pinned])
    return MaterializeResult(project, run, start, end, names, rows, pinned)
