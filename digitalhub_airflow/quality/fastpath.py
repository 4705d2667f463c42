"""Native Arrow evaluation of the common expectations, with results identical to GX's.

GX's pandas engine needs the whole version as a DataFrame and computes each metric in
Python-heavy code; on millions of rows the common column checks (not null, between,
in set, unique, column exists, row count) cost far more there than on Arrow (see
bench/bench_quality.py). These are evaluated here, on the Arrow table, following GX
1.x's pandas semantics (NaN counts as missing, nulls are skipped by map expectations,
``mostly``) and its result layout (``_format_map_output``) for the BOOLEAN_ONLY, BASIC
and SUMMARY formats; a test compares both engines on the same data. Everything else
(other expectations, other arguments, COMPLETE results, temporal columns) goes to GX.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

#: Unexpected values and row indices kept in results, as GX's default.
PARTIAL_UNEXPECTED_COUNT = 20
NATIVE_FORMATS = ("BOOLEAN_ONLY", "BASIC", "SUMMARY")
NO_EXCEPTION = {"raised_exception": False, "exception_traceback": None, "exception_message": None}
MAP_KWARGS = {"column", "mostly"}


def _numeric(arrow_type: Any) -> bool:
    import pyarrow.types as t

    return bool(t.is_integer(arrow_type) or t.is_floating(arrow_type))


def _plain(arrow_type: Any) -> bool:
    """Types whose values GX reports exactly as Arrow does (no dates, no decimals)."""
    import pyarrow.types as t

    return (
        _numeric(arrow_type)
        or t.is_string(arrow_type)
        or t.is_large_string(arrow_type)
        or t.is_boolean(arrow_type)
    )


def _missing(column: Any) -> Any:
    """pandas' notion of missing: null, and NaN in float columns."""
    import pyarrow.compute as pc

    return pc.is_null(column, nan_is_null=True)


def _map_result(
    column: Any,
    unexpected: Any,
    result_format: str,
    mostly: float,
    *,
    skip_missing: bool = False,
    nan_values: bool = False,
) -> dict[str, Any]:
    """GX's ``_format_map_output`` for a boolean ``unexpected`` mask over ``column``.

    ``nan_values``: the unexpected values are pandas NaNs, which never compare equal, so
    GX counts each one apart.
    """
    import pyarrow.compute as pc

    total = len(column)
    unexpected = pc.fill_null(unexpected, False)
    if hasattr(unexpected, "combine_chunks"):  # indices_nonzero crashes on zero chunks
        unexpected = unexpected.combine_chunks()
    unexpected_count = int(pc.sum(unexpected).as_py() or 0)
    missing = int(pc.sum(_missing(column)).as_py() or 0)
    considered = total if skip_missing else total - missing
    if total == 0 or considered == 0:
        success = True
    else:
        success = (considered - unexpected_count) / considered >= mostly
    if result_format == "BOOLEAN_ONLY":
        return {"success": success, "result": {}}
    indices = pc.indices_nonzero(unexpected).slice(0, PARTIAL_UNEXPECTED_COUNT)
    values = pc.take(column, indices).to_pylist()
    percent_total = unexpected_count / total * 100 if total else None
    if skip_missing:
        percent_nonmissing = percent_total
    else:
        percent_nonmissing = unexpected_count / considered * 100 if total and considered else None
    result: dict[str, Any] = {
        "element_count": total,
        "unexpected_count": unexpected_count,
        "unexpected_percent": percent_nonmissing,
        "partial_unexpected_list": values,
    }
    if not skip_missing:
        result["missing_count"] = missing
        result["missing_percent"] = missing / total * 100 if total else None
        result["unexpected_percent_total"] = percent_total
        result["unexpected_percent_nonmissing"] = percent_nonmissing
    if result_format == "SUMMARY":
        try:
            counted = (
                [(None, 1)] * len(values)
                if nan_values
                else Counter(values).most_common(PARTIAL_UNEXPECTED_COUNT)
            )
            result["partial_unexpected_counts"] = [
                {"value": v, "count": c} for v, c in sorted(counted, key=lambda x: (-x[1], x[0]))
            ]
        except TypeError:  # GX leaves the counts out when values do not sort
            pass
        result["partial_unexpected_index_list"] = indices.to_pylist()
    return {"success": success, "result": result}


def _not_null(table: Any, kwargs: dict[str, Any], result_format: str) -> dict[str, Any] | None:
    column = table.column(kwargs["column"])
    return _map_result(
        column,
        _missing(column),
        result_format,
        kwargs.get("mostly", 1.0),
        skip_missing=True,
        nan_values=_pandas_missing_is_nan(table, kwargs["column"]),
    )


