"""``features`` in a services YAML: the served model's requests carry entity keys, looked
up in the named feature service; the server gets ``--features``; specs without it keep
their digests."""

from __future__ import annotations

import pytest

from digitalhub_airflow.errors import ServingSpecError
from digitalhub_airflow.serving.deploy.spec import spec_from_json

BASE = {"project": "demo", "name": "wine", "target": "local", "models": {"wine": "models:/w@c"}}


def test_features_reach_the_server_command_line() -> None:
    spec = spec_from_json({**BASE, "features": {"wine": "demo/wine_service"}})
    args = spec.serve_args()
    assert args[args.index("--features") + 1] == "wine=demo/wine_service"
    assert spec.to_json()["features"] == {"wine": "demo/wine_service"}
    plain = spec_from_json(BASE)
    assert "features" not in plain.to_json() and "--features" not in plain.serve_args()
    assert plain.digest != spec.digest


@pytest.mark.parametrize("features", [{"other": "demo/svc"}, ["demo/svc"]])
def test_features_name_served_models(features: object) -> None:
    with pytest.raises(ServingSpecError, match="features maps served models"):
        spec_from_json({**BASE, "features": features})
