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


def test_declared_defaults_reach_the_server_and_are_pinned_in_the_digest() -> None:
    import yaml

    entry = yaml.safe_load(
        """
        features:
          wine:
            service: demo/wine_service
            defaults: {hue: 0.5, proline: 700, flagged: false}
        """
    )
    spec = spec_from_json({**BASE, **entry})
    args = spec.serve_args()
    assert args[args.index("--features") + 1] == "wine=demo/wine_service"
    given = [args[i + 1] for i, a in enumerate(args) if a == "--feature-default"]
    assert given == ["wine:flagged=false", "wine:hue=0.5", "wine:proline=700"]
    bare = spec_from_json({**BASE, "features": {"wine": "demo/wine_service"}})
    assert spec.digest != bare.digest
    other = spec_from_json(
        {**BASE, "features": {"wine": {"service": "demo/wine_service", "defaults": {"hue": 0.6}}}}
    )
    assert other.digest != spec.digest
    # No defaults is the bare service: the same spec, the same digest.
    same = spec_from_json({**BASE, "features": {"wine": {"service": "demo/wine_service"}}})
    assert same.digest == bare.digest


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"defaults": {"hue": 0.5}}, "needs service"),
        ({"service": "demo/svc", "default": {"hue": 0.5}}, "is a feature service or"),
        ({"service": "demo/svc", "defaults": [0.5]}, "maps feature names to values"),
        ({"service": "demo/svc", "defaults": {"hue": None}}, "must be a number, text"),
        ({"service": "demo/svc", "defaults": {"hue": [1, 2]}}, "must be a number, text"),
        ({"service": "demo/svc", "defaults": {"a=b": 1}}, "is no feature name"),
    ],
)
def test_malformed_defaults_are_refused_by_name(entry: dict, message: str) -> None:
    with pytest.raises(ServingSpecError, match=message):
        spec_from_json({**BASE, "features": {"wine": entry}})


@pytest.mark.parametrize(
    ("given", "models", "message"),
    [
        (["hue"], ["wine"], "must be \\[MODEL:\\]FEATURE=VALUE"),
        (["=1"], ["wine"], "must be \\[MODEL:\\]FEATURE=VALUE"),
        (["hue=1"], ["wine", "red"], "name the model"),
        (["other:hue=1"], ["wine"], "model 'other' has no --features"),
    ],
)
def test_feature_default_options_name_their_model(
    given: list[str], models: list[str], message: str
) -> None:
    from digitalhub_airflow.serving.runtime.server import ServeOptions, feature_defaults

    options = ServeOptions(models=[], feature_defaults=given)
    with pytest.raises(ServingSpecError, match=message):
        feature_defaults(options, models)


def test_feature_default_options_by_model() -> None:
    from digitalhub_airflow.serving.runtime.server import ServeOptions, feature_defaults

    one = ServeOptions(models=[], feature_defaults=["wine:hue=1", "alcohol=a=b"])
    assert feature_defaults(one, ["wine"]) == {"wine": {"hue": "1", "alcohol": "a=b"}}
    two = ServeOptions(models=[], feature_defaults=["red:hue=", "wine:hue=2"])
    assert feature_defaults(two, ["wine", "red"]) == {"red": {"hue": ""}, "wine": {"hue": "2"}}
