"""What a run's commits wrote, wherever they were made (a notebook's kernel, a pod).

The commits of another process record the run and its ``produced_by`` edges in their
own transactions; the process that owns the run reads them back here to report them
(catalog lineage, OpenLineage outputs, Asset events).
"""

from __future__ import annotations

from typing import Any

from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.datasets.versions import VersionInfo, resolve, to_info
from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.keys import as_key
from digitalhub_airflow.lineage.producing import ProducingRun, find_run
from digitalhub_airflow.lineage.runs import produced_by


def produced_versions(hub: Any, run: ProducingRun) -> list[VersionInfo]:
    """The versions with a ``produced_by`` edge to ``run``, oldest first.

    A run not yet bound to a project (its commits happened in another process) is bound
    to the project its row was started in, so later commits in this process (the
    executed notebook) land on the same run.
    """
    require_current(hub.catalog)
    with hub.catalog.session() as session:
        row = find_run(session, run)
        if row is None:
            return []
        run.bind(row.project)
        found = []
        for key in produced_by(session, row.key):
            try:
                found.append(to_info(session, resolve(session, as_key(key))))
            except NotFoundError:  # collected since: nothing to report
                continue
    return sorted(found, key=lambda info: (info.created_at, info.dataset, info.seq))
