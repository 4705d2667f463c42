"""The exact dataset versions a model trains on, as features and target.

Keys are resolved to version ids once, before anything runs, so the run, the model
entity and the cache key all name the same bytes even if ``latest`` moves meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import TrainingInputError

if TYPE_CHECKING:
    import pandas as pd

    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.hub import DataHub


@dataclass
class TrainingData:
    """What a training function receives: the split features/target and the raw tables.

    ``tables`` maps each exact version key to its DataFrame (the first is the one the
    split comes from); ``versions`` describes them.
    """

    task: str
    target: str
    features: list[str]
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    tables: dict[str, pd.DataFrame]
    versions: list[VersionInfo]
    seed: int

    @property
    def frame(self) -> pd.DataFrame:
        return next(iter(self.tables.values()))


def resolve_versions(hub: DataHub, keys: list[str]) -> list[VersionInfo]:
    """Exact versions of ``keys`` (aliases and ``latest`` resolved now)."""
    if not keys:
        raise TrainingInputError("no dataset given to train on")
    return [hub.resolve(key) for key in keys]


def feature_frame(
    frame: pd.DataFrame, target: str | None, features: list[str] | None, where: str
) -> tuple[pd.DataFrame, list[str]]:
    """The feature columns of ``frame``; names every unknown column in the error."""
    columns = list(frame.columns)
    if target is not None and target not in columns:
        raise TrainingInputError(
            f"target column {target!r} is not in {where}; columns: {', '.join(columns)}"
        )
    chosen = list(features) if features else [c for c in columns if c != target]
    unknown = [c for c in chosen if c not in columns]
    if unknown:
        raise TrainingInputError(f"feature columns {unknown} are not in {where}")
    if target in chosen:
        raise TrainingInputError(f"target column {target!r} is also listed as a feature")
    if not chosen:
        raise TrainingInputError(f"{where} has no feature column besides the target")
    return frame[chosen], chosen


def non_numeric(frame: pd.DataFrame) -> list[str]:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return [c for c in frame.columns if not (is_numeric_dtype(frame[c]) or is_bool_dtype(frame[c]))]


def load_training_data(
    hub: DataHub,
    versions: list[VersionInfo],
    *,
    task: str,
    target: str,
    features: list[str] | None = None,
    test_size: float = 0.25,
    seed: int = 0,
    stratify: bool = False,
) -> TrainingData:
    """Read the versions and split the first one into train and test, reproducibly."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise TrainingInputError(f"test_size must be between 0 and 1, not {test_size}")
    tables = {v.key: hub.read_table(v.key).to_pandas() for v in versions}
    first = versions[0]
    frame = tables[first.key]
    x, chosen = feature_frame(frame, target, features, first.key)
    y = frame[target]
    if y.isna().any():
        raise TrainingInputError(f"target column {target!r} of {first.key} has missing values")
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=test_size, random_state=seed, stratify=y if stratify else None
        )
    except ValueError as exc:
        raise TrainingInputError(f"cannot split {first.key}: {exc}") from exc
    return TrainingData(
        task, target, chosen, x_train, x_test, y_train, y_test, tables, versions, seed
    )


def evaluation_frame(
    hub: DataHub, key: str, target: str, features: list[str]
) -> tuple[pd.DataFrame, pd.Series, VersionInfo]:
    """Features and target of an evaluation dataset version, in training column order."""
    info = hub.resolve(key)
    frame: Any = hub.read_table(info.key).to_pandas()
    x, _ = feature_frame(frame, target, features, info.key)
    return x, frame[target], info
