"""Suites as code: files are checked expectation by expectation, ids come from content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digitalhub_airflow.errors import SuiteError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.keys import parse_key
from digitalhub_airflow.quality.suites import find_suite, load_suite, read_suite_file

GOOD = {
    "name": "wine",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "alcohol"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "alcohol", "min_value": 10, "max_value": 16},
        },
    ],
}


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid json"),
        ("[]", "must be a mapping"),
        ('{"name": "s", "expectations": []}', "non-empty list"),
        ('{"name": "Bad Name", "expectations": [{"type": "x"}]}', "suite name"),
        (
            '{"name": "s", "expectations": [{"type": "expect_column_to_exsit", "kwargs": {}}]}',
            "unknown expectation type 'expect_column_to_exsit'",
        ),
        (
            '{"name": "s", "expectations": [{"type": "expect_column_values_to_not_be_null"}]}',
            "expectations[0] (expect_column_values_to_not_be_null): 1 validation error",
        ),
        (
            '{"name": "s", "expectations": [{"type": "expect_column_values_to_be_between",'
            ' "kwargs": {"column": "a", "min_value": 1, "mxa_value": 3}}]}',
            "mxa_value",
        ),
        ('{"name": "s", "expectation": []}', "unknown top-level fields ['expectation']"),
    ],
)
def test_a_malformed_suite_file_is_refused_naming_file_and_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SuiteError) as caught:
        read_suite_file(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_yaml_and_json_of_the_same_suite_have_one_id(tmp_path: Path, ehub: DataHub) -> None:
    import yaml

    json_file = write_json(tmp_path / "wine.json", GOOD)
    yaml_file = tmp_path / "wine.yaml"
    yaml_file.write_text(yaml.safe_dump(GOOD), encoding="utf-8")
    a = load_suite(ehub, "demo", json_file)
    b = load_suite(ehub, "demo", yaml_file)
    assert a.key == b.key
    assert a.key.startswith("store://demo/suite/gx/wine:")
    assert len(a.suite_id) == 64
    # Registering again changes nothing; the key finds it back.
    assert load_suite(ehub, "demo", a.key).pk == a.pk
    assert find_suite(ehub, parse_key("store://demo/suite/gx/wine")).suite_id == a.suite_id


def test_a_changed_suite_is_a_new_version_and_the_newest_wins(
    tmp_path: Path, ehub: DataHub
) -> None:
    first = load_suite(ehub, "demo", write_json(tmp_path / "wine.json", GOOD))
    changed = {**GOOD, "expectations": GOOD["expectations"][:1]}
    second = load_suite(ehub, "demo", write_json(tmp_path / "wine.json", changed))
    assert first.suite_id != second.suite_id
    newest = find_suite(ehub, parse_key("store://demo/suite/gx/wine"))
    assert newest.suite_id == second.suite_id
    pinned = find_suite(ehub, parse_key(first.key))
    assert pinned.content == first.content


def test_the_suite_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    content = read_suite_file(
        write_json(tmp_path / "orders.json", {"expectations": GOOD["expectations"]})
    )
    assert content["name"] == "orders"
