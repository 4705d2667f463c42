"""When is a Deployment's rollout over? ``kubectl rollout status``'s rules, on its JSON.

Kept apart from the trigger that polls, so the rules are tested on plain objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DONE, WAITING, FAILED = "done", "waiting", "failed"


@dataclass(frozen=True)
class RolloutStatus:
    state: str
    message: str


def rollout_status(deployment: dict[str, Any], generation: int) -> RolloutStatus:
    """The rollout of ``generation`` (what an apply returned) in ``deployment``'s status."""
    name = deployment.get("metadata", {}).get("name", "?")
    status = deployment.get("status") or {}
    if int(status.get("observedGeneration") or 0) < generation:
        return RolloutStatus(WAITING, f"deployment {name}: waiting for generation {generation}")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            detail = condition.get("message") or "progress deadline exceeded"
            return RolloutStatus(FAILED, f"deployment {name} failed to roll out: {detail}")
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < wanted:
        return RolloutStatus(WAITING, f"deployment {name}: {updated} of {wanted} updated")
    if total > updated:
        return RolloutStatus(WAITING, f"deployment {name}: {total - updated} old replicas left")
    if available < updated:
        return RolloutStatus(WAITING, f"deployment {name}: {available} of {updated} available")
    return RolloutStatus(DONE, f"deployment {name}: {updated} replicas rolled out")
