"""Profiling a table version by streaming it: never the whole table in pandas.

For Parquet, one pass streams the columns through numpy (``number_scan``): counts; of the
integer, float and date columns whose range the footer statistics give, bins by
``bincount``, moments, exact quantiles up to a row bound, integers' frequencies or exact
distinct counts, dates' range; strings' frequencies (read as dictionaries) up to a bound;
booleans. Meanwhile DuckDB estimates (HyperLogLog) the distinct values of the numbers
the pass cannot count. DuckDB computes what the pass left, one scan, and a second only
where still needed (distinct values below a bound exactly, frequencies of low-cardinality
columns, bins of columns without a footer range or whose values left it: the pass checks
it); a profile the pass completes needs no more. Other formats: DuckDB alone.

Statistics: ``std`` is the sample standard deviation; ``distinct`` is exact when
``distinct_exact`` says so (else HyperLogLog, a few per cent). Quantiles are exact
(linear interpolation, numpy's default) up to ``EXACT_QUANTILE_ROWS`` rows, and for
integers with value frequencies; above, ``quantile_method`` is ``fine_histogram``: each
quantile is read off ``FINE_BINS`` equal-width bins (linear within its bin), within one
bin width (``quantile_error_bound``, (max - min) / FINE_BINS) of the order statistic of
its rank. Float columns holding NaN get no histogram (NaN has no bin).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.catalog.models import ProfileRecord
from digitalhub_airflow.datasets.versions import VersionInfo, resolve
from digitalhub_airflow.keys import as_key
from digitalhub_airflow.quality.data import arrow_dataset, version_files
from digitalhub_airflow.quality.jsonable import jsonable
from digitalhub_airflow.settings import current_user

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HISTOGRAM_BINS = 20
TOP_VALUES = 20
#: Columns with at most this many (estimated) distinct values get their distinct count exactly.
EXACT_DISTINCT_BOUND = 100_000
#: Columns with at most this many distinct values get full value frequencies (top values).
FREQUENCY_BOUND = 10_000
#: Up to this many rows quantiles are exact; above, read off fine histograms (bench_quality:
#: exact quantiles of 10M rows cost more than the rest of the profile together).
EXACT_QUANTILE_ROWS = 2_000_000
#: Bins of the histogram that approximate quantiles are read from (a multiple of
#: HISTOGRAM_BINS: the stored histogram is these bins summed by groups).
FINE_BINS = HISTOGRAM_BINS * 100


@dataclass(frozen=True)
class ColumnPlan:
    """How one column is profiled, from its Arrow type."""

    name: str
    arrow_type: str
    kind: str  # numeric, temporal, string, boolean, other
    discrete: bool  # values worth counting one by one: strings, booleans, integers

    @property
    def ident(self) -> str:
        return '"' + self.name.replace('"', '""') + '"'

    @property
    def plain_number(self) -> bool:
        """Integers and floats: Python's ``float`` of a value is DuckDB's ``::DOUBLE``."""
        return self.kind == "numeric" and not self.arrow_type.startswith("decimal")

    @property
    def value(self) -> str:
        """The column as a number for moments and bins (dates as epoch seconds)."""
        return f"epoch({self.ident})" if self.kind == "temporal" else f"{self.ident}::DOUBLE"


def column_plan(name: str, arrow_type: Any) -> ColumnPlan:
    import pyarrow.types as t

    kind = column_kind(arrow_type)
    discrete = kind in ("string", "boolean") or t.is_integer(arrow_type)
    return ColumnPlan(name, str(arrow_type), kind, discrete)


def column_kind(arrow_type: Any) -> str:
    import pyarrow.types as t

    if t.is_boolean(arrow_type):
        return "boolean"
    if t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return "numeric"
    if t.is_temporal(arrow_type) and not t.is_duration(arrow_type) and not t.is_time(arrow_type):
        return "temporal"
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_dictionary(arrow_type):
        return "string"
    return "other"


def compute_profile(
    dataset: Any, *, row_count: int | None = None, parquet_files: list[str] | None = None
) -> dict[str, Any]:
    """The profile of an Arrow dataset (or table): the numpy pass, then DuckDB's scans
    of what it left (see the module doc).

    ``row_count`` (known from the catalog) picks exact or estimated quantiles up front;
    without it, one more count query finds it. ``parquet_files``: the same data as
    Parquet, streamed by the pass and scanned by DuckDB's own reader (about twice as fast
    as an Arrow dataset, bench_quality), whose footers give the row count and the ranges
    histograms need; the Arrow schema still decides how each column is profiled.
    """
    plans = [column_plan(f.name, f.type) for f in dataset.schema]
    ranges = footer_ranges(parquet_files, plans) if parquet_files else {}
    if parquet_files:
        row_count = sum(pq_rows(path) for path in parquet_files)
    with _Data(dataset, parquet_files) as con:
        if row_count is None:
            row_count = int(con.select({"rows": "count(*)"})["rows"])
        exact_quantiles = row_count <= EXACT_QUANTILE_ROWS
        numbers = _scan_numbers(con, parquet_files or [], plans, ranges, exact_quantiles)
        known_rows = row_count if parquet_files else None  # Parquet's from its footers
        rows, first = _first_scan(con, plans, exact_quantiles, ranges, numbers, rows=known_rows)
        second = _second_scan(con, plans, first, rows, exact_quantiles)
    columns = [
        _column_profile(p, rows, {**first[p.name], **second.get(p.name, {})}, exact_quantiles)
        for p in plans
    ]
    return jsonable(
        {
            "row_count": rows,
            "column_count": len(plans),
            "columns": columns,
            "settings": {
                "quantiles": list(QUANTILES),
                "histogram_bins": HISTOGRAM_BINS,
                "exact_distinct_bound": EXACT_DISTINCT_BOUND,
                "frequency_bound": FREQUENCY_BOUND,
                "exact_quantile_rows": EXACT_QUANTILE_ROWS,
                "fine_bins": FINE_BINS,
            },
        }
    )


def pq_rows(path: str) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def _scan_numbers(
    con: _Data,
    files: list[str],
    plans: list[ColumnPlan],
    ranges: dict[str, tuple[float, float]],
    exact_quantiles: bool,
) -> dict[str, dict[str, Any]]:
    """By ``number_scan``, in one pass: counts; moments, bins, exact quantiles (up to the
    row bound), and integers' frequencies or distinct counts, of the numbers with a footer
    range (verified there against the data); dates' range and bins; strings' frequencies
    (up to ``FREQUENCY_BOUND`` values); booleans' trues. Meanwhile DuckDB estimates the
    distinct values of the numbers the pass does not count (its threads on the core the
    pass leaves)."""
    from concurrent.futures import ThreadPoolExecutor

    from digitalhub_airflow.quality.number_scan import (
        Booleans,
        Column,
        NumberColumn,
        ValueCounts,
        scan_numbers,
    )

    columns: dict[str, Column] = {}
    for p in plans:
        if (p.plain_number or p.kind == "temporal") and p.name in ranges:
            columns[p.name] = NumberColumn(
                *ranges[p.name],
                bins=_bin_count(p, exact_quantiles),
                integer=p.discrete,
                frequency_bound=FREQUENCY_BOUND,
                quantiles=QUANTILES if exact_quantiles and p.kind == "numeric" else (),
                temporal=p.kind == "temporal",
            )
        elif p.arrow_type in ("string", "large_string"):
            columns[p.name] = ValueCounts(FREQUENCY_BOUND)
        elif p.kind == "boolean":
            columns[p.name] = Booleans()
    if not (files and columns):
        return {}
    estimates = {
        f"{i}.approx_distinct": f"approx_count_distinct({p.ident})"
        for i, p in enumerate(plans)
        if isinstance(column := columns.get(p.name), NumberColumn) and not column.exact_distinct
    }
    with ThreadPoolExecutor(1, thread_name_prefix="dhub-profile-duckdb") as pool:
        estimated = pool.submit(con.select, estimates)
        found = scan_numbers(files, columns)
        for name, stats in _by_column(plans, estimated.result()).items():
            if name in found:  # else the first scan computes all of that column
                found[name].update(stats)
    return found


class _Data:
    """DuckDB over the data (a view ``data``), connected on the first query: a profile
    the numpy pass completes needs none (DuckDB's import alone is ~0.3 s)."""

    def __init__(self, dataset: Any, parquet_files: list[str] | None) -> None:
        self.dataset, self.parquet_files = dataset, parquet_files
        self.con: Any = None

    def __enter__(self) -> _Data:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.con is not None:
            self.con.close()

    def select(self, exprs: dict[str, str]) -> dict[str, Any]:
        """``{name: value}`` of the expressions ``exprs`` names, in one scan."""
        if not exprs:
            return {}
        if self.con is None:
            import duckdb

            self.con = duckdb.connect()
            if self.parquet_files:
                self.con.read_parquet(self.parquet_files).create_view("data")
            else:
                self.con.register("data", self.dataset)
        names = list(exprs)
        sql = "SELECT " + ", ".join(exprs[n] for n in names) + " FROM data"
        row = self.con.execute(sql).fetchone()
        return dict(zip(names, row, strict=True))


def footer_ranges(files: list[str], plans: list[ColumnPlan]) -> dict[str, tuple[float, float]]:
    """``{column: (min, max)}`` of numbers and dates (as ``ColumnPlan.value``) from the
    Parquet footers' statistics, for the columns every row group with values has them."""
    import pyarrow.parquet as pq

    wanted = {p.name for p in plans if p.kind in ("numeric", "temporal")}
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    unknown: set[str] = set()
    for path in files:
        meta = pq.read_metadata(path)
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                chunk = group.column(c)
                name, stats = chunk.path_in_schema, chunk.statistics
                if name not in wanted:
                    continue
                if (
                    stats is not None
                    and stats.has_null_count
                    and stats.null_count == chunk.num_values
                ):
                    continue  # no values, no bounds
                bounds = (
                    (_footer_number(stats.min), _footer_number(stats.max))
                    if stats is not None and stats.has_min_max
                    else (None, None)
                )
                if bounds[0] is None or bounds[1] is None:
                    unknown.add(name)
                    continue
                lows[name] = min(lows.get(name, bounds[0]), bounds[0])
                highs[name] = max(highs.get(name, bounds[1]), bounds[1])
    return {n: (lows[n], highs[n]) for n in lows if n not in unknown}


def _footer_number(value: Any) -> float | None:
    """A footer statistic as ``ColumnPlan.value`` computes it (dates: epoch seconds, UTC)."""
    from datetime import date, datetime, timezone
    from decimal import Decimal

    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, date):
        return float((value - date(1970, 1, 1)).days * 86400)
    return None


