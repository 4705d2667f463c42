"""Pipeline specs: what a valid spec is, and a clear ServingSpecError for anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from digitalhub_airflow.errors import InvalidKeyError, ServingSpecError
from digitalhub_airflow.serving.model_refs import parse_model_option
from digitalhub_airflow.serving.runtime.pipelines import (
    import_function,
    load_pipeline_spec,
    parse_pipeline_spec,
)


def test_a_spec_file_with_functions_and_models(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: wine-labelled\nversion: 2\nsteps:\n"
        "  - function: tests.serving_helpers:scale_features\n"
        "  - model: wine\n  - model: second\n"
    )
    spec = load_pipeline_spec(path)
    assert (spec.name, spec.version, spec.models) == ("wine-labelled", "2", ["wine", "second"])


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ([], "expected a mapping"),
        ({"name": "p", "steps": [{"model": "m"}], "extra": 1}, "expected a mapping"),
        ({"name": "p", "steps": []}, "non-empty list"),
        ({"name": "p", "steps": [{"function": "a:b"}]}, "at least one model step"),
        ({"name": "p", "steps": [{"model": "m", "function": "a:b"}]}, "step 1 must be"),
        ({"name": "p", "steps": [{"model": ""}]}, "non-empty string"),
        ({"name": "p", "steps": [{"modle": "m"}]}, "step 1 must be"),
    ],
)
def test_malformed_specs(raw: Any, words: str) -> None:
    with pytest.raises(ServingSpecError, match=words):
        parse_pipeline_spec(raw)


def test_pipeline_names_follow_the_name_rules() -> None:
    with pytest.raises(InvalidKeyError, match="uppercase"):
        parse_pipeline_spec({"name": "Wine", "steps": [{"model": "m"}]})


def test_unreadable_spec_file(tmp_path: Path) -> None:
    with pytest.raises(ServingSpecError, match=r"missing\.yaml"):
        load_pipeline_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ServingSpecError, match=r"bad\.yaml"):
        load_pipeline_spec(bad)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("no_colon", "module:function"),
        ("tests.nowhere:f", "cannot be imported"),
        ("tests.serving_helpers:absent", "cannot be imported"),
        ("tests.serving_helpers:FOREST", "not callable"),
    ],
)
def test_functions_must_import(path: str, words: str) -> None:
    with pytest.raises(ServingSpecError, match=words):
        import_function(path)


def test_model_options() -> None:
    assert parse_model_option("wine=models:/demo.wine@champion") == (
        "wine",
        "models:/demo.wine@champion",
    )
    with pytest.raises(ServingSpecError, match="NAME=REF"):
        parse_model_option("models:/demo.wine@champion")
    with pytest.raises(InvalidKeyError, match="served model name"):
        parse_model_option("Wine=models:/x/1")
