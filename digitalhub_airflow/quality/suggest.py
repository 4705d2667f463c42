"""A starter suite from a version's profile: columns, pandas types, not-null, ranges and
value sets, all true of that version, for a person to tighten and commit next to the DAGs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import InvalidSourceError
from digitalhub_airflow.quality.data import version_dataset
from digitalhub_airflow.quality.profiles import profile_dataset
from digitalhub_airflow.quality.suites import canonical_suite

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

#: Columns with at most this many distinct values get an ``in set`` expectation.
MAX_SET_SIZE = 20


def pandas_dtypes(schema: Any, profile: dict[str, Any]) -> dict[str, str]:
    """The type name GX's pandas engine observes per column (``dtype.type.__name__``:
    ``int64``, ``str``, ``Timestamp``...); integers with nulls become float64 in pandas
    and booleans with nulls become objects."""
    frame = schema.empty_table().to_pandas()
    names = {name: dtype.type.__name__ for name, dtype in frame.dtypes.items()}
    for column in profile["columns"]:
        name = column["name"]
        if column["nulls"] and names.get(name, "").startswith(("int", "uint")):
            names[name] = "float64"
        if column["nulls"] and names.get(name) == "bool":
            names[name] = "object_"
    return names


def expectations_for(column: dict[str, Any], dtype: str, rows: int) -> list[dict[str, Any]]:
    name = column["name"]
    found = [
        {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": name, "type_": dtype}}
    ]
    if rows and not column["nulls"]:
        found.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": name}})
    if column["kind"] == "numeric" and column.get("min") is not None:
        found.append(
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": name, "min_value": column["min"], "max_value": column["max"]},
            }
        )
    values = column.get("top_values")
    if (
        column["kind"] in ("string", "boolean")
        and values
        and not column.get("other_count")
        and len(values) <= MAX_SET_SIZE
    ):
        found.append(
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": name, "value_set": sorted(v["value"] for v in values)},
            }
        )
    if (
        rows
        and column.get("distinct_exact")
        and column.get("distinct") == rows
        and column["kind"] in ("string", "numeric")
    ):
        found.append({"type": "expect_column_values_to_be_unique", "kwargs": {"column": name}})
    return found


def suggest_suite(hub: DataHub, key: str) -> dict[str, Any]:
    """A suite (canonical content) that the version ``key`` names passes."""
    info, profile = profile_dataset(hub, key)
    with version_dataset(hub, info.key) as (_, dataset):
        dtypes = pandas_dtypes(dataset.schema, profile)
    rows = profile["row_count"]
    expectations: list[dict[str, Any]] = [
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": [c["name"] for c in profile["columns"]], "exact_match": True},
        }
    ]
    if rows:
        expectations.append(
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
        )
    for column in profile["columns"]:
        expectations += expectations_for(column, dtypes[column["name"]], rows)
    name = as_suite_name(info.dataset)
    document = {"name": name, "expectations": expectations, "meta": {"suggested_from": info.key}}
    return canonical_suite(document, f"suite suggested from {info.key}")


def as_suite_name(dataset_key: str) -> str:
    return dataset_key.rsplit("/", 1)[-1]


def write_suite(content: dict[str, Any], path: str | Path, overwrite: bool = False) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise InvalidSourceError(f"{path} exists; pass --force to overwrite it")
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