def _by_column(plans: list[ColumnPlan], values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"<index>.<stat>": value}`` -> ``{column: {stat: value}}``."""
    found: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        index, stat = name.split(".", 1)
        found.setdefault(plans[int(index)].name, {})[stat] = value
    return found


def _bin_count(plan: ColumnPlan, exact_quantiles: bool) -> int:
    """Fine bins where quantiles are read off the histogram, else the stored bins."""
    return HISTOGRAM_BINS if exact_quantiles or plan.kind != "numeric" else FINE_BINS


def _bins(plan: ColumnPlan, lo: float, hi: float, count: int) -> str:
    width = (hi - lo) / count or 1.0
    return (
        f"histogram(least(floor(({plan.value} - {lo!r}) / {width!r}), "
        f"{count - 1})::INTEGER) FILTER (WHERE {plan.ident} IS NOT NULL)"
    )


def _first_scan(
    con: _Data,
    plans: list[ColumnPlan],
    exact_quantiles: bool,
    ranges: dict[str, tuple[float, float]],
    numbers: dict[str, dict[str, Any]],
    *,
    rows: int | None,
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Row count (unless known), counts, moments, distinct estimates and what else one
    scan can give; ``numbers``: what ``number_scan`` found already."""
    levels = "[" + ", ".join(str(q) for q in QUANTILES) + "]"
    exprs = {} if rows is not None else {"rows": "count(*)"}
    for i, p in enumerate(plans):
        col = p.ident
        known = numbers.get(p.name, {})
        if "count" not in known:
            exprs[f"{i}.count"] = f"count({col})"
        if p.kind == "other":
            continue
        counted = "frequencies" in known or p.kind == "boolean"
        if p.kind == "boolean" and "trues" not in known:  # two values: cheaper than histogram
            exprs[f"{i}.trues"] = f"count_if({col})"
        elif not counted and not {"distinct", "approx_distinct"} & known.keys():
            exprs[f"{i}.approx_distinct"] = f"approx_count_distinct({col})"
        if (p.kind == "temporal" and "min" not in known) or (p.kind == "numeric" and not known):
            exprs[f"{i}.min"] = f"min({col})"
            exprs[f"{i}.max"] = f"max({col})"
            if not p.plain_number and not known:
                exprs[f"{i}.vmin"] = f"min({p.value})"
                exprs[f"{i}.vmax"] = f"max({p.value})"
        if p.kind == "numeric" and not known:
            exprs[f"{i}.sum"] = f"sum({p.value})"
            exprs[f"{i}.mean"] = f"avg({p.value})"
            exprs[f"{i}.std"] = f"stddev_samp({p.value})"
        if p.kind == "numeric" and exact_quantiles and not counted and not known:
            exprs[f"{i}.quantiles"] = f"quantile_cont({p.value}, {levels})"
        # a number's frequencies give its bins (``_from_frequencies``)
        if p.name in ranges and not {"bins", "frequencies"} & known.keys():
            exprs[f"{i}.bins"] = _bins(p, *ranges[p.name], _bin_count(p, exact_quantiles))
    values = con.select(exprs)
    rows = int(values.pop("rows", rows))
    first = _by_column(plans, values)
    for p in plans:
        stats = first.setdefault(p.name, {})
        stats.update(numbers.get(p.name, {}))
        if "trues" in stats:
            trues = int(stats.pop("trues"))
            counts = {True: trues, False: int(stats["count"]) - trues}
            stats["frequencies"] = {v: n for v, n in counts.items() if n}
        if p.plain_number and stats.get("min") is not None:
            stats["vmin"], stats["vmax"] = float(stats["min"]), float(stats["max"])
        if "bins" in stats and (stats.get("vmin"), stats.get("vmax")) != ranges[p.name]:
            del stats["bins"]  # the footer was wrong: the second scan counts them again
        if "frequencies" in stats and p.kind == "numeric":
            stats.update(_from_frequencies(p, stats))
    return rows, first


