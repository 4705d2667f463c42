"""Validation on both backends: pass, fail, warn, quarantine and release; stored results
reused and loaded back as GX objects; awkward data (missing columns, empty tables,
nulls, dates, unicode)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from digitalhub_airflow.errors import (
    ConflictError,
    InvalidKeyError,
    InvalidOptionError,
    QuarantinedError,
    ValidationFailedError,
)
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.quality.results import load_validation, stored_results
from digitalhub_airflow.quality.state import release
from digitalhub_airflow.quality.validate import validate_dataset

DATASET = "store://demo/dataitem/table/orders"


def suite_file(tmp_path: Path, *expectations: dict, name: str = "orders") -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"name": name, "expectations": list(expectations)}), "utf-8")
    return path


NOT_NULL = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"}}
IN_RANGE = {
    "type": "expect_column_values_to_be_between",
    "kwargs": {"column": "amount", "min_value": 0, "max_value": 100},
}
CITIES = {
    "type": "expect_column_values_to_be_in_set",
    "kwargs": {"column": "city", "value_set": ["Trento", "Zürich", "東京"]},
}


def good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [10.5, 20.0, 99.9],
            "city": ["Trento", "Zürich", "東京"],
            "day": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), dt.date(2024, 12, 31)],
        }
    )


def bad() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [10.5, None, 250.0, -1.0],
            "city": ["Trento", "Zürich", "Bolzano", "東京"],
            "day": [dt.date(2024, 1, 1)] * 4,
        }
    )


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    return suite_file(tmp_path, NOT_NULL, IN_RANGE, CITIES)


def test_a_good_version_passes_and_its_result_is_stored(hub: DataHub, suite: Path) -> None:
    version = hub.commit(DATASET, good()).version
    outcome = validate_dataset(hub, version.key, suite)
    assert outcome.success and not outcome.reused
    assert outcome.version.quality == "passed"
    assert outcome.statistics["evaluated_expectations"] == 3
    assert [a["column"] for a in outcome.assertions] == ["amount", "amount", "city"]
    assert hub.resolve(DATASET).quality == "passed"
    [stored] = stored_results(hub, version.key)
    assert stored["success"] and stored["suite"] == outcome.suite.key
    assert stored["version"] == version.key and stored["failed_expectations"] == []


def test_fail_raises_a_typed_error_listing_each_failure(hub: DataHub, suite: Path) -> None:
    version = hub.commit(DATASET, bad()).version
    with pytest.raises(ValidationFailedError) as caught:
        validate_dataset(hub, version.key, suite).raise_for_failure()
    failures = {f["expectation"]: f for f in caught.value.failures}
    assert set(failures) == {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
    }
    assert failures["expect_column_values_to_be_between"]["column"] == "amount"
    assert sorted(failures["expect_column_values_to_be_between"]["unexpected_examples"]) == [
        -1.0,
        250.0,
    ]
    assert failures["expect_column_values_to_be_in_set"]["unexpected_examples"] == ["Bolzano"]
    message = str(caught.value)
    assert "on column 'city'" in message and "'Bolzano'" in message
    # The failure is recorded, and a failed version is not hidden (only quarantine hides).
    assert hub.resolve(version.key).quality == "failed"
    assert hub.resolve(DATASET).key == version.key


def test_warn_records_the_failure_and_lets_the_version_through(hub: DataHub, suite: Path) -> None:
    version = hub.commit(DATASET, bad()).version
    outcome = validate_dataset(hub, version.key, suite, on_failure="warn")
    outcome.raise_for_failure()  # no error
    assert not outcome.success and outcome.version.quality == "warned"
    assert hub.resolve(DATASET).key == version.key


def test_quarantine_hides_a_version_from_latest_and_aliases_until_released(
    hub: DataHub, suite: Path
) -> None:
    v1 = hub.commit(DATASET, good()).version
    validate_dataset(hub, v1.key, suite, on_failure="quarantine")
    v2 = hub.commit(DATASET, bad()).version
    hub.tag(v2.key, "prod")
    outcome = validate_dataset(hub, v2.key, suite, on_failure="quarantine")
    assert outcome.quarantined
    with pytest.raises(QuarantinedError, match="quarantined"):
        outcome.raise_for_failure()
    # latest falls back to the newest usable version; the named alias refuses.
    assert hub.resolve(DATASET).key == v1.key
    assert hub.read_table(DATASET).num_rows == 3
    with pytest.raises(QuarantinedError, match="@prod"):
        hub.resolve(f"{DATASET}@prod")
    # Explicit references still resolve, so a person can inspect it.
    assert hub.resolve(f"{DATASET}:v2").quality == "quarantined"
    assert [v.quality for v in hub.log(DATASET)] == ["quarantined", "passed"]
    # A re-validation that passes does not release it: only a person does.
    relaxed = suite_file(
        suite.parent,
        {"type": "expect_column_to_exist", "kwargs": {"column": "city"}},
        name="relaxed",
    )
    assert validate_dataset(hub, v2.key, relaxed).version.quality == "quarantined"
    with pytest.raises(InvalidKeyError, match="quarantined: v2"):
        release(hub, DATASET)
    released = release(hub, f"{DATASET}:v2", "looked at it")
    assert released.quality == "released"
    assert hub.resolve(DATASET).key == v2.key
    assert hub.resolve(f"{DATASET}@prod").key == v2.key
    with pytest.raises(ConflictError, match="not quarantined"):
        release(hub, f"{DATASET}:v2")
    # The person's decision stands: the same failing check does not quarantine it again.
    again = validate_dataset(hub, v2.key, suite, on_failure="quarantine", force=True)
    assert again.version.quality == "released"
    again.raise_for_failure()


def test_quarantine_of_the_only_version_leaves_nothing_to_resolve(
    hub: DataHub, suite: Path
) -> None:
    v1 = hub.commit(DATASET, bad()).version
    validate_dataset(hub, v1.key, suite, on_failure="quarantine")
    with pytest.raises(QuarantinedError, match="no earlier version is usable"):
        hub.resolve(DATASET)


def test_the_same_version_and_suite_reuse_the_stored_result_unless_forced(
    hub: DataHub, suite: Path
) -> None:
    version = hub.commit(DATASET, good()).version
    first = validate_dataset(hub, version.key, suite)
    second = validate_dataset(hub, version.key, suite)
    assert second.reused and second.result_id == first.result_id
    assert second.result == first.result
    other_format = validate_dataset(hub, version.key, suite, result_format="complete")
    assert not other_format.reused
    forced = validate_dataset(hub, version.key, suite, force=True)
    assert not forced.reused and forced.result_id > first.result_id
    assert len(stored_results(hub, version.key)) == 3
    assert stored_results(hub, version.key)[0]["id"] == forced.result_id  # newest first


def test_stored_results_load_back_as_gx_objects(hub: DataHub, suite: Path) -> None:
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

    version = hub.commit(DATASET, bad()).version
    outcome = validate_dataset(hub, version.key, suite, on_failure="warn")
    loaded = load_validation(hub, version.key)
    assert isinstance(loaded, ExpectationSuiteValidationResult)
    assert all(isinstance(r, ExpectationValidationResult) for r in loaded.results)
    assert loaded.success is False
    assert loaded.statistics == outcome.statistics
    assert [r.expectation_config.type for r in loaded.results] == [
        a["assertion"] for a in outcome.assertions
    ]


def test_a_suite_naming_a_missing_column_fails_that_expectation_with_the_reason(
    hub: DataHub, tmp_path: Path
) -> None:
    missing = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "price"}}
    path = suite_file(tmp_path, NOT_NULL, missing)
    version = hub.commit(DATASET, good()).version
    outcome = validate_dataset(hub, version.key, path, on_failure="warn")
    assert not outcome.success
    [failure] = outcome.failures
    assert failure["column"] == "price"
    assert 'The column "price" in BatchData does not exist' in failure["error"]


def test_an_empty_table_validates(hub: DataHub, tmp_path: Path) -> None:
    empty = good().iloc[0:0]
    version = hub.commit(DATASET, empty).version
    rows = {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
    outcome = validate_dataset(
        hub, version.key, suite_file(tmp_path, NOT_NULL, rows), on_failure="warn"
    )
    assert [a["success"] for a in outcome.assertions] == [True, False]
    assert outcome.failures[0]["observed_value"] == 0


def test_dates_from_csv_and_unicode_strings(hub: DataHub, tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    csv.write_text("amount,city,day\n1.5,Zürich,2024-02-29\n,東京,2024-03-01\n", "utf-8")
    version = hub.commit(DATASET, csv).version
    expectations = [
        CITIES,
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "day"}},
        NOT_NULL,
    ]
    outcome = validate_dataset(
        hub, version.key, suite_file(tmp_path, *expectations), on_failure="warn"
    )
    assert [a["success"] for a in outcome.assertions] == [True, True, False]
    assert outcome.failures[0]["unexpected_count"] == 1


def test_bad_options_are_refused_before_anything_is_written(hub: DataHub, suite: Path) -> None:
    version = hub.commit(DATASET, good()).version
    with pytest.raises(InvalidOptionError, match="on_failure"):
        validate_dataset(hub, version.key, suite, on_failure="ignore")
    with pytest.raises(InvalidOptionError, match="result_format"):
        validate_dataset(hub, version.key, suite, result_format="FULL")
    assert stored_results(hub, version.key) == []
    assert hub.resolve(version.key).quality is None