def _pandas_missing_is_nan(table: Any, name: str) -> bool:
    """Whether pandas holds this column's missing values as NaN (a float column, or
    integers with nulls and no extension dtype in the pandas metadata), as GX sees them:
    one missing row is converted the way the whole table is."""
    import pyarrow.compute as pc

    missing = _missing(table.column(name))
    if not pc.any(missing).as_py():
        return False
    first = pc.index(missing, True).as_py()
    sample = table.select([name]).slice(first, 1).to_pandas()[name]
    return bool(sample.dtype.kind == "f")


def _between(table: Any, kwargs: dict[str, Any], result_format: str) -> dict[str, Any] | None:
    import pyarrow.compute as pc

    column = table.column(kwargs["column"])
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    bounds = [b for b in (low, high) if b is not None]
    if not _numeric(column.type) or not bounds or any(isinstance(b, bool) for b in bounds):
        return None
    if not all(isinstance(b, (int, float)) for b in bounds):
        return None
    if low is not None and high is not None and low > high:
        return None  # GX raises; let it report its own error
    inside = pc.invert(_missing(column))
    if low is not None:
        above = pc.greater if kwargs.get("strict_min") else pc.greater_equal
        inside = pc.and_(inside, above(column, low))
    if high is not None:
        below = pc.less if kwargs.get("strict_max") else pc.less_equal
        inside = pc.and_(inside, below(column, high))
    unexpected = pc.and_(pc.invert(_missing(column)), pc.invert(inside))
    return _map_result(column, unexpected, result_format, kwargs.get("mostly", 1.0))