def _from_frequencies(plan: ColumnPlan, stats: dict[str, Any]) -> dict[str, Any]:
    """Exact quantiles and histogram bins of a number from its exact value frequencies."""
    pairs = sorted((float(v), c) for v, c in stats["frequencies"].items() if v is not None)
    if not pairs:
        return {}
    lo, hi = stats["vmin"], stats["vmax"]
    width = (hi - lo) / HISTOGRAM_BINS or 1.0
    bins: dict[int, int] = {}
    for value, count in pairs:
        b = min(math.floor((value - lo) / width), HISTOGRAM_BINS - 1)
        bins[b] = bins.get(b, 0) + count
    ranks = list(itertools.accumulate(c for _, c in pairs))
    quantiles = [_ranked_quantile(pairs, ranks, q) for q in QUANTILES]
    return {"bins": bins, "bin_count": HISTOGRAM_BINS, "quantiles": quantiles}


def _ranked_quantile(pairs: list[tuple[float, int]], ranks: list[int], q: float) -> float:
    """numpy's linear quantile of the values ``pairs`` counts (``ranks``: running counts)."""
    position = q * (ranks[-1] - 1)
    below = math.floor(position)

    def at(rank: int) -> float:
        return pairs[bisect.bisect_right(ranks, rank)][0]

    low = at(below)
    return low + (position - below) * (at(min(below + 1, ranks[-1] - 1)) - low)


