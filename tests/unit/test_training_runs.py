"""Training runs on the embedded default (MLflow on SQLite, catalog on SQLite): what a
run logs, the model entity, reuse, and every bad input failing the run cleanly."""

from __future__ import annotations

import json
import socket
import time

import pytest

from digitalhub_airflow.errors import TrackingError, TrainingFunctionError, TrainingInputError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.training.model_catalog import consumed_by, get_model
from digitalhub_airflow.training.runner import train_model
from digitalhub_airflow.training.selection import registered_model_name
from digitalhub_airflow.training.tracking import TrackingConfig, tracking_session
from tests.training_helpers import (
    WINE,
    commit_wine,
    model_name,
    registered_versions,
    request,
    runs_of,
    shared_tracking,
    wine_frame,
)


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> TrackingConfig:
    return shared_tracking(tmp_path_factory)


def test_a_run_logs_inputs_params_metrics_tags_and_the_model(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    version = commit_wine(ehub)
    name = model_name()
    outcome = train_model(ehub, tracking, request(version, name, tags={"airflow.dag_id": "dag-x"}))
    assert not outcome.reused
    assert outcome.model_key == f"store://demo/model/mlflow/{name}:{outcome.run_id}"
    assert outcome.datasets == [version.key]
    assert 0.8 < outcome.metrics["accuracy"] <= 1.0

    with tracking_session(tracking) as client:
        run = client.get_run(outcome.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params["n_estimators"] == "20"
        assert run.data.metrics["accuracy"] == outcome.metrics["accuracy"]
        assert run.data.tags["airflow.dag_id"] == "dag-x"
        assert run.data.tags["dhub.model_key"] == outcome.model_key
        assert json.loads(run.data.tags["dhub.datasets"]) == [version.key]
        # autolog ran inside the same run
        assert any(k.startswith("training_") for k in run.data.metrics)
        inputs = run.inputs.dataset_inputs
        assert [json.loads(i.dataset.source) for i in inputs] == [{"key": version.key}]
        assert inputs[0].dataset.source_type == "dhub"
        logged = client.get_logged_model(outcome.model_uri.removeprefix("models:/"))
        assert logged.source_run_id == outcome.run_id
    import mlflow.models

    with tracking_session(tracking):
        info = mlflow.models.get_model_info(outcome.model_uri)
    assert info.signature is not None and info.saved_input_example_info is not None
    assert "alcohol" in info.signature.inputs.input_names()

    record = get_model(ehub, outcome.model_key)
    assert record.run_id == outcome.run_id and record.datasets == [version.key]
    assert record.tracking_uri == tracking.tracking_uri
    assert consumed_by(ehub, outcome.model_key) == [version.key]


def _artifact_paths(tracking: TrackingConfig, run_id: str) -> set[str]:
    with tracking_session(tracking) as client:
        return {a.path for a in client.list_artifacts(run_id)}


def test_autolog_draws_its_classifier_plots_only_when_asked(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    version = commit_wine(ehub)
    plain = train_model(ehub, tracking, request(version, model_name()))
    drawn = train_model(ehub, tracking, request(version, model_name(), autolog_plots=True))
    plot = "training_confusion_matrix.png"  # wine has three classes: no ROC/PR curves
    assert plot not in _artifact_paths(tracking, plain.run_id)
    assert plot in _artifact_paths(tracking, drawn.run_id)
    with tracking_session(tracking) as client:  # autolog's metrics and params either way
        for outcome in (plain, drawn):
            run = client.get_run(outcome.run_id)
            assert "training_accuracy_score" in run.data.metrics
            assert "model__n_jobs" in run.data.params


def test_the_logged_dataset_schema_is_the_one_mlflow_infers() -> None:
    import numpy as np
    import pandas as pd
    from mlflow.types.utils import _infer_schema

    from digitalhub_airflow.training.dataset_source import (
        CatalogDatasetSource,
        CatalogPandasDataset,
    )

    frame = wine_frame().assign(
        label=["a", None] * 89,
        gap=[1.5, np.nan] * 89,
        count=np.arange(178, dtype="int32"),
        flag=[True, False] * 89,
        when=pd.Timestamp("2026-01-01"),
    )
    dataset = CatalogPandasDataset(frame, source=CatalogDatasetSource(WINE))
    assert dataset.schema == _infer_schema(frame)
    assert dataset.schema.input_dict()["gap"].required is False


def test_same_version_code_and_params_reuse_the_run_unless_forced(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    version = commit_wine(ehub)
    name = model_name()
    first = train_model(ehub, tracking, request(version, name))
    again = train_model(ehub, tracking, request(version, name))
    assert again.reused and again.run_id == first.run_id and again.model_key == first.model_key
    other = train_model(ehub, tracking, request(version, name, params={"n_estimators": 5}))
    assert not other.reused and other.run_id != first.run_id
    forced = train_model(ehub, tracking, request(version, name, force=True))
    assert not forced.reused and forced.run_id not in (first.run_id, other.run_id)
    # a new dataset version is new input: no reuse either
    newer = commit_wine(ehub, wine_frame().iloc[:150])
    moved = train_model(ehub, tracking, request(newer, name))
    assert not moved.reused and moved.datasets == [newer.key]
    assert len(runs_of(tracking, f"demo.{name}")) == 4


def _assert_failed_cleanly(ehub: DataHub, tracking: TrackingConfig, name: str) -> None:
    runs = runs_of(tracking, f"demo.{name}")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "dhub.model_uri" not in runs[0].data.tags
    assert registered_versions(tracking, registered_model_name("demo", name)) == []
    from digitalhub_airflow.errors import NotFoundError

    with pytest.raises(NotFoundError):
        get_model(ehub, f"store://demo/model/mlflow/{name}:{runs[0].info.run_id}")


def test_unknown_target_column_fails_the_run_and_names_the_columns(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    version = commit_wine(ehub)
    name = model_name()
    with pytest.raises(TrainingInputError, match=r"target column .quality. is not in .*alcohol"):
        train_model(ehub, tracking, request(version, name, target="quality"))
    _assert_failed_cleanly(ehub, tracking, name)


def test_non_numeric_features_without_a_pipeline_are_refused(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    frame = wine_frame()
    frame["colour"] = ["red" if i % 2 else "white" for i in range(len(frame))]
    version = commit_wine(ehub, frame)
    name = model_name()
    with pytest.raises(TrainingInputError, match="colour are not numeric"):
        train_model(
            ehub, tracking, request(version, name, entrypoint="tests.training_helpers:bare_forest")
        )
    _assert_failed_cleanly(ehub, tracking, name)
    # the built-in entrypoint wraps the estimator in an encoding pipeline: that trains
    ok = train_model(ehub, tracking, request(version, model_name()))
    assert ok.metrics["accuracy"] > 0.8


def test_a_raising_training_function_fails_the_run_with_its_error(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    version = commit_wine(ehub)
    name = model_name()
    with pytest.raises(
        TrainingFunctionError, match="raised RuntimeError: diverged with learning rate 9"
    ):
        train_model(
            ehub,
            tracking,
            request(version, name, entrypoint="tests.training_helpers:raising", params={"lr": 9}),
        )
    _assert_failed_cleanly(ehub, tracking, name)


def test_an_unreachable_tracking_server_fails_fast_and_writes_nothing(ehub: DataHub) -> None:
    version = commit_wine(ehub)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = TrackingConfig(f"http://127.0.0.1:{port}", token="t0ken-never-sent")
    started = time.monotonic()
    with pytest.raises(TrackingError, match=f"127.0.0.1:{port} is unreachable") as caught:
        train_model(ehub, down, request(version, model_name()))
    assert time.monotonic() - started < 30
    assert "t0ken" not in str(caught.value)
    with ehub.catalog.session() as session:
        from sqlalchemy import func, select

        from digitalhub_airflow.catalog.models import ModelEntity

        assert session.scalar(select(func.count()).select_from(ModelEntity)) == 0


def test_unknown_estimator_and_hyperparameters_are_named(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    version = commit_wine(ehub)
    with pytest.raises(TrainingInputError, match="estimator 'xgb' is unknown"):
        train_model(ehub, tracking, request(version, model_name(), params={"estimator": "xgb"}))
    with pytest.raises(TrainingInputError, match=r"no hyperparameter.*n_trees"):
        train_model(ehub, tracking, request(version, model_name(), params={"n_trees": 3}))


class _ThresholdPyfunc:
    """A custom flavour's wrapper: logs a ThresholdModel as a plain pyfunc model."""

    def __init__(self) -> None:
        import mlflow.pyfunc

        class Wrapped(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            def __init__(self, model: object) -> None:
                self.model = model

            def predict(self, context: object, model_input: object, params: object = None):
                return self.model.predict(model_input)  # type: ignore[attr-defined]

        self.wrapped = Wrapped

    def log(self, model: object, signature: object, example: object) -> str:
        import mlflow.pyfunc

        info = mlflow.pyfunc.log_model(
            name="model", python_model=self.wrapped(model), signature=signature,
            input_example=example, pip_requirements=[],
        )  # fmt: skip
        return str(info.model_uri)


def test_a_registered_flavour_logs_the_models_it_accepts_and_sklearn_the_rest(
    ehub: DataHub, tracking: TrackingConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.models

    from digitalhub_airflow.training import flavours
    from tests.training_helpers import ThresholdModel

    monkeypatch.setattr(flavours, "_registered", [])
    flavours.register(
        flavours.Flavour(
            "threshold", lambda m: isinstance(m, ThresholdModel), _ThresholdPyfunc().log
        )
    )
    version = commit_wine(ehub)
    custom = train_model(
        ehub,
        tracking,
        request(version, model_name(), entrypoint="tests.training_helpers:threshold"),
    )
    default = train_model(ehub, tracking, request(version, model_name()))
    with tracking_session(tracking):
        custom_flavors = mlflow.models.get_model_info(custom.model_uri).flavors
        default_flavors = mlflow.models.get_model_info(default.model_uri).flavors
        loaded = mlflow.pyfunc.load_model(custom.model_uri)
    assert "sklearn" not in custom_flavors and "python_function" in custom_flavors
    assert "sklearn" in default_flavors
    assert set(loaded.predict(wine_frame().drop(columns=["target"]).head(20))) <= {0, 1}
    with pytest.raises(TrainingFunctionError, match="no model flavour logs a object"):
        flavours.flavour_for(object())
