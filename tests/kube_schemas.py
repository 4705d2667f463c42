"""Kubernetes objects the suite renders, checked against the official JSON schemas of the
oldest Kubernetes release it supports and of the newest that kubernetes-validate ships
(strict: an unknown field is an error, as server-side apply with validation makes it)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

#: The oldest Kubernetes release the suite supports (docs/deploy.md).
OLDEST_KUBERNETES = "1.30.0"


def validate_k8s(obj: dict[str, Any]) -> None:
    for version in (OLDEST_KUBERNETES, kubernetes_validate.latest_version()):
        kubernetes_validate.validate(obj, version, strict=True)
