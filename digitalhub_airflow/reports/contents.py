"""What a version report holds: the version, its profile and its validation results.

Gathered once, as plain JSON-able data, so the HTML is a pure function of it (and a
test can check one without the other).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


@dataclass(frozen=True)
class ReportContents:
    version: dict[str, Any]
    profile: dict[str, Any] | None
    results: list[dict[str, Any]]


def gather(hub: DataHub, key: str, *, profile_missing: bool = True) -> ReportContents:
    """The report of the version ``key`` names. ``profile_missing``: profile a version
    never profiled (stored, as ``dhub profile`` does); else the report says it has none."""
    from digitalhub_airflow.quality.profiles import profile_dataset, stored_profile
    from digitalhub_airflow.quality.results import stored_results

    info = hub.resolve(key)
    profile = stored_profile(hub, info.key)
    if profile is None and profile_missing and info.kind == "table":
        profile = profile_dataset(hub, info.key)[1]
    return ReportContents(info.to_json(), profile, stored_results(hub, info.key))
