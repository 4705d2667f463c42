"""The Arrow fast path gives GX's results exactly: both engines run the same suites on
the same data and every expectation's success and result must match."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from digitalhub_airflow.errors import SuiteError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.quality.fastpath import canonical_config
from digitalhub_airflow.quality.suites import _gx_config, canonical_suite
from digitalhub_airflow.quality.validate import run_checks

KEY = "store://demo/dataitem/table/checks"


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    amount = rng.normal(50, 30, rows)
    amount[rng.random(rows) < 0.07] = np.nan
    city = rng.choice(np.array(["Trento", "Zürich", "東京", "Bolzano", None], dtype=object), rows)
    quantity = pd.array(rng.integers(-3, 40, rows), dtype="Int64")
    quantity[rng.random(rows) < 0.05] = pd.NA
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "dup": rng.integers(0, rows // 2 + 1, rows),
            "amount": amount,
            "city": city,
            "quantity": quantity,
            "flag": rng.random(rows) < 0.4,
        }
    )


def column_checks(column: str, **extra: object) -> list[dict]:
    return [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column, **extra}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": column, **extra}},
    ]


EXPECTATIONS = [
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 10}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 5}},
    {"type": "expect_column_to_exist", "kwargs": {"column": "city"}},
    {"type": "expect_column_to_exist", "kwargs": {"column": "nope"}},
    *column_checks("id"),
    *column_checks("dup"),
    *column_checks("amount"),
    *column_checks("city", mostly=0.5),
    *column_checks("quantity", mostly=0.97),
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", "min_value": 0, "max_value": 100},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", "min_value": 0, "strict_min": True, "mostly": 0.9},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "quantity", "max_value": 30, "strict_max": True},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "id", "min_value": 0, "max_value": 10**9},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "city", "value_set": ["Trento", "Zürich", "東京"]},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "quantity", "value_set": list(range(0, 30))},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "amount", "value_set": [1.5, 2.5]},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "flag", "value_set": [True]},
    },
]


def by_engine(hub: DataHub, result_format: str, expectations: list[dict]) -> tuple[dict, dict, str]:
    content = canonical_suite({"name": "checks", "expectations": expectations}, "test suite")
    used, fast = run_checks(hub, KEY, content, result_format, "auto")
    _, slow = run_checks(hub, KEY, content, result_format, "gx")
    return fast, slow, used


@pytest.mark.parametrize("result_format", ["BOOLEAN_ONLY", "BASIC", "SUMMARY"])
@pytest.mark.parametrize(
    ("rows", "source"), [(0, "parquet"), (7, "parquet"), (3000, "parquet"), (3000, "csv")]
)
def test_the_fast_path_equals_gx(
    ehub: DataHub, tmp_path: Path, result_format: str, rows: int, source: str
) -> None:
    """Parquet keeps pandas' extension dtypes (Int64 with NA); CSV does not (integers
    with nulls become float64 with NaN in pandas): both must match."""
    data = frame(rows)
    if source == "csv":
        data.to_csv(tmp_path / "checks.csv", index=False)
        ehub.commit(KEY, tmp_path / "checks.csv")
    else:
        ehub.commit(KEY, data)
    fast, slow, used = by_engine(ehub, result_format, EXPECTATIONS)
    # Every expectation here is evaluated natively (an empty object column has Arrow type
    # null, whose checks GX keeps).
    assert used == ("arrow" if rows else "arrow+gx")
    assert fast["success"] == slow["success"]
    assert fast["statistics"] == slow["statistics"]
    for mine, theirs in zip(fast["results"], slow["results"], strict=True):
        config = theirs["expectation_config"]
        assert mine["expectation_config"]["kwargs"] == config["kwargs"], config
        assert (mine["success"], mine["result"]) == (theirs["success"], theirs["result"]), config
        assert mine["exception_info"] == theirs["exception_info"]


def test_other_expectations_go_to_gx_and_results_keep_gx_order(ehub: DataHub) -> None:
    ehub.commit(KEY, frame(50))
    mixed = [
        EXPECTATIONS[4],  # native, column id
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "missing"}},
        {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "id", "min_value": 0}},
        EXPECTATIONS[0],  # native, table
        EXPECTATIONS[8],  # native, column amount
    ]
    fast, slow, used = by_engine(ehub, "SUMMARY", mixed)
    assert used == "arrow+gx"
    assert [
        (r["expectation_config"]["type"], r["success"], r["result"]) for r in fast["results"]
    ] == [(r["expectation_config"]["type"], r["success"], r["result"]) for r in slow["results"]]
    assert [r["expectation_config"]["kwargs"] for r in fast["results"]] == [
        r["expectation_config"]["kwargs"] for r in slow["results"]
    ]
    # GX lists an expectation whose metrics raised first; so does the fast path.
    assert "does not exist" in str(fast["results"][0]["exception_info"])
    assert fast["statistics"] == slow["statistics"]
    _, _, used = by_engine(ehub, "COMPLETE", mixed[:1])
    assert used == "gx"  # COMPLETE results are always GX's own


#: Configurations of fast-path expectations, some GX normalises (ints, defaults, None).
CONFIGS = [
    ("expect_table_row_count_to_be_between", {"min_value": 1}),
    ("expect_table_row_count_to_be_between", {"min_value": 0, "max_value": 10**12}),
    ("expect_table_row_count_to_be_between", {"min_value": 1.0}),
    ("expect_table_row_count_to_be_between", {"min_value": 1, "max_value": None}),
    ("expect_column_to_exist", {"column": "id"}),
    ("expect_column_to_exist", {"column": "id", "column_index": 0}),
    ("expect_column_values_to_not_be_null", {"column": "amount", "mostly": 0.95}),
    ("expect_column_values_to_not_be_null", {"column": "amount", "mostly": 1}),
    ("expect_column_values_to_not_be_null", {"column": "amount", "mostly": 1.0}),
    ("expect_column_values_to_not_be_null", {"column": "amount", "mostly": 0.0}),
    ("expect_column_values_to_be_unique", {"column": "id"}),
    ("expect_column_values_to_be_between", {"column": "a", "min_value": -1000, "max_value": 1000}),
    ("expect_column_values_to_be_between", {"column": "a", "min_value": 0.5, "strict_min": True}),
    ("expect_column_values_to_be_between", {"column": "a", "max_value": 3, "strict_max": False}),
    ("expect_column_values_to_be_between", {"column": "a", "min_value": 1, "mostly": 1}),
    ("expect_column_values_to_be_between", {"column": "a", "min_value": 5, "max_value": 1}),
    ("expect_column_values_to_be_between", {"column": "a", "max_value": True}),
    ("expect_column_values_to_be_between", {"column": "a", "max_value": "2020-01-01"}),
    ("expect_column_values_to_be_in_set", {"column": "c", "value_set": ["b", "a"]}),
    ("expect_column_values_to_be_in_set", {"column": "c", "value_set": [1, 2.5, "x", None, True]}),
    ("expect_column_values_to_be_in_set", {"column": "c", "value_set": []}),
    ("expect_column_values_to_be_in_set", {"column": "c", "value_set": [1], "mostly": 0.5}),
    ("expect_column_mean_to_be_between", {"column": "a", "min_value": 0}),
    ("expect_column_values_to_not_be_null", {}),
    ("expect_column_values_to_be_between", {"column": "a"}),
    ("expect_column_values_to_be_in_set", {"column": "c"}),
    ("expect_table_row_count_to_be_between", {}),
]


@pytest.mark.parametrize(("kind", "kwargs"), CONFIGS)
@pytest.mark.parametrize("meta", [None, {"owner": "data-team"}])
def test_expectations_built_without_gx_are_built_as_gx_builds_them(
    kind: str, kwargs: dict, meta: dict | None
) -> None:
    """A suite's id hashes its expectations as GX builds them: the native build (no GX
    import) must give the very same configuration, or leave the case to GX."""
    entry = {"type": kind, "kwargs": kwargs, "meta": meta}
    native = canonical_config(entry)
    try:
        by_gx = _gx_config(entry, "test")
    except SuiteError:
        assert native is None  # what GX refuses, GX must be the one to refuse
        return
    assert native is None or native == by_gx, (native, by_gx)


def test_the_native_build_covers_the_common_cases() -> None:
    built = [canonical_config({"type": k, "kwargs": kw}) for k, kw in CONFIGS]
    assert sum(b is not None for b in built) >= 14


def test_validating_with_fast_path_expectations_imports_no_gx(tmp_path: Path) -> None:
    """GX's import costs seconds: a suite the fast path runs whole never pays it."""
    import json
    import os
    import subprocess
    import sys

    suite = tmp_path / "checks.json"
    suite.write_text(json.dumps({"name": "checks", "expectations": EXPECTATIONS}))
    script = f"""
import sys
import pandas as pd
from tests.unit.dhub_testlib import make_hub
from tests.unit.test_quality_fastpath import frame
from digitalhub_airflow.quality.validate import validate_dataset
with make_hub(__import__("pathlib").Path({str(tmp_path / "hub")!r})) as hub:
    hub.commit({KEY!r}, frame(500))
    outcome = validate_dataset(hub, {KEY!r}, {str(suite)!r}, on_failure="warn")
print(outcome.engine, "great_expectations" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False,
        cwd=Path(__file__).resolve().parents[2], env={**os.environ}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["arrow", "False"]