def _second_scan(
    con: _Data,
    plans: list[ColumnPlan],
    first: dict[str, dict[str, Any]],
    rows: int,
    exact_quantiles: bool,
) -> dict[str, dict[str, Any]]:
    exprs: dict[str, str] = {}
    for i, p in enumerate(plans):
        stats = first[p.name]
        exact = stats.get("distinct")  # from number_scan's bitmap
        estimate = stats.get("approx_distinct", exact)
        if rows == 0 or "frequencies" in stats:
            estimate = None
        col = p.ident
        if estimate is not None and estimate <= FREQUENCY_BOUND and p.discrete:
            exprs[f"{i}.frequencies"] = f"histogram({col})"
        elif exact is None and estimate is not None and estimate <= EXACT_DISTINCT_BOUND:
            exprs[f"{i}.distinct"] = f"count(DISTINCT {col})"
        lo, hi = stats.get("vmin"), stats.get("vmax")
        # vmin and vmax are set together: both None or both numbers.
        finite = lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
        if p.kind in ("numeric", "temporal") and finite and "bins" not in stats:  # NaN: no bins
            assert lo is not None and hi is not None  # finite
            exprs[f"{i}.bins"] = _bins(p, lo, hi, _bin_count(p, exact_quantiles))
    return _by_column(plans, con.select(exprs))