def _in_set(table: Any, kwargs: dict[str, Any], result_format: str) -> dict[str, Any] | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(kwargs["column"])
    values = kwargs.get("value_set")
    if not isinstance(values, list) or not _plain(column.type):
        return None
    if any(isinstance(v, bool) for v in values) != pa.types.is_boolean(column.type):
        return None  # pandas compares True == 1; keep that corner to GX
    try:
        allowed = pa.array(values).cast(column.type, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    present = pc.invert(_missing(column))
    unexpected = pc.and_(present, pc.invert(pc.is_in(column, value_set=allowed)))
    return _map_result(column, unexpected, result_format, kwargs.get("mostly", 1.0))


def _unique(table: Any, kwargs: dict[str, Any], result_format: str) -> dict[str, Any] | None:
    import pyarrow.compute as pc

    column = table.column(kwargs["column"])
    if not _plain(column.type):
        return None
    present = pc.invert(_missing(column))
    repeated = _repeated_values(pc.filter(column, present))
    unexpected = pc.and_(present, pc.is_in(column, value_set=repeated))
    return _map_result(column, unexpected, result_format, kwargs.get("mostly", 1.0))


def _repeated_values(values: Any) -> Any:
    """The values that occur more than once. Numbers: one numpy sort, several times
    faster than Arrow's hash count on millions of rows; strings: Arrow's value counts."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if _numeric(values.type):
        ordered = np.sort(values.to_numpy())
        same = ordered[1:] == ordered[:-1]
        return pa.array(np.unique(ordered[1:][same]), type=values.type)
    counts = pc.value_counts(values)
    return pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))


def _column_exists(table: Any, kwargs: dict[str, Any], result_format: str) -> dict[str, Any]:
    return {"success": kwargs["column"] in table.column_names, "result": {}}


def _row_count_between(
    table: Any, kwargs: dict[str, Any], result_format: str
) -> dict[str, Any] | None:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if not all(b is None or isinstance(b, int) for b in (low, high)):
        return None
    rows = table.num_rows
    success = (low is None or rows >= low) and (high is None or rows <= high)
    result = {} if result_format == "BOOLEAN_ONLY" else {"observed_value": rows}
    return {"success": success, "result": result}


Handler = Callable[[Any, dict[str, Any], str], "dict[str, Any] | None"]
#: expectation type -> (handler, the keyword arguments it understands; any other -> GX)
HANDLERS: dict[str, tuple[Handler, set[str]]] = {
    "expect_column_values_to_not_be_null": (_not_null, MAP_KWARGS),
    "expect_column_values_to_be_between": (
        _between,
        MAP_KWARGS | {"min_value", "max_value", "strict_min", "strict_max"},
    ),
    "expect_column_values_to_be_in_set": (_in_set, MAP_KWARGS | {"value_set"}),
    "expect_column_values_to_be_unique": (_unique, MAP_KWARGS),
    "expect_column_to_exist": (_column_exists, {"column"}),
    "expect_table_row_count_to_be_between": (_row_count_between, {"min_value", "max_value"}),
}


class _Unsure(Exception):
    """A keyword value whose canonical form only GX knows: let GX build the expectation."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _column(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        raise _Unsure
    return value


def _mostly(value: Any) -> Any:
    if _number(value) and value == 1:
        return None  # GX's default: left out
    if isinstance(value, float) and 0 <= value < 1:
        return value
    raise _Unsure


def _float_bound(value: Any) -> Any:
    if value is None or not _number(value):
        raise _Unsure  # None and dates: GX's rules
    return float(value)


def _int_bound(value: Any) -> Any:
    if value is None or not isinstance(value, int) or isinstance(value, bool):
        raise _Unsure
    return value


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise _Unsure
    return value or None  # False is GX's default: left out


def _value_set(value: Any) -> Any:
    plain = (str, int, float, type(None))
    if not isinstance(value, list) or not all(isinstance(v, plain) for v in value):
        raise _Unsure
    if any(isinstance(v, float) and not math.isfinite(v) for v in value):
        raise _Unsure
    return list(value)


#: How GX 1.x normalises each keyword of the fast-path expectations (a test builds every
#: case both ways); None: the keyword is left out, as GX leaves out its defaults.
_CANONICAL: dict[str, Callable[[Any], Any]] = {
    "column": _column,
    "mostly": _mostly,
    "min_value": _float_bound,
    "max_value": _float_bound,
    "strict_min": _flag,
    "strict_max": _flag,
    "value_set": _value_set,
}
_ROW_COUNT = "expect_table_row_count_to_be_between"


def _has_required(kind: str, given: set[str]) -> bool:
    """The arguments GX requires are there: the column, a bound, the value set."""
    if kind != _ROW_COUNT and "column" not in given:
        return False
    if kind.endswith("_between") and not {"min_value", "max_value"} & given:
        return False
    return not kind.endswith("_in_set") or "value_set" in given


def canonical_config(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The configuration GX builds for a fast-path expectation (kwargs normalised, defaults
    left out), built without importing GX; None when only GX can say."""
    handler = HANDLERS.get(entry["type"])
    kwargs, meta = entry.get("kwargs", {}), entry.get("meta") or {}
    if handler is None or not set(kwargs) <= handler[1] or not isinstance(meta, dict):
        return None
    if not _has_required(entry["type"], set(kwargs)):
        return None  # GX names what is missing
    built = {}
    try:
        for name, value in kwargs.items():
            canonical = (_int_bound if entry["type"] == _ROW_COUNT and name.endswith("_value")
                         else _CANONICAL[name])(value)  # fmt: skip
            if canonical is not None:
                built[name] = canonical
    except _Unsure:
        return None
    if built.get("min_value", -math.inf) > built.get("max_value", math.inf):
        return None  # GX refuses it in its own words
    return {"type": entry["type"], "kwargs": built, "meta": dict(meta), "severity": "critical"}


def gx_order(expectations: list[dict[str, Any]]) -> list[int]:
    """The order GX reports results in: grouped by column, groups in order of first
    appearance, expectations without a column as one group (Validator.
    process_expectations_for_validation); suite order within a group."""
    groups: dict[str, list[int]] = {}
    for index, expectation in enumerate(expectations):
        column = expectation.get("kwargs", {}).get("column")
        groups.setdefault(column if isinstance(column, str) else "\x00table", []).append(index)
    return [index for group in groups.values() for index in group]


def evaluate(table: Any, expectation: dict[str, Any], result_format: str) -> dict[str, Any] | None:
    """GX's result for one expectation computed on Arrow, or None: GX must run it."""
    if result_format not in NATIVE_FORMATS:
        return None
    handler = HANDLERS.get(expectation["type"])
    kwargs = expectation.get("kwargs", {})
    if handler is None or not set(kwargs) <= handler[1]:
        return None
    column = kwargs.get("column")
    if column is not None and column not in table.column_names and handler[0] is not _column_exists:
        return None  # GX reports the missing column with its own error
    found = handler[0](table, kwargs, result_format)
    if found is None:
        return None
    return {
        "success": found["success"],
        "expectation_config": {
            "type": expectation["type"],
            "kwargs": {**kwargs, "batch_id": "dhub-version"},
            "meta": expectation.get("meta", {}),
            "severity": expectation.get("severity", "critical"),
            "id": None,
        },
        "result": found["result"],
        "meta": {},
        "exception_info": dict(NO_EXCEPTION),
    }
