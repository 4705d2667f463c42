"""Airflow's handler for ``store://`` Asset URIs: only dataset keys, without version.

Registered through the provider info, so a DAG naming a malformed key as an Asset fails
at parse time instead of silently never being scheduled.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from digitalhub_airflow.keys import parse_key


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Return the canonical URI of a dataset key; raise ``ValueError`` otherwise."""
    key = parse_key(uri.geturl())
    if key.is_project or key.version is not None or key.alias is not None:
        raise ValueError(f"an Asset URI is a dataset key without version or alias, not {key}")
    return urlsplit(str(key))
