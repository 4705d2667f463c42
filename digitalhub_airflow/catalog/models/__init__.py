"""Every catalog table, one module per feature; import them from here.

A feature's module loads when one of its names is first asked for: ``dhub log`` needs
the datasets tables, not the search index (whose PostgreSQL index loads that dialect,
some 40 ms) nor the serving or training tables. ``Base`` asked for here has every table
registered on its metadata, which the migrations and ``create_all`` in tests rely on. A
module whose foreign keys name another module's tables imports that module.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digitalhub_airflow.catalog.models.access import Grant
    from digitalhub_airflow.catalog.models.base import (
        KEY_LENGTH,
        NAMING,
        Base,
        UTCDateTime,
        utcnow,
    )
    from digitalhub_airflow.catalog.models.datasets import (
        Alias,
        AliasEvent,
        Dataset,
        Project,
        StoreLease,
        Version,
        VersionFile,
    )
    from digitalhub_airflow.catalog.models.lineage import Relationship, Run
    from digitalhub_airflow.catalog.models.quality import (
        DriftRecord,
        ProfileRecord,
        QualityEvent,
        Suite,
        ValidationRecord,
        VersionQuality,
    )
    from digitalhub_airflow.catalog.models.search import SearchEntry, SearchSource, SearchTerm
    from digitalhub_airflow.catalog.models.serving import ServiceEntity, ServiceEvent
    from digitalhub_airflow.catalog.models.training import GateDecision, ModelEntity

#: The names each feature's module defines, for :func:`__getattr__`.
_NAMES = {
    "access": ("Grant",),
    "base": ("KEY_LENGTH", "NAMING", "Base", "UTCDateTime", "utcnow"),
    "datasets": (
        "Alias",
        "AliasEvent",
        "Dataset",
        "Project",
        "StoreLease",
        "Version",
        "VersionFile",
    ),
    "lineage": ("Relationship", "Run"),
    "quality": (
        "DriftRecord",
        "ProfileRecord",
        "QualityEvent",
        "Suite",
        "ValidationRecord",
        "VersionQuality",
    ),
    "search": ("SearchEntry", "SearchSource", "SearchTerm"),
    "serving": ("ServiceEntity", "ServiceEvent"),
    "training": ("GateDecision", "ModelEntity"),
}
_HOME = {name: module for module, names in _NAMES.items() for name in names}


def __getattr__(name: str) -> Any:
    """A table (or shared name) from its feature's module, imported on first use;
    ``Base`` imports every module first, so its metadata holds every table."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name == "Base":
        for module in _NAMES:
            import_module(f"{__name__}.{module}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "KEY_LENGTH",
    "NAMING",
    "Alias",
    "AliasEvent",
    "Base",
    "Dataset",
    "DriftRecord",
    "GateDecision",
    "Grant",
    "ModelEntity",
    "ProfileRecord",
    "Project",
    "QualityEvent",
    "Relationship",
    "Run",
    "SearchEntry",
    "SearchSource",
    "SearchTerm",
    "ServiceEntity",
    "ServiceEvent",
    "StoreLease",
    "Suite",
    "UTCDateTime",
    "ValidationRecord",
    "Version",
    "VersionFile",
    "VersionQuality",
    "utcnow",
]
