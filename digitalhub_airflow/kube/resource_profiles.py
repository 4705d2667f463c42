"""Resource profiles: named templates of what a workload asks of a Kubernetes node.

DAG authors write ``resource_profile="1xa100"`` instead of limits, node selectors and
tolerations; the platform team keeps the templates in one file (``DHUB_RESOURCE_PROFILES``,
YAML or JSON) that extends or overrides the built-in ones, as DigitalHub's resource
templates do. GPU node pools are usually tainted, so GPU profiles tolerate the
``nvidia.com/gpu`` taint and select the GPU model by its GPU-feature-discovery label.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitalhub_airflow.errors import InvalidSourceError

PROFILES_ENV = "DHUB_RESOURCE_PROFILES"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")
QUANTITY_RE = re.compile(r"\d+(\.\d+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?")
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


class ProfileError(InvalidSourceError):
    """An unknown or malformed resource profile."""


@dataclass(frozen=True)
class ResourceProfile:
    name: str
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()

    @property
    def gpus(self) -> int:
        return int(self.limits.get("nvidia.com/gpu", "0"))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.requests,
            "limits": self.limits,
            "node_selector": self.node_selector,
            "tolerations": list(self.tolerations),
        }


def _gpu(name: str, count: int, product: str, cpu: str, memory: str) -> ResourceProfile:
    return ResourceProfile(
        name=name,
        requests={"cpu": cpu, "memory": memory},
        limits={"memory": memory, "nvidia.com/gpu": str(count)},
        node_selector={GPU_PRODUCT_LABEL: product},
        tolerations=(GPU_TOLERATION,),
    )


BUILTIN: dict[str, ResourceProfile] = {
    p.name: p
    for p in (
        ResourceProfile("cpu-small", {"cpu": "1", "memory": "2Gi"}, {"memory": "2Gi"}),
        ResourceProfile("cpu-large", {"cpu": "4", "memory": "16Gi"}, {"memory": "16Gi"}),
        _gpu("1xt4", 1, "Tesla-T4", "4", "16Gi"),
        _gpu("1xa100", 1, "NVIDIA-A100-SXM4-80GB", "8", "64Gi"),
        _gpu("2xa100", 2, "NVIDIA-A100-SXM4-80GB", "16", "128Gi"),
        _gpu("1xh100", 1, "NVIDIA-H100-80GB-HBM3", "16", "128Gi"),
    )
}


def _parse(name: str, spec: Any, origin: str) -> ResourceProfile:
    where = f"resource profile {name!r} in {origin}"
    if not NAME_RE.fullmatch(name):
        raise ProfileError(f"{where}: the name must match {NAME_RE.pattern}")
    if not isinstance(spec, dict):
        raise ProfileError(f"{where}: expected a mapping, got {type(spec).__name__}")
    unknown = set(spec) - {"requests", "limits", "node_selector", "tolerations"}
    if unknown:
        raise ProfileError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    quantities: dict[str, dict[str, str]] = {}
    for part in ("requests", "limits"):
        values = {str(k): str(v) for k, v in (spec.get(part) or {}).items()}
        bad = [f"{k}={v}" for k, v in values.items() if not QUANTITY_RE.fullmatch(v)]
        if bad:
            raise ProfileError(f"{where}: {part} are not Kubernetes quantities: {', '.join(bad)}")
        quantities[part] = values
    tolerations = spec.get("tolerations") or []
    if not isinstance(tolerations, list) or not all(isinstance(t, dict) for t in tolerations):
        raise ProfileError(f"{where}: tolerations must be a list of mappings")
    return ResourceProfile(
        name=name,
        requests=quantities["requests"],
        limits=quantities["limits"],
        node_selector={str(k): str(v) for k, v in (spec.get("node_selector") or {}).items()},
        tolerations=tuple({str(k): str(v) for k, v in t.items()} for t in tolerations),
    )


def load_profiles(path: str | os.PathLike[str] | None = None) -> dict[str, ResourceProfile]:
    """The built-in profiles, extended or overridden by the file ``path`` (or the env)."""
    path = path or os.environ.get(PROFILES_ENV)
    profiles = dict(BUILTIN)
    if not path:
        return profiles
    import yaml

    try:
        text = Path(path).read_text()
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ProfileError(f"resource profiles file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"resource profiles file {path}: expected a mapping of profiles")
    profiles.update({name: _parse(name, spec, str(path)) for name, spec in data.items()})
    return profiles


def get_profile(name: str, path: str | os.PathLike[str] | None = None) -> ResourceProfile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise ProfileError(
            f"unknown resource profile {name!r}; known: {', '.join(sorted(profiles))}"
        )
    return profiles[name]
