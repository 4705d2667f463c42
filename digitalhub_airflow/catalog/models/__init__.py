"""Every catalog table, one module per feature; import them from here.

Importing this package registers all tables on :data:`Base.metadata`, which the
migrations and ``create_all`` in tests rely on.
"""

from digitalhub_airflow.catalog.models.access import Grant
from digitalhub_airflow.catalog.models.base import KEY_LENGTH, NAMING, Base, UTCDateTime, utcnow
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