def _column_profile(
    plan: ColumnPlan, rows: int, stats: dict[str, Any], exact_quantiles: bool
) -> dict[str, Any]:
    count = int(stats["count"])
    profile: dict[str, Any] = {
        "name": plan.name,
        "type": plan.arrow_type,
        "kind": plan.kind,
        "count": count,
        "nulls": rows - count,
        "null_fraction": (rows - count) / rows if rows else None,
    }
    frequencies = stats.get("frequencies")
    if frequencies is not None:
        profile["distinct"], profile["distinct_exact"] = len(frequencies), True
        ranked = sorted(frequencies.items(), key=lambda kv: (-kv[1], str(kv[0])))
        profile["top_values"] = [{"value": v, "count": c} for v, c in ranked[:TOP_VALUES]]
        profile["other_count"] = sum(c for _, c in ranked[TOP_VALUES:])
    elif "distinct" in stats:
        profile["distinct"], profile["distinct_exact"] = stats["distinct"], True
    elif "approx_distinct" in stats:
        profile["distinct"], profile["distinct_exact"] = stats["approx_distinct"], rows == 0
    for stat in ("min", "max", "sum", "mean", "std"):
        if stat in stats:
            profile[stat] = stats[stat]
    bins = stats.get("bins")
    counts = None
    if bins is not None:
        bin_count = stats.get("bin_count") or _bin_count(plan, exact_quantiles)
        counts = [int(bins.get(b, 0)) for b in range(bin_count)]
    if plan.kind == "numeric":
        profile.update(_quantiles(stats, counts, exact_quantiles))
    if counts is not None:
        step = len(counts) // HISTOGRAM_BINS
        coarse = [sum(counts[b : b + step]) for b in range(0, len(counts), step)]
        profile["histogram"] = _histogram(plan, stats["vmin"], stats["vmax"], coarse)
    return profile


def _quantiles(
    stats: dict[str, Any], fine: list[int] | None, exact_quantiles: bool
) -> dict[str, Any]:
    """The stored quantiles, and how they were found."""
    if exact_quantiles or "quantiles" in stats:
        quantiles = stats.get("quantiles") or []
        exact = {str(q): v for q, v in zip(QUANTILES, quantiles, strict=False)}
        return {"quantiles": exact or None, "quantiles_exact": True, "quantile_method": "exact"}
    found: dict[str, Any] | None = None
    bound = None
    if fine is not None:
        lo, hi = stats["vmin"], stats["vmax"]
        width = (hi - lo) / len(fine)
        found = {str(q): _fine_quantile(fine, lo, hi, width, q) for q in QUANTILES}
        bound = width
    return {
        "quantiles": found,
        "quantiles_exact": False,
        "quantile_method": "fine_histogram",
        "quantile_error_bound": bound,
    }


