"""Online features for a model server: entity keys in, the service's features out.

The feature service is read from the registry once, when the server starts, and kept:
a server serves the definitions it was deployed with, as it serves a pinned model. Keys
are checked against the entities' types before Feast is asked; a row whose entity the
online store does not hold, or whose feature is null, is an error naming the row, unless
the server declares a default for that feature (of the feature's type): never a silent
zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.features.config import open_feature_store
from digitalhub_airflow.features.errors import FeatureRequestError, MissingEntityError
from digitalhub_airflow.features.service import load_service, service_digest, service_views

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


def _accepts(value_type: Any, value: Any) -> bool:
    from feast import ValueType

    if value_type in (ValueType.INT64, ValueType.INT32):
        return isinstance(value, int) and not isinstance(value, bool)
    if value_type == ValueType.STRING:
        return isinstance(value, str)
    return value is not None


#: How a ``Bool`` feature's default is read from text.
_BOOL_TEXT = {"true": True, "false": False}


def _number(value: Any, kind: type[float] | type[int]) -> float | int | None:
    """``value`` as a ``kind``: a number (never a bool) or text of one, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def typed_default(name: str, dtype: Any, value: Any) -> Any:
    """``value`` as the default of feature ``name`` of Feast type ``dtype``: a value of
    that type, or text of one (``--feature-default hue=0.5``); anything else is refused,
    so a default can never turn a float feature into a string or a bool into 0."""
    from feast.types import Bool, Float32, Float64, Int32, Int64, String

    parsed: Any = None
    if dtype in (Float32, Float64):
        parsed = _number(value, float)
        if parsed is not None and not math.isfinite(parsed):
            parsed = None  # NaN or infinity would reach the model as if measured
    elif dtype in (Int32, Int64):
        parsed = _number(value, int) if not isinstance(value, float) else None
    elif dtype == Bool:
        parsed = value if isinstance(value, bool) else _BOOL_TEXT.get(str(value).lower())
    elif dtype == String:
        parsed = value if isinstance(value, str) else None
    else:
        raise FeatureRequestError(f"feature {name!r} is {dtype}: it cannot have a default")
    if parsed is None:
        raise FeatureRequestError(
            f"default of feature {name!r} must be {dtype}, got {type(value).__name__} {value!r}"
        )
    return parsed


@dataclass
class OnlineFeatures:
    """One pinned feature service of one project, ready for lookups."""

    project: str
    service: str
    digest: str
    join_keys: dict[str, Any]  # join key -> Feast ValueType
    features: list[str]  # output names, in the service's order
    defaults: dict[str, Any]
    _store: Any
    _service: Any

    @classmethod
    def open(
        cls, hub: DataHub, project: str, service: str, defaults: Mapping[str, Any] | None = None
    ) -> OnlineFeatures:
        store = open_feature_store(hub, project, pinned=True)
        feature_service = load_service(store, service)
        views = service_views(store, feature_service)
        join_keys = {
            e.join_key: e.value_type
            for view in views
            for e in (store.get_entity(name) for name in view.entities)
        }
        types = {
            f.name: f.dtype for p in feature_service.feature_view_projections for f in p.features
        }
        unknown = sorted(set(defaults or {}) - set(types))
        if unknown:
            raise FeatureRequestError(
                f"defaults name features {unknown} that service {service!r} does not have"
            )
        return cls(
            project,
            service,
            service_digest(feature_service),
            join_keys,
            list(types),
            {name: typed_default(name, types[name], v) for name, v in (defaults or {}).items()},
            store,
            feature_service,
        )

    def check_keys(self, rows: Mapping[str, Sequence[Any]]) -> int:
        """The number of rows; every join key present, same length, of its entity's type."""
        missing = sorted(set(self.join_keys) - set(rows))
        if missing:
            raise FeatureRequestError(
                f"feature service {self.service!r} needs entity key(s) {', '.join(missing)}"
            )
        lengths = {len(rows[k]) for k in self.join_keys}
        if len(lengths) != 1:
            raise FeatureRequestError("entity keys have different numbers of rows")
        for key, value_type in self.join_keys.items():
            for i, value in enumerate(rows[key]):
                if not _accepts(value_type, value):
                    raise FeatureRequestError(
                        f"row {i}: entity key {key!r} must be {value_type.name}, "
                        f"got {type(value).__name__} {value!r}"
                    )
        return lengths.pop()

    def lookup(self, rows: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        """Features of each row, by feature name (join keys not included)."""
        count = self.check_keys(rows)
        if count == 0:
            return {f: [] for f in self.features}
        entity_rows = {k: list(rows[k]) for k in self.join_keys}
        found = self._store.get_online_features(
            features=self._service, entity_rows=entity_rows
        ).to_dict()
        values = {f: list(found[f]) for f in self.features}
        bad: dict[int, list[str]] = {}
        for name, column in values.items():
            for i, value in enumerate(column):
                if value is None:
                    if name in self.defaults:
                        column[i] = self.defaults[name]
                    else:
                        bad.setdefault(i, []).append(name)
        if bad:
            details = "; ".join(
                f"row {i} ({', '.join(f'{k}={rows[k][i]!r}' for k in self.join_keys)}): "
                + (
                    "entity not in the online store"
                    if len(names) == len(values)
                    else f"no value for {', '.join(names)}"
                )
                for i, names in sorted(bad.items())
            )
            raise MissingEntityError(f"feature service {self.service!r}: {details}", sorted(bad))
        return values
