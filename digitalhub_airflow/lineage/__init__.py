"""Lineage: runs, relationships between versions and runs, idempotent transforms."""
