"""Drift between two versions: PSI per numeric or date column (current values counted in
the reference profile's histogram bins, outer bins open-ended), Jensen-Shannon distance
per categorical column (value frequencies), the rise of each column's null rate, the
share of numbers outside the reference range, schema changes and row-count change.

PSI and JS measure how the bulk of a distribution moved; a few injected nulls (not in
any bin) or a few absurd values (counted in an outer bin) hardly move them, hence the
null-rate and range checks beside them. On small tables PSI is pooled into fewer bins
(``psi_bins``). Thresholds decide ``ok``/``warn``/``fail`` per
check; the report's status is the worst one. Reports are stored with both versions. The
per-column comparison takes any profiled Arrow data, so a model server's logged inputs
are compared the same way (serving/monitoring/drift.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.catalog.models import DriftRecord
from digitalhub_airflow.datasets.schema_diff import diff_schemas
from digitalhub_airflow.datasets.versions import resolve
from digitalhub_airflow.errors import DriftError, InvalidOptionError
from digitalhub_airflow.keys import as_key
from digitalhub_airflow.quality.data import arrow_dataset, version_files
from digitalhub_airflow.quality.jsonable import jsonable
from digitalhub_airflow.quality.profiles import ColumnPlan, profile_dataset
from digitalhub_airflow.settings import current_user

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

STATUSES = ("ok", "warn", "fail")
#: Proportions are floored at this before the PSI logarithm (an empty bin is not infinite).
PSI_EPSILON = 1e-4
OTHER = "\x00other"
#: A number is out of range beyond the reference's [min, max] widened by this share of
#: its span on each side: new data drawn from the same distribution rarely gets there.
RANGE_MARGIN = 0.1


@dataclass(frozen=True)
class Thresholds:
    """Warn/fail levels; ``None`` disables that level. PSI: 0.1 moderate, 0.25 major shift
    (the usual credit-scoring rule of thumb); JS distance is in [0, 1] (base 2)."""

    psi_warn: float | None = 0.1
    psi_fail: float | None = 0.25
    js_warn: float | None = 0.1
    js_fail: float | None = 0.2
    row_change_warn: float | None = 0.5
    row_change_fail: float | None = None
    #: Rise of a column's null fraction (0.01: one more null in a hundred rows).
    null_increase_warn: float | None = 0.01
    null_increase_fail: float | None = 0.1
    #: Share of a numeric column's values outside the reference range (± RANGE_MARGIN).
    out_of_range_warn: float | None = 0.01
    out_of_range_fail: float | None = 0.05
    schema_change: str = "warn"  # ok, warn or fail

    def __post_init__(self) -> None:
        if self.schema_change not in STATUSES:
            raise InvalidOptionError(
                f"schema_change must be one of {', '.join(STATUSES)}, not {self.schema_change!r}"
            )
        for name, value in asdict(self).items():
            if name != "schema_change" and value is not None and not value >= 0:
                raise InvalidOptionError(f"threshold {name} must be a number >= 0, not {value!r}")

    @classmethod
    def of(cls, options: dict[str, Any]) -> Thresholds:
        """Thresholds from keyword overrides (an operator's ``thresholds=``); an unknown
        name is refused by name, not taken for a default."""
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            raise InvalidOptionError(
                f"unknown threshold(s) {', '.join(unknown)}; known: "
                f"{', '.join(cls.__dataclass_fields__)}"
            )
        return cls(**options)

    def grade(self, value: float | None, warn: float | None, fail: float | None) -> str:
        if value is None:
            return "ok"
        if fail is not None and value >= fail:
            return "fail"
        if warn is not None and value >= warn:
            return "warn"
        return "ok"


def worst(statuses: list[str]) -> str:
    return max(statuses, key=STATUSES.index, default="ok")


def psi(reference: list[int], current: list[int]) -> float:
    """Population stability index of two count vectors over the same bins."""
    ref_total, cur_total = sum(reference), sum(current)
    if not ref_total or not cur_total:
        return 0.0
    total = 0.0
    for r, c in zip(reference, current, strict=True):
        p, q = max(r / ref_total, PSI_EPSILON), max(c / cur_total, PSI_EPSILON)
        total += (q - p) * math.log(q / p)
    return total


#: PSI is computed over bins holding about this many values each (see ``psi_bins``).
PSI_ROWS_PER_BIN = 40
PSI_MIN_BINS = 4


def psi_bins(rows: int, bins: int) -> int:
    """How many bins PSI pools the reference histogram's ``bins`` into for samples of at
    least ``rows`` values: ``min(bins, max(PSI_MIN_BINS, rows // PSI_ROWS_PER_BIN))``.

    Why fewer bins rather than a bias correction: for two samples of one distribution
    PSI is about ``(k - 1) * (1/n + 1/m)`` (``n m / (n + m) * PSI`` tends to a chi-square
    with ``k - 1`` degrees of freedom, k bins), so 20 bins of 178 rows give 0.21, more
    with empty bins (0.27 on average in a simulation of 400 pairs: none graded ok).
    Subtracting that mean leaves its spread, and the approximation needs well-filled
    bins (70% ok in the same simulation); about 40 values a bin keeps the no-drift PSI
    near 2 / 40 = 0.05 at every size, below the 0.1 warn level (97% ok at 178 rows), while
    a shift of one standard deviation still scores ~0.85 (fail: 100%). Large tables keep
    all 20 bins.
    """
    return min(bins, max(PSI_MIN_BINS, rows // PSI_ROWS_PER_BIN))


def pooled(reference: list[int], current: list[int], groups: int) -> tuple[list[int], list[int]]:
    """Both count vectors with adjacent bins pooled into at most ``groups`` of about equal
    reference mass (a bin goes to the group its middle falls in: groups stay contiguous,
    the open-ended outer bins stay outermost)."""
    total = sum(reference)
    if groups >= len(reference) or not total:
        return reference, current
    ref, cur = [0] * groups, [0] * groups
    below = 0
    for r, c in zip(reference, current, strict=True):
        group = min(groups - 1, int((below + r / 2) * groups / total))
        ref[group] += r
        cur[group] += c
        below += r
    return ref, cur


def js_distance(reference: dict[Any, float], current: dict[Any, float]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two frequency tables."""
    ref_total, cur_total = sum(reference.values()), sum(current.values())
    if not ref_total or not cur_total:
        return 0.0
    divergence = 0.0
    for key in reference.keys() | current.keys():
        p, q = reference.get(key, 0) / ref_total, current.get(key, 0) / cur_total
        m = (p + q) / 2
        if p:
            divergence += p * math.log2(p / m) / 2
        if q:
            divergence += q * math.log2(q / m) / 2
    return math.sqrt(max(divergence, 0.0))


def frequencies(column: dict[str, Any]) -> dict[Any, float] | None:
    """A column profile's value counts, the values past the top ones pooled as one."""
    if "top_values" not in column:
        return None
    table: dict[Any, float] = {str(v["value"]): v["count"] for v in column["top_values"]}
    if column.get("other_count"):
        table[OTHER] = column["other_count"]
    return table


def current_bins(
    data: Any, columns: list[tuple[ColumnPlan, dict[str, Any]]]
) -> list[tuple[list[int], int]]:
    """For each column and its reference histogram: counts of the current ``data`` (an
    Arrow dataset or table, or Parquet files, which DuckDB reads itself) in the reference
    bins (values outside fall in the ends), and how many values lie outside the reference
    range widened by ``RANGE_MARGIN``. All columns in one scan, on one DuckDB connection
    (a connection per column cost more than the scans of a small table)."""
    if not columns:
        return []
    import duckdb

    aggregates = []
    for plan, histogram in columns:
        edges = histogram["edges"]
        bins = len(histogram["counts"])
        lo, hi = edges[0], edges[-1]
        width = (hi - lo) / bins or 1.0
        margin = (hi - lo) * RANGE_MARGIN
        aggregates += [
            f"histogram(greatest(0, least(floor(({plan.value} - {lo!r}) / {width!r}), "
            f"{bins - 1}))::INTEGER) FILTER (WHERE {plan.ident} IS NOT NULL)",
            f"count(*) FILTER (WHERE {plan.value} < {lo - margin!r} "
            f"OR {plan.value} > {hi + margin!r})",
        ]
    with duckdb.connect() as con:
        if isinstance(data, list):
            con.read_parquet(data).create_view("data")
        else:
            con.register("data", data)
        row = con.execute(f"SELECT {', '.join(aggregates)} FROM data").fetchone()
        assert row is not None  # an aggregate without GROUP BY returns one row
    return [
        ([int((counted or {}).get(i, 0)) for i in range(len(histogram["counts"]))], int(outside))
        for (_, histogram), counted, outside in zip(columns, row[::2], row[1::2], strict=True)
    ]


def compare_versions(
    hub: DataHub, reference: str, current: str, thresholds: Thresholds | None = None
) -> dict[str, Any]:
    """Compare two table versions and store the report; profiles are computed if absent."""
    thresholds = thresholds or Thresholds()
    require_current(hub.catalog)
    # Both resolve (or the comparison is refused) before either is profiled and stored.
    reference, current = hub.resolve(reference).key, hub.resolve(current).key
    ref_info, ref_profile = profile_dataset(hub, reference)
    cur_info, cur_profile = profile_dataset(hub, current)
    schema = diff_schemas(ref_info.schema, cur_info.schema)
    with version_files(hub, cur_info.key) as (_, paths):
        # Parquet is read as the profile read it, by DuckDB: no Arrow import, which was
        # most of a small table's drift.
        data: Any = [str(p) for p in paths]
        if cur_info.format != "parquet":
            data = arrow_dataset(cur_info, paths)
        columns = compare_columns(ref_profile, cur_profile, data, thresholds)
    rows_change = None
    if ref_info.row_count:
        rows_change = ((cur_info.row_count or 0) - ref_info.row_count) / ref_info.row_count
    checks = {
        "schema": thresholds.schema_change if schema.changed else "ok",
        "row_count": thresholds.grade(
            abs(rows_change) if rows_change is not None else None,
            thresholds.row_change_warn,
            thresholds.row_change_fail,
        ),
    }
    report = jsonable(
        {
            "reference": ref_info.key,
            "current": cur_info.key,
            "status": worst([*checks.values(), *(c["status"] for c in columns)]),
            "checks": checks,
            "schema": schema.to_json(),
            "row_count": {
                "reference": ref_info.row_count,
                "current": cur_info.row_count,
                "change": rows_change,
            },
            "columns": columns,
            "thresholds": asdict(thresholds),
        }
    )
    return store_report(hub, report)


def compare_columns(
    reference: dict[str, Any], current: dict[str, Any], data: Any, thresholds: Thresholds
) -> list[dict[str, Any]]:
    """Drift per column of ``data`` (whose profile is ``current``; see
    :func:`current_bins`) from the ``reference`` profile: the columns both have, of the
    same kind."""
    ref_columns = {c["name"]: c for c in reference["columns"]}
    pairs = [
        (ref_columns[column["name"]], column)
        for column in current["columns"]
        if ref_columns.get(column["name"], {}).get("kind") == column["kind"]
    ]
    binned = [(_plan(cur), ref["histogram"]) for ref, cur in pairs if _by_histogram(ref, cur)]
    counts = iter(current_bins(data, binned))
    return [
        _column_drift(ref, cur, next(counts) if _by_histogram(ref, cur) else None, thresholds)
        for ref, cur in pairs
    ]


def _plan(column: dict[str, Any]) -> ColumnPlan:
    """The plan a profiled column was binned with: its profile records its type and kind,
    all that binning uses (``discrete`` only steers how a profile counts values)."""
    return ColumnPlan(column["name"], column["type"], column["kind"], discrete=False)


def _frequency_pair(
    ref: dict[str, Any], cur: dict[str, Any]
) -> tuple[dict[Any, float], dict[Any, float]] | None:
    """Both value frequency tables, when a column's distribution is compared by JS
    distance (strings and booleans)."""
    ref_freq, cur_freq = frequencies(ref), frequencies(cur)
    if cur["kind"] in ("string", "boolean") and ref_freq is not None and cur_freq is not None:
        return ref_freq, cur_freq
    return None


def _by_histogram(ref: dict[str, Any], cur: dict[str, Any]) -> bool:
    """Whether it is compared by PSI over the reference histogram (else not at all)."""
    return (
        _frequency_pair(ref, cur) is None
        and ref.get("histogram") is not None
        and bool(cur["count"])
    )


def store_report(
    hub: DataHub, report: dict[str, Any], current: str | None = None
) -> dict[str, Any]:
    """Store ``report`` with its reference version and ``current`` (the report's own
    ``current`` version unless given); returns it with its id and time."""
    with hub.catalog.session() as session:
        record = DriftRecord(
            reference_pk=resolve(session, as_key(report["reference"])).id,
            current_pk=resolve(session, as_key(current or report["current"])).id,
            status=report["status"],
            report=report,
            created_by=current_user(),
        )
        session.add(record)
        session.flush()
        report["id"] = record.id
        report["created_at"] = record.created_at.isoformat()
    return report


def _column_drift(
    ref: dict[str, Any],
    cur: dict[str, Any],
    binned: tuple[list[int], int] | None,
    thresholds: Thresholds,
) -> dict[str, Any]:
    """One column's checks; ``binned``: :func:`current_bins` of it, when compared by PSI."""
    name = cur["name"]
    null_increase = (cur["null_fraction"] or 0.0) - (ref["null_fraction"] or 0.0)
    found: dict[str, Any] = {
        "name": name,
        "kind": cur["kind"],
        "null_fraction": {"reference": ref["null_fraction"], "current": cur["null_fraction"]},
        "null_increase": null_increase,
        "out_of_range": None,
    }
    checks = {
        "nulls": thresholds.grade(
            null_increase, thresholds.null_increase_warn, thresholds.null_increase_fail
        )
    }
    pair = _frequency_pair(ref, cur)
    if pair is not None:
        found["metric"], found["value"] = "js_distance", js_distance(*pair)
        checks["distribution"] = thresholds.grade(
            found["value"], thresholds.js_warn, thresholds.js_fail
        )
    elif binned is not None:
        counts, outside = binned
        ref_counts = ref["histogram"]["counts"]
        groups = psi_bins(min(sum(ref_counts), sum(counts)), len(ref_counts))
        found["metric"], found["value"] = "psi", psi(*pooled(ref_counts, counts, groups))
        found["bins"] = {"edges": ref["histogram"]["edges"], "current": counts}
        found["psi_bins"] = groups
        checks["distribution"] = thresholds.grade(
            found["value"], thresholds.psi_warn, thresholds.psi_fail
        )
        if cur["kind"] == "numeric":  # dates move forward by nature: no range for them
            share = outside / cur["count"]
            edges = ref["histogram"]["edges"]
            found["out_of_range"] = {
                "count": outside,
                "share": share,
                "range": [edges[0], edges[-1]],
            }
            checks["range"] = thresholds.grade(
                share, thresholds.out_of_range_warn, thresholds.out_of_range_fail
            )
    else:
        found["metric"], found["value"] = None, None
    found["checks"] = checks
    found["status"] = worst(list(checks.values()))
    return found


def column_problems(column: dict[str, Any], status: str) -> list[str]:
    """What made a column's drift ``status`` (warn or fail), one phrase per check.
    Reports stored before the null and range checks graded the distribution only."""
    checks = column.get("checks") or {"distribution": column["status"]}
    found = []
    if checks.get("distribution") == status:
        found.append(f"{column['metric']}={column['value']:.3f}")
    if checks.get("nulls") == status:
        fractions = column["null_fraction"]
        found.append(f"nulls {fractions['reference'] or 0:.1%} -> {fractions['current'] or 0:.1%}")
    if checks.get("range") == status:
        outside = column["out_of_range"]
        low, high = outside["range"]
        found.append(
            f"{outside['count']} values ({outside['share']:.1%}) outside [{low:g}, {high:g}]"
        )
    return found


def raise_for_drift(report: dict[str, Any]) -> None:
    """A ``fail`` report as a typed error naming the drifted columns and checks."""
    if report["status"] != "fail":
        return
    failed = [c["name"] for c in report["columns"] if c["status"] == "fail"]
    checks = [name for name, status in report["checks"].items() if status == "fail"]
    details = [
        f"{c['name']} {', '.join(column_problems(c, 'fail'))}"
        for c in report["columns"]
        if c["status"] == "fail"
    ] + [f"{name} changed" for name in checks]
    raise DriftError(
        f"drift from {report['reference']} to {report['current']}: " + "; ".join(details),
        failed,
    )
