"""The typed failures of the feature store, each naming what was wrong."""

from __future__ import annotations

from digitalhub_airflow.errors import DhubError


class FeatureDefinitionError(DhubError, ValueError):
    """A definition set would not apply as written (an unknown dataset or column, a
    source that is no Parquet table, a duplicate name): nothing was registered."""

    exit_code = 30


class FeatureRequestError(DhubError, ValueError):
    """A materialisation, training-set or online request asked for what cannot be given
    (an empty window, an entity key of the wrong type, an unknown feature service)."""

    exit_code = 31


class MissingEntityError(FeatureRequestError):
    """Online features were asked for entity keys the online store does not hold."""

    def __init__(self, message: str, rows: list[int]) -> None:
        super().__init__(message)
        self.rows = rows
