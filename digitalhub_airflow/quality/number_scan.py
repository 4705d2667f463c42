"""One pass over a Parquet version's columns, streamed through numpy: moments, histogram
bins, frequencies and distinct counts of numbers and dates, value counts of strings (read
as dictionaries: no string is built), booleans' trues, and every column's non-null count.
DuckDB's ``histogram()`` aggregate hashes every row into a map, several times slower than
``bincount`` on the bin indices or the dictionary indices, and the values are at hand for
the rest (bench_quality). Moments are merged batch by batch (Chan et al.), as precise as
numpy's own over the whole column. Dates and timestamps are binned the same way, as epoch
seconds (``ColumnPlan.value``), without moments; their range is also kept in their own
type where it converts to the value DuckDB returns. Exact quantiles, when asked for, keep
the column's values (8 bytes a row; the caller asks only up to a row bound).
The file is read a row group at a time (threads decode its columns in parallel, faster
than record batches); a group above ``GROUP_ROWS`` rows in batches of that size.

Bins need the column's range before the pass: the caller takes it from the Parquet
footers, and the pass checks it against the values it sees; a column whose values leave
that range, or strings with more than their bound of distinct values, are dropped from
the pass and its result, and DuckDB computes them instead. Bin indices are
``floor((value - lo) / width)`` in double precision, last bin closed: DuckDB's formula
in ``profiles``, so both give the same bins.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: Integer columns whose range spans at most this many values get their exact distinct
#: count from a bitmap of the range (one byte a value).
BITMAP_SPAN = 1 << 25
#: Integer columns whose range spans at most this many values get their exact quantiles
#: (and distinct count) from counts over the range (8 bytes a value): a ``bincount``
#: instead of keeping every value and partitioning them.
RANK_SPAN = 1 << 22
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
    count: int = 0
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
    first: Any = None  # a temporal column's range, in its own type's integers
    last: Any = None
    arrow_type: Any = None

    @property
    def span(self) -> int:
        return int(self.hi - self.lo) + 1

    @property
    def counted(self) -> bool:
        """Integers whose value frequencies are counted: ``profiles`` reads their exact
        quantiles off those, so their values need not be kept."""
        return self.integer and self.span <= self.frequency_bound

    @property
    def ranked(self) -> bool:
        """Integers whose exact quantiles are read off counts over their range."""
        return bool(self.quantiles) and self.integer and not self.counted and self.span <= RANK_SPAN

    @property
    def exact_distinct(self) -> bool:
        """Integers whose distinct count the pass finds (counts or a bitmap)."""
        return self.integer and self.span <= BITMAP_SPAN

    def add_arrow(self, values: Any, scratch: Scratch) -> None:
        """Add an Arrow array's values (no nulls)."""
        import numpy as np

        if not self.temporal:
            self.add(numpy_view(values), scratch)
            return

        raw = numpy_view(values.cast(_raw_type(values.type)))
        low, high = raw.min(), raw.max()
        self.first = low if self.first is None else min(self.first, low)
        self.last = high if self.last is None else max(self.last, high)
        self.arrow_type = values.type
        unit = getattr(values.type, "unit", str(values.type))
        # a reused buffer: dates keep no values (no quantiles)
        seconds = np.divide(raw, PER_SECOND[unit], out=scratch.get("seconds", len(raw), "f8"))
        self.add(seconds, scratch)

    def add(self, values: Any, scratch: Scratch) -> None:
        import numpy as np

        low, high = values.min(), values.max()
        if not (self.lo <= low and high <= self.hi):  # also NaN
            self.valid = False
            return
        self.low, self.high = min(self.low, low), max(self.high, high)
        as_double = values
        if values.dtype != np.float64:
            as_double = scratch.get("double", len(values), "f8")
            np.copyto(as_double, values, casting="unsafe")
        if not self.temporal:
            self._moments(as_double, scratch)
        if self.quantiles and not (self.counted or self.ranked):
            self.kept.append(as_double if as_double is values else as_double.copy())
        if not self.counted:  # counted: ``profiles`` bins the frequencies instead
            found = self._bin_counts(as_double, scratch)
            self.counts = found if self.counts is None else self.counts + found
        if not self.integer:
            return
        offsets = scratch.get("offsets", len(values), "i8")
        np.subtract(values, int(self.lo), out=offsets, dtype="i8")  # int8 - lo overflows
        if self.counted or self.ranked:
            found = np.bincount(offsets, minlength=self.span)
            self.values = found if self.values is None else np.add(self.values, found, out=found)
        elif self.span <= BITMAP_SPAN:
            if self.seen is None:
                self.seen = np.zeros(self.span, dtype=bool)
            self.seen[offsets] = True

    def _bin_counts(self, values: Any, scratch: Scratch) -> Any:
        """Counts by bin; an index past the last bin (the maximum, or one rounded up to
        it) is counted in the last bin, as ``least`` does in DuckDB's formula."""
        import numpy as np

        width = (self.hi - self.lo) / self.bins or 1.0
        index = np.subtract(values, self.lo, out=scratch.get("index", len(values), "f8"))
        np.divide(index, width, out=index)
        bins = scratch.get("bins", len(values), "intp")
        np.copyto(bins, index, casting="unsafe")  # values >= lo: truncation is floor
        found = np.bincount(bins, minlength=self.bins + 1)
        found[self.bins - 1] += found[self.bins :].sum()
        return found[: self.bins]

    def _moments(self, values: Any, scratch: Scratch) -> None:
        import numpy as np

        n, total = len(values), float(values.sum())
        mean = total / n
        deviations = np.subtract(values, mean, out=scratch.get("index", n, "f8"))
        m2 = float(deviations @ deviations)
        merged = self.n + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.n * n / merged
        self.mean += delta * n / merged
        self.n, self.total = merged, self.total + total

    def result(self) -> dict[str, Any]:
        """Stats in ``profiles``' names (of a temporal column: its range in epoch seconds
        and bins); empty when the footer's range was wrong."""
        if not self.valid or (self.low, self.high) != (self.lo, self.hi):  # also: no values
            return {}
        if self.temporal:
            counts = {b: int(c) for b, c in enumerate(self.counts) if c}
            return {
                "count": self.count,
                "vmin": float(self.low),
                "vmax": float(self.high),
                "bins": counts,
                "bin_count": self.bins,
                **self._typed_range(),
            }
        number = int if self.integer else float
        found: dict[str, Any] = {
            "count": self.count,
            "min": number(self.low),
            "max": number(self.high),
            "sum": self.total,
            "mean": self.mean,
            "std": (self.m2 / (self.n - 1)) ** 0.5 if self.n > 1 else None,
        }
        if self.counts is not None:
            found["bins"] = {b: int(c) for b, c in enumerate(self.counts) if c}
            found["bin_count"] = self.bins
        import numpy as np

        if self.kept:
            kept = np.concatenate(self.kept)  # a copy of its own: partitioned in place
            found["quantiles"] = np.quantile(kept, self.quantiles, overwrite_input=True).tolist()
        if self.ranked:
            found["quantiles"] = _counted_quantiles(self.values, self.lo, self.quantiles)
            found["distinct"] = int(np.count_nonzero(self.values))
        elif self.values is not None:
            found["frequencies"] = {
                int(self.lo) + v: int(c) for v, c in enumerate(self.values) if c
            }
        elif self.seen is not None:
            found["distinct"] = int(self.seen.sum())
        return found

    def _typed_range(self) -> dict[str, Any]:
        """``min`` and ``max`` as dates and datetimes, for the types whose Python values
        are those DuckDB returns (no time zone, which DuckDB shows in the session's)."""
        import pyarrow as pa

        t = self.arrow_type
        if not (pa.types.is_date32(t) or (pa.types.is_timestamp(t) and t.tz is None)):
            return {}
        if pa.types.is_timestamp(t) and t.unit == "ns":  # nanoseconds: not a datetime
            return {}
        raw = pa.array([int(self.first), int(self.last)], _raw_type(t))
        low, high = raw.cast(t).to_pylist()
        return {"min": low, "max": high}


