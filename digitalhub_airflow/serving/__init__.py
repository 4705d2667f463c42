"""Model serving: the `dhub serve` runtime, deployments and monitoring."""
