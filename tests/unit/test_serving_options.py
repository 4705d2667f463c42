"""``dhub serve`` options refused before anything is resolved or downloaded."""

from __future__ import annotations

from typing import Any

import pytest

from digitalhub_airflow.errors import InvalidKeyError, ServingSpecError
from digitalhub_airflow.serving.runtime.server import ServeOptions, check_options, request_log_key

MODEL = ["wine=models:/demo.wine@champion"]


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"models": []}, ServingSpecError, "at least one --model"),
        ({"log_sample_rate": 1.5}, ServingSpecError, "between 0 and 1"),
        ({"log_flush_rows": 0}, ServingSpecError, "must be positive"),
        ({"workers": 0}, ServingSpecError, "must be positive"),
        ({"max_body_bytes": 0}, ServingSpecError, "must be positive"),
        ({"service": "Wine Service"}, InvalidKeyError, "service name"),
    ],
)
def test_bad_options(changes: dict[str, Any], error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        check_options(ServeOptions(**{"models": MODEL, **changes}))


def test_request_log_keys() -> None:
    def key(target: str | None, project: str | None = None) -> str | None:
        return request_log_key(ServeOptions(MODEL, request_log=target, project=project))

    assert key(None) is None
    assert key("store://demo/dataitem/table/req") == "store://demo/dataitem/table/req"
    assert key("demo/req") == "store://demo/dataitem/table/req"
    assert key("req", "demo") == "store://demo/dataitem/table/req"
    with pytest.raises(ServingSpecError, match="needs --project"):
        key("req")
    with pytest.raises(InvalidKeyError, match="not a data item key"):
        key("store://demo/model/mlflow/wine:abc12345")
    with pytest.raises(InvalidKeyError, match="not a version or alias"):
        key("store://demo/dataitem/table/req:v1")