@dataclass
class ValueCounts:
    """Frequencies of a string column's values, up to ``bound`` distinct values."""

    bound: int
    count: int = 0
    frequencies: dict[str, int] = field(default_factory=dict)
    valid: bool = True

    def add_arrow(self, values: Any, scratch: Scratch) -> None:
        import numpy as np
        import pyarrow as pa

        for part in getattr(values, "chunks", [values]):
            chunk = part if pa.types.is_dictionary(part.type) else part.dictionary_encode()
            if len(chunk.dictionary) > self.bound:
                self.valid = False
                return
            indices = numpy_view(chunk.indices)
            found = np.bincount(indices, minlength=len(chunk.dictionary))
            for value, n in zip(chunk.dictionary.to_pylist(), found.tolist(), strict=True):
                if n:
                    self.frequencies[value] = self.frequencies.get(value, 0) + n
        self.valid = len(self.frequencies) <= self.bound

    def result(self) -> dict[str, Any]:
        return {"count": self.count, "frequencies": self.frequencies} if self.valid else {}


@dataclass
class Booleans:
    """A boolean column's count of ``True``."""

    count: int = 0
    trues: int = 0
    valid: bool = True

    def add_arrow(self, values: Any, scratch: Scratch) -> None:
        import pyarrow.compute as pc

        self.trues += pc.sum(values).as_py() or 0

    def result(self) -> dict[str, Any]:
        return {"count": self.count, "trues": self.trues}