def _fine_quantile(counts: list[int], lo: float, hi: float, width: float, q: float) -> float:
    """The value at rank ``q * (n - 1)`` (numpy's linear method), linear within its bin."""
    rank = q * (sum(counts) - 1)
    below = 0
    for b, count in enumerate(counts):
        if count and below + count > rank:
            return min(hi, max(lo, lo + width * (b + (rank - below + 0.5) / count)))
        below += count
    return hi


def _histogram(plan: ColumnPlan, lo: float, hi: float, counts: list[int]) -> dict[str, Any]:
    """Equal-width bins; ``edges`` has one more entry than ``counts`` (last bin closed)."""
    from datetime import datetime, timezone

    width = (hi - lo) / HISTOGRAM_BINS or 1.0
    edges = [lo + i * width for i in range(HISTOGRAM_BINS + 1)]
    histogram: dict[str, Any] = {"edges": edges, "counts": counts}
    if plan.kind == "temporal":
        histogram["edge_labels"] = [
            datetime.fromtimestamp(e, timezone.utc).isoformat() for e in edges
        ]
    return histogram


def ol_metrics(profile: dict[str, Any], size_bytes: int) -> dict[str, Any]:
    """The profile in the shape of OpenLineage's DataQualityMetrics facet."""
    columns = {}
    for c in profile["columns"]:
        metrics = {
            "nullCount": c["nulls"],
            "distinctCount": c.get("distinct"),
            "count": c["count"],
            "sum": c.get("sum"),
            "min": c.get("min") if c["kind"] == "numeric" else None,
            "max": c.get("max") if c["kind"] == "numeric" else None,
            "quantiles": c.get("quantiles"),
        }
        columns[c["name"]] = {k: v for k, v in metrics.items() if v is not None}
    return {"rowCount": profile["row_count"], "bytes": size_bytes, "columnMetrics": columns}


def profile_dataset(
    hub: DataHub, key: str, *, force: bool = False
) -> tuple[VersionInfo, dict[str, Any]]:
    """Profile the version ``key`` names and store it (once per version: data never
    changes, so a stored profile is reused unless ``force``)."""
    require_current(hub.catalog)
    info = hub.resolve(key)
    if not force:
        stored = stored_profile(hub, info.key)
        if stored is not None:
            return info, stored
    with version_files(hub, info.key) as (_, paths):
        parquet = [str(p) for p in paths] if info.format == "parquet" else None
        dataset = arrow_dataset(info, paths)
        profile = compute_profile(dataset, row_count=info.row_count, parquet_files=parquet)
    profile = {"version": info.key, "bytes": info.size_bytes, **profile}
    with hub.catalog.session() as session:
        version = resolve(session, as_key(info.key))
        row = session.get(ProfileRecord, version.id, with_for_update=True)
        if row is None:
            row = ProfileRecord(version_pk=version.id, profile=profile, created_by=current_user())
            session.add(row)
        else:
            row.profile, row.created_by = profile, current_user()
        session.flush()
        profile = {**profile, "created_by": row.created_by}
    return info, profile


def stored_profile(hub: DataHub, key: str) -> dict[str, Any] | None:
    """The stored profile of the version ``key`` names, histograms included (JSON-able)."""
    require_current(hub.catalog)
    parsed = hub.key(key)  # before the session: a short key is expanded in its own
    with hub.catalog.session() as session:
        version = resolve(session, parsed)
        row = session.scalars(
            select(ProfileRecord).where(ProfileRecord.version_pk == version.id)
        ).first()
        if row is None:
            return None
        return {
            **row.profile,
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat(),
        }
