"""Deploying model servers: specs from YAML, pinning, manifests, local and Kubernetes
deployers, reconcile and rollout."""