Column = NumberColumn | ValueCounts | Booleans


class Scratch:
    """numpy buffers reused batch after batch: a fresh array of a batch's size costs its
    page faults again, about as much as the arithmetic done in it."""

    def __init__(self) -> None:
        self.buffers: dict[str, Any] = {}

    def get(self, name: str, size: int, dtype: str) -> Any:
        import numpy as np

        buffer = self.buffers.get(name)
        if buffer is None or len(buffer) < size:
            buffer = self.buffers[name] = np.empty(size, dtype)
        return buffer[:size]


def _counted_quantiles(counts: Any, lo: float, levels: tuple[float, ...]) -> list[float]:
    """``numpy.quantile`` (linear, to the last bit) of the integers ``counts`` counts
    (``counts[i]``: how many are ``lo + i``), from the order statistics it interpolates."""
    import numpy as np

    ranks = np.cumsum(counts)
    n = int(ranks[-1])

    def at(rank: int) -> float:
        return lo + float(np.searchsorted(ranks, rank, side="right"))

    found = []
    for q in levels:
        position = (n - 1) * q
        below = min(math.floor(position), n - 1)
        a, b = at(below), at(min(below + 1, n - 1))
        t, diff = position - below, b - a
        found.append(b - diff * (1 - t) if t >= 0.5 else a + diff * t)  # numpy's _lerp
    return found


def numpy_view(values: Any) -> Any:
    """A numpy view of a null-free fixed-width Arrow array (zero-copy for one chunk).
    Arrow's own ``to_numpy`` imports pandas the first time (~0.3 s of a first
    ``dhub drift``)."""
    import numpy as np
    import pyarrow as pa

    kind = next((code for test, code in _NUMPY_KINDS if getattr(pa.types, test)(values.type)), None)
    if kind is None:
        return values.to_numpy(zero_copy_only=False)
    width = values.type.bit_width // 8
    views = [
        np.frombuffer(
            chunk.buffers()[1], f"<{kind}{width}", count=len(chunk), offset=chunk.offset * width
        )
        for chunk in getattr(values, "chunks", [values])
    ]
    return views[0] if len(views) == 1 else np.concatenate(views)


_NUMPY_KINDS = (("is_floating", "f"), ("is_signed_integer", "i"), ("is_unsigned_integer", "u"))


def _raw_type(arrow_type: Any) -> Any:
    """The integers a date or timestamp type stores."""
    import pyarrow as pa

    return pa.int32() if pa.types.is_date32(arrow_type) else pa.int64()


def scan_numbers(files: list[str], columns: dict[str, Column]) -> dict[str, dict[str, Any]]:
    """``{column: stats}`` for the columns the pass completed (see module doc)."""
    strings = [name for name, column in columns.items() if isinstance(column, ValueCounts)]
    scratch = Scratch()
    for batch in _read_ahead(_batches(files, columns, strings)):
        for name in batch.column_names:
            column, values = columns[name], batch.column(name)
            if values.null_count:
                values = values.drop_null()
            column.count += len(values)
            if column.valid and len(values):
                column.add_arrow(values, scratch)
    found = {name: column.result() for name, column in columns.items()}
    return {name: stats for name, stats in found.items() if stats}


def _read_ahead(batches: Iterator[Any]) -> Iterator[Any]:
    """The batches, each next one read in another thread while this one is counted:
    Parquet decoding and most of numpy release the GIL, so both cores work."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="dhub-profile-read") as pool:
        ahead = pool.submit(next, batches, None)
        while (batch := ahead.result()) is not None:
            ahead = pool.submit(next, batches, None)
            yield batch


def _batches(files: list[str], columns: dict[str, Column], strings: list[str]) -> Iterator[Any]:
    """The data of the columns still valid, a row group (or a ``GROUP_ROWS`` batch of a
    larger one) at a time; ``strings`` read as dictionaries."""
    import pyarrow.parquet as pq

    for path in files:
        parquet = pq.ParquetFile(path, read_dictionary=strings)
        for group in range(parquet.metadata.num_row_groups):
            names = [name for name, column in columns.items() if column.valid]
            if not names:
                return
            if parquet.metadata.row_group(group).num_rows <= GROUP_ROWS:
                yield parquet.read_row_group(group, columns=names)
            else:
                yield from parquet.iter_batches(GROUP_ROWS, row_groups=[group], columns=names)
