"""Model references pinned to exact versions before a deployment.

``models:/wine@champion`` names whatever the alias points at when it is read; a service
that resolved it at start-up would run different versions on different replicas, and a
rollback would have nothing exact to go back to. So a deployment resolves every
reference first (``models:/wine/7``), records both, and runs the pinned one. A reference
that names nothing fails here, before any process or pod is started.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.training.tracking import TrackingConfig


@dataclass(frozen=True)
class PinnedModel:
    """``ref`` as given, ``pinned`` the exact reference served, ``version`` the registry
    version (or the catalog model's run id; ``None`` for a plain URI)."""

    ref: str
    pinned: str
    version: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def pin_models(
    models: dict[str, str], tracking: TrackingConfig, hub: DataHub
) -> dict[str, PinnedModel]:
    """Pin every served model's reference, as the server itself resolves it."""
    from digitalhub_airflow.serving.model_refs import resolve_model

    pinned = {}
    for served, ref in sorted(models.items()):
        resolved = resolve_model(hub, tracking, served, ref)
        # A catalog key already names one model version: the server resolves it again.
        exact = ref if ref.startswith("store://") else resolved.model_uri
        pinned[served] = PinnedModel(ref, exact, resolved.version)
    return pinned


def already_pinned(models: dict[str, str]) -> dict[str, PinnedModel]:
    """The pinned models of a recorded spec (a rollback's): its references are exact, so
    their versions are read off them, without asking the registry again."""
    from digitalhub_airflow.serving.model_refs import REGISTRY_RE

    pinned = {}
    for served, ref in models.items():
        match = REGISTRY_RE.fullmatch(ref)
        if match is not None and (match["version"] or "").isdigit():
            pinned[served] = PinnedModel(ref, ref, match["version"])
        elif ref.startswith("store://"):
            from digitalhub_airflow.keys import parse_key

            pinned[served] = PinnedModel(ref, ref, parse_key(ref).version)
        else:
            pinned[served] = PinnedModel(ref, ref, None)
    return pinned
