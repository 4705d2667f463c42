"""Moments, histogram bins, frequencies and distinct counts of Parquet number columns,
streamed through numpy: DuckDB's ``histogram()`` aggregate hashes every
row into a map, several times slower than ``bincount`` on the bin indices, and the values
are at hand for the rest (bench_quality). Moments are merged batch by batch (Chan et al.),
as precise as numpy's own over the whole column. Dates and timestamps are binned the same
way, as epoch seconds (``ColumnPlan.value``), without moments. Exact quantiles, when asked
for, keep the column's values (8 bytes a row; the caller asks only up to a row bound).
The file is read a row group at a time (threads decode its columns in parallel, faster
than record batches); a group above ``GROUP_ROWS`` rows in batches of that size.

Bins need the column's range before the pass: the caller takes it from the Parquet
footers, and the pass checks it against the values it sees; a column whose values leave
that range is dropped from the result, and DuckDB computes it instead. Bin indices are
``floor((value - lo) / width)`` in double precision, last bin closed: DuckDB's formula
in ``profiles``, so both give the same bins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Integer columns whose range spans at most this many values get their exact distinct
#: count from a bitmap of the range (one byte a value).
BITMAP_SPAN = 1 << 25
#: Row groups up to this many rows are read whole; larger ones in batches of this size.
GROUP_ROWS = 1 << 21
#: Units per second of Arrow's temporal types (dates: days), for epoch seconds.
PER_SECOND = {
    "s": 1.0,
    "ms": 1e3,
    "us": 1e6,
    "ns": 1e9,
    "date32[day]": 1 / 86400,
    "date64[ms]": 1e3,
}


@dataclass
class NumberColumn:
    """What the pass gathers for one column, and what it has seen so far."""

    lo: float
    hi: float
    bins: int
    integer: bool
    frequency_bound: int
    quantiles: tuple[float, ...] = ()
    temporal: bool = False
    kept: list[Any] = field(default_factory=list)
    counts: Any = None
    seen: Any = None
    values: Any = None
    low: float = float("inf")
    high: float = float("-inf")
    valid: bool = True
    n: int = 0
    total: float = 0.0
    mean: float = 0.0
    m2: float = 0.0

    @property
    def span(self) -> int:
        return int(self.hi - self.lo) + 1

    @property
    def counted(self) -> bool:
        """Integers whose value frequencies are counted: ``profiles`` reads their exact
        quantiles off those, so their values need not be kept."""
        return self.integer and self.span <= self.frequency_bound

    def add(self, values: Any) -> None:
        import numpy as np

        low, high = values.min(), values.max()
        if not (self.lo <= low and high <= self.hi):  # also NaN
            self.valid = False
            return
        self.low, self.high = min(self.low, low), max(self.high, high)
        as_double = values.astype(np.float64, copy=False)
        if not self.temporal:
            self._moments(as_double)
        if self.quantiles and not self.counted:
            self.kept.append(as_double)
        width = (self.hi - self.lo) / self.bins or 1.0
        index = np.subtract(as_double, self.lo)
        np.divide(index, width, out=index)
        np.floor(index, out=index)
        np.minimum(index, self.bins - 1, out=index)
        found = np.bincount(index.astype(np.intp), minlength=self.bins)
        self.counts = found if self.counts is None else self.counts + found
        if not self.integer:
            return
        offsets = values.astype(np.int64, copy=False) - int(self.lo)  # int8 - lo overflows
        if self.counted:
            found = np.bincount(offsets, minlength=self.span)
            self.values = found if self.values is None else self.values + found
        elif self.span <= BITMAP_SPAN:
            if self.seen is None:
                self.seen = np.zeros(self.span, dtype=bool)
            self.seen[offsets] = True

    def _moments(self, values: Any) -> None:
        n, total = len(values), float(values.sum())
        mean = total / n
        deviations = values - mean
        m2 = float(deviations @ deviations)
        merged = self.n + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.n * n / merged
        self.mean += delta * n / merged
        self.n, self.total = merged, self.total + total

    def result(self) -> dict[str, Any]:
        """Stats in ``profiles``' names (of a temporal column: its range in epoch seconds
        and bins); empty when the footer's range was wrong."""
        if not self.valid or self.low != self.lo or self.high != self.hi:
            return {}
        if self.temporal:
            counts = {b: int(c) for b, c in enumerate(self.counts) if c}
            return {
                "vmin": float(self.low),
                "vmax": float(self.high),
                "bins": counts,
                "bin_count": self.bins,
            }
        number = int if self.integer else float
        found: dict[str, Any] = {
            "min": number(self.low),
            "max": number(self.high),
            "sum": self.total,
            "mean": self.mean,
            "std": (self.m2 / (self.n - 1)) ** 0.5 if self.n > 1 else None,
            "bins": {b: int(c) for b, c in enumerate(self.counts) if c},
            "bin_count": self.bins,
        }
        if self.kept:
            import numpy as np

            found["quantiles"] = np.quantile(np.concatenate(self.kept), self.quantiles).tolist()
        if self.values is not None:
            found["frequencies"] = {
                int(self.lo) + v: int(c) for v, c in enumerate(self.values) if c
            }
        elif self.seen is not None:
            found["distinct"] = int(self.seen.sum())
        return found


def scan_numbers(files: list[str], columns: dict[str, NumberColumn]) -> dict[str, dict[str, Any]]:
    """``{column: stats}`` for the columns whose footer range held (see module doc)."""
    for batch in _batches(files, list(columns)):
        for name, column in columns.items():
            values = batch.column(name)
            if values.null_count:
                values = values.drop_null()
            if column.valid and len(values):
                column.add(_numbers(values) if column.temporal else values.to_numpy())
    found = {name: column.result() for name, column in columns.items() if column.counts is not None}
    return {name: stats for name, stats in found.items() if stats}


def _batches(files: list[str], columns: list[str]) -> Any:
    """The columns' data, a row group (or a ``GROUP_ROWS`` batch of a larger one) at a time."""
    import pyarrow.parquet as pq

    for path in files:
        parquet = pq.ParquetFile(path)
        for group in range(parquet.metadata.num_row_groups):
            if parquet.metadata.row_group(group).num_rows <= GROUP_ROWS:
                yield parquet.read_row_group(group, columns=columns)
            else:
                yield from parquet.iter_batches(GROUP_ROWS, row_groups=[group], columns=columns)


def _numbers(values: Any) -> Any:
    """Dates and timestamps as epoch seconds (float64), as ``ColumnPlan.value``."""
    import pyarrow as pa

    unit = getattr(values.type, "unit", str(values.type))
    raw = values.cast(pa.int32() if pa.types.is_date32(values.type) else pa.int64())
    return raw.to_numpy() / PER_SECOND[unit]
