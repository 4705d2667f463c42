"""Cached, idempotent transforms of pinned input versions, and their reproduction."""
