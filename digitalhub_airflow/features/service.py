"""A feature service as the registry holds it: its views and its definition digest."""

from __future__ import annotations

from typing import Any

from digitalhub_airflow.features.errors import FeatureRequestError

#: Feature service tag: the digest of the definition set it was applied from.
DIGEST_TAG = "dhub_digest"


def load_service(store: Any, name: str) -> Any:
    """The registered feature service ``name``, or a typed error listing those there are."""
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(name)
    except FeatureServiceNotFoundException as exc:
        known = ", ".join(sorted(s.name for s in store.list_feature_services())) or "none"
        raise FeatureRequestError(
            f"no feature service {name!r} in {store.project} (registered: {known})"
        ) from exc


def service_views(store: Any, service: Any) -> list[Any]:
    return [store.get_feature_view(p.name) for p in service.feature_view_projections]


def service_digest(service: Any) -> str:
    return str(service.tags.get(DIGEST_TAG, ""))
