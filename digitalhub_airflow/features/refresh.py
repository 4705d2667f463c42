"""Keeping registered views on the version their source key names now.

A source written as a dataset key (no version) follows the dataset: before views are
materialised, each is re-resolved; a new version is checked against the view (a column
it reads may have been dropped) and, when it passes, pinned and re-applied. A source
pinned in git to an exact version stays there. Every caller also gets the local copy of
the pinned version, made on this machine if it was made on another (the registry
then points at this machine's copy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from digitalhub_airflow.features.sources import (
    VERSION_TAG,
    PinnedSource,
    check_columns,
    pin,
    resolve_source,
)

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


def refresh_views(
    hub: DataHub, store: Any, views: list[Any], follow: bool = True
) -> list[PinnedSource]:
    """Pin each view's source (to its key's current version when ``follow``, else to the
    version it was applied with) and re-apply the views whose pin moved."""
    entities = {e.name: e for e in store.list_entities()}
    pinned, changed = [], []
    for view in views:
        source = view.batch_source
        if follow:
            info = resolve_source(hub, source)
            check_columns(info, [view], entities)
        else:
            info = hub.resolve(source.tags[VERSION_TAG])
        before = (source.tags.get(VERSION_TAG), source.path)
        pinned.append(pin(hub, source, info))
        if before != (info.key, source.path):
            changed.append(view)
    if changed:
        store.apply([o for v in changed for o in (v.batch_source, v)])
    return pinned
