"""Versioned datasets: the commit protocol, versions and aliases, manifests, sources and
tables, reading, hashing cache, verify, gc, leases and schema diffs."""
