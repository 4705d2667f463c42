"""An MLflow ``DatasetSource`` whose source is a catalog key, so a run's dataset inputs
name the exact version (``store://…:<id>``) instead of a file path that may change; and
the pandas dataset logged with it."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from mlflow.data.dataset_source import DatasetSource
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.types import ColSpec, Schema

from digitalhub_airflow.keys import SCHEME, as_key


class CatalogDatasetSource(DatasetSource):
    def __init__(self, key: str) -> None:
        self.key = str(as_key(key))

    @staticmethod
    def _get_source_type() -> str:
        return "dhub"

    def load(self, **_: Any) -> Any:
        """The version as a ``pyarrow.Table``, read from the catalog this process uses."""
        from digitalhub_airflow.hub import DataHub

        with DataHub.from_settings() as hub:
            return hub.read_table(self.key)

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return isinstance(raw_source, str) and raw_source.startswith(SCHEME)

    @classmethod
    def _resolve(cls, raw_source: Any) -> CatalogDatasetSource:
        return cls(raw_source)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> CatalogDatasetSource:
        return cls(source_dict["key"])


class CatalogPandasDataset(PandasDataset):
    """MLflow's pandas dataset with the schema MLflow infers, but whether a column is
    required is decided by one vectorised null check instead of a Python test of every
    cell (that loop took 0.7 s of a 5 s training on a 20 000-row table)."""

    @cached_property
    def schema(self) -> Schema:
        from mlflow.types.utils import _infer_pandas_column

        frame = self.df
        return Schema(
            [
                ColSpec(
                    type=_infer_pandas_column(frame[column]),
                    name=column,
                    required=not bool(frame[column].isna().any()),
                )
                for column in frame.columns
            ]
        )
