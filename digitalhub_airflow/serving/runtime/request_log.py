"""Sampled request/prediction logging into a versioned table dataset, for drift analysis.

A request only appends references to its arrays (no copy, no I/O); a background thread
turns what accumulated into one Arrow table and commits it as a new version of the
dataset every ``flush_seconds`` or ``flush_rows``, and once more at shutdown. Feature
columns carry the model signature's names, so drift analysis compares them with the
training dataset by name. A failed commit is logged and its rows are retried with the
next flush (up to ``MAX_PENDING_FLUSHES`` batches); requests never wait for or fail on it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.keys import as_dataset_key

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from digitalhub_airflow.hub import DataHub

log = logging.getLogger(__name__)

#: Rows kept for retry after failed commits, as a multiple of ``flush_rows``.
MAX_PENDING_FLUSHES = 10
META_COLUMNS = ("ts", "service", "model", "model_version", "request_id")


@dataclass(frozen=True)
class LoggedRequest:
    ts: float
    model: str
    model_version: str
    request_id: str
    feature_names: list[str] | None
    features: Any  # a 2-D array, a DataFrame or a dict of 1-D arrays
    predictions: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.predictions) if self.predictions.ndim else 1


class RequestLog:
    def __init__(
        self,
        target: str,
        service: str,
        hub_factory: Callable[[], DataHub],
        *,
        sample_rate: float = 0.1,
        flush_rows: int = 1000,
        flush_seconds: float = 30.0,
    ) -> None:
        self.key = str(as_dataset_key(target, "table"))
        self.service = service
        self.sample_rate = sample_rate
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._hub_factory = hub_factory
        self._hub: DataHub | None = None
        self._pending: list[LoggedRequest] = []
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.committed_versions: list[str] = []

    def record(
        self,
        *,
        model: str,
        model_version: str,
        request_id: str | None,
        feature_names: list[str] | None,
        features: Any,
        predictions: np.ndarray,
    ) -> None:
        """Keep one request, if sampled; unsampled ones cost one random draw."""
        if self.sample_rate < 1.0 and random.random() >= self.sample_rate:
            return
        entry = LoggedRequest(
            time.time(),
            model,
            model_version,
            request_id or uuid.uuid4().hex,
            feature_names,
            features,
            predictions,
        )
        with self._lock:
            self._pending.append(entry)
            self._pending_rows += entry.rows
            full = self._pending_rows >= self.flush_rows
        if full:
            self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dhub-request-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the flusher and commit what is left (called at server shutdown)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
        if self._hub is not None:
            self._hub.close()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if not self._stopping:
                self.flush()

    def flush(self) -> int:
        """Commit the pending rows as one version; the number of rows committed."""
        with self._lock:
            batch, self._pending, self._pending_rows = self._pending, [], 0
        if not batch:
            return 0
        try:
            table = log_table(self.service, batch)
            if self._hub is None:
                self._hub = self._hub_factory()
            result = self._hub.commit(
                self.key,
                table,
                message=f"{table.num_rows} sampled requests of service {self.service}",
                producer={"service": self.service, "writer": "dhub serve"},
            )
        except Exception:  # a request log must never take the server down
            log.exception("request log: committing %d requests to %s failed", len(batch), self.key)
            self._requeue(batch)
            return 0
        self.committed_versions.append(result.key)
        return int(table.num_rows)

    def _requeue(self, batch: list[LoggedRequest]) -> None:
        with self._lock:
            kept = batch + self._pending
            limit = MAX_PENDING_FLUSHES * self.flush_rows
            rows = sum(e.rows for e in kept)
            while len(kept) > 1 and rows > limit:
                rows -= kept.pop(0).rows
            dropped = len(batch) + len(self._pending) - len(kept)
            self._pending, self._pending_rows = kept, rows
        if dropped:
            log.warning("request log: dropped the %d oldest requests after failed commits", dropped)


def log_table(service: str, batch: list[LoggedRequest]) -> pa.Table:
    """The batch as one table: meta columns, feature columns, prediction column(s)."""
    import pyarrow as pa

    tables = [_entry_table(service, entry) for entry in batch]
    types: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for column in table.schema:
            types.setdefault(column.name, set()).add(column.type)
    # Models of one server may disagree (class numbers vs a pipeline's labels): text wins.
    mixed = {name for name, found in types.items() if len(found) > 1}
    if mixed:
        tables = [_as_text(t, mixed) for t in tables]
    return pa.concat_tables(tables, promote_options="default")


def _as_text(table: pa.Table, names: set[str]) -> pa.Table:
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if field.name in names and field.type != pa.string():
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
    return table


def _entry_table(service: str, entry: LoggedRequest) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    rows = entry.rows
    columns: dict[str, Any] = {
        "ts": pa.array([int(entry.ts * 1_000_000)] * rows, pa.timestamp("us", tz="UTC")),
        "service": pa.array([service] * rows, pa.string()),
        "model": pa.array([entry.model] * rows, pa.string()),
        "model_version": pa.array([entry.model_version] * rows, pa.string()),
        "request_id": pa.array([entry.request_id] * rows, pa.string()),
    }
    columns.update(_feature_columns(entry))
    predictions = entry.predictions.reshape(rows, -1)
    names = (
        ["prediction"]
        if predictions.shape[1] == 1
        else [f"prediction_{i}" for i in range(predictions.shape[1])]
    )
    for i, name in enumerate(names):
        values = predictions[:, i]
        if values.dtype.kind in "biuf":
            columns[name] = pa.array(values.astype(np.float64))
        else:
            columns[name] = pa.array([str(v) for v in values], pa.string())
    return pa.table(columns)


def _feature_columns(entry: LoggedRequest) -> dict[str, Any]:
    import numpy as np

    features = entry.features
    if hasattr(features, "columns") and hasattr(features, "to_numpy"):  # a DataFrame
        return {str(c): np.asarray(features[c]) for c in features.columns}
    if isinstance(features, dict):
        return {name: np.asarray(a).reshape(-1) for name, a in features.items()}
    matrix = np.asarray(features).reshape(entry.rows, -1)
    names = entry.feature_names or [f"input_{i}" for i in range(matrix.shape[1])]
    return {name: matrix[:, i] for i, name in enumerate(names)}
