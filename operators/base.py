"""``DigitalHubOperator``: what every operator of the suite shares.

Connections to the catalog and store, and a :class:`TaskIO` that records the versions
the task read and wrote. From that record, for every subclass without code of its own:
a catalog ``run`` with ``consumes``/``produced_by`` edges (success or failure), and the
OpenLineage facets the provider's DefaultExtractor asks for.

The run is recorded by one explicit hook: the base class owns ``execute`` and calls the
subclass's :meth:`DigitalHubOperator.perform` inside it (see the class docstring). The
catalog is reached through core calls only; no session is opened here.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, final

from airflow.sdk import BaseOperator

from digitalhub_airflow.hooks.digitalhub import DigitalHubHook
from digitalhub_airflow.provider.links import CatalogVersionsLink
from digitalhub_airflow.provider.task_io import TaskIO

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.lineage.producing import ProducingRun
    from digitalhub_airflow.lineage.runs import RunSpec

#: ``DHUB_LINEAGE=off`` turns catalog run recording off (OpenLineage has its own switch).
LINEAGE_SWITCH = "DHUB_LINEAGE"


def lineage_enabled() -> bool:
    return os.environ.get(LINEAGE_SWITCH, "on").lower() not in {"off", "false", "0", "no"}


class DigitalHubOperator(BaseOperator):
    """Base of the suite's operators.

    **The hook: implement** :meth:`perform` **, never** ``execute``. ``execute`` is defined
    here once and is final: it opens this execution's producing run, calls
    ``perform(context)``, and when ``perform`` returns or raises, records the catalog run
    (state ``success``, ``failed`` or ``skipped``, its ``consumes``/``produced_by`` edges)
    and remembers what OpenLineage's facets need; then it closes the task's hub. A class
    that overrides ``execute`` is refused with a :class:`TypeError` when it is defined,
    so no operator can skip the record by accident.

    The contract of ``perform(context)``:

    - it does the task's work, through core calls on :meth:`task_hub`, and returns the
      XCom value (what ``execute`` would have returned);
    - it reports every version read with ``self.task_io.read(info)`` and every version
      written with ``self.task_io.wrote(info)`` (quality facts in ``task_io.quality``):
      the run's edges and the OpenLineage inputs/outputs come from there;
    - commits it makes are attributed to the run in their own transaction (the producing
      run is current while it runs; ``self._producing_run`` hands it to another process);
    - it may defer: the task's run is then recorded when the resumed method ends
      (``resume_execution`` is recorded like ``execute``);
    - in a class that also derives from another operator (``KubernetesPodOperator``),
      ``super().execute(context)`` inside ``perform`` reaches that operator's own
      ``execute``: within a recorded execution the base's ``execute`` passes straight on.

    Class flags: ``records_own_run`` (the work records its run itself, as transforms do
    through the core), ``commits_elsewhere`` (a workload in another process may commit
    under this task's run). :meth:`declared_io` names the datasets known before the task
    runs (the OpenLineage START event).

    :param catalog_conn_id: the catalog connection (postgres or sqlite); embedded if absent.
    :param store_conn_id: the store connection (aws or a folder); embedded if absent.
    """

    #: Transforms record their run themselves (pinned inputs, cache key) through the core.
    records_own_run: ClassVar[bool] = False
    #: A workload in another process (a pod) may commit under this task's run.
    commits_elsewhere: ClassVar[bool] = False
    #: "Catalog" on the task instance page: the version(s) this task wrote.
    operator_extra_links = (CatalogVersionsLink(),)

    def __init__(
        self,
        *,
        catalog_conn_id: str = "dhub_catalog",
        store_conn_id: str = "dhub_store",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.catalog_conn_id = catalog_conn_id
        self.store_conn_id = store_conn_id
        self.task_io = TaskIO()
        self.run_key: str | None = None
        self.cache_hit = False
        #: Physical blob locations per version key, for the OpenLineage Symlinks facet.
        self.locations: dict[str, list[tuple[str, str]]] = {}
        #: This execution's run, while ``execute`` (or a resumed method) runs.
        self._producing_run: ProducingRun | None = None
        self._executing = False
        self._hub: DataHub | None = None
        self._memo: dict[str, Any] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "execute" in cls.__dict__:
            raise TypeError(
                f"{cls.__module__}.{cls.__qualname__} overrides execute(): a DigitalHubOperator "
                "implements perform(context) instead, which DigitalHubOperator.execute runs "
                "while it records the task's catalog run and OpenLineage facets (from "
                "perform, super().execute(context) reaches another base operator's execute)"
            )

    @final
    def execute(self, context: Any) -> Any:
        """Final: run :meth:`perform` under this task's run and record how it ended."""
        if self._executing:  # perform() reaching a co-base operator's own execute
            return super().execute(context)
        return self._run_recorded(context, self.perform, context)

    execute._dhub_recorded = True  # type: ignore[attr-defined]

    def perform(self, context: Any) -> Any:
        """The task's work; what it returns is the XCom. See the class docstring."""
        raise NotImplementedError(f"{type(self).__name__} does not implement perform(context)")

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any
    ) -> Any:
        """A deferred task resumes here, not in ``execute``: its run is recorded too."""
        resume = super().resume_execution
        return self._run_recorded(context, resume, next_method, next_kwargs, context)

    def _run_recorded(
        self, context: Any, work: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Any:
        """Run ``work`` under this task's producing run, then record how it ended.

        Commits made meanwhile write the run and their ``produced_by`` edges with their
        versions (:mod:`digitalhub_airflow.lineage.producing`); the end writes its state,
        its ``consumes`` edges and anything no commit wrote.
        """
        if self._executing:  # already inside this execution's record
            return work(*args, **kwargs)
        from digitalhub_airflow.lineage.producing import ProducingRun, producing

        self._executing = True
        if self._records(context):
            self._producing_run = ProducingRun.start_now(self.run_spec(context, ""))
        try:
            with producing(self._producing_run):
                result = work(*args, **kwargs)
        except Exception as exc:
            self._record_run(exc)
            raise
        else:
            self._record_run(None)
        finally:
            self._executing = False
            self._producing_run = None
            self._memo.clear()
            self._close_hub()
        return result

    def execution_memo(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()`` once per execution, forgotten when it ends: connections and
        credentials are not kept on the operator (OpenLineage's full task info lists its
        attributes)."""
        if name not in self._memo:
            self._memo[name] = make()
        return self._memo[name]

    @property
    def dhub_hook(self) -> DigitalHubHook:
        """Not ``hook``: KubernetesPodOperator and others use that name for their own."""
        return DigitalHubHook(self.catalog_conn_id, self.store_conn_id)

    @contextmanager
    def task_hub(self) -> Iterator[DataHub]:
        """The task's one DataHub, opened on first use and closed when ``execute`` ends:
        the work, the run record and the lineage lookups share its engine and checks."""
        if self._hub is None:
            self._hub = self.dhub_hook.get_hub()
        yield self._hub

    def _close_hub(self) -> None:
        if self._hub is not None:
            self._hub.close()
            self._hub = None

    # -- lineage: what a subclass may declare ---------------------------------------------
    def declared_io(self) -> tuple[list[str], list[str]]:
        """Dataset keys this task will read and write, known before it runs (for START)."""
        return [], []

    def run_spec(self, context: Any, project: str) -> RunSpec:
        parameters = {f: getattr(self, f, None) for f in self.template_fields}
        return task_run_spec(context, project, type(self), parameters)

    def _project(self) -> str | None:
        from digitalhub_airflow.keys import as_key

        keys = [i.key for i in (*self.task_io.outputs, *self.task_io.inputs)]
        keys += [k for group in self.declared_io() for k in group if k.startswith("store://")]
        return as_key(keys[0]).project if keys else None

    def _records(self, context: Any) -> bool:
        return not self.records_own_run and lineage_enabled() and context is not None

    def _record_run(self, error: BaseException | None) -> None:
        if self._producing_run is None:
            return
        from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

        from digitalhub_airflow.lineage.producing import finish_producing_run
        from digitalhub_airflow.lineage.runs import FAILED, SKIPPED, SUCCESS, RunOutcome

        if isinstance(error, TaskDeferred):
            return  # not over yet: the resumed method records the run
        state = SKIPPED if isinstance(error, AirflowSkipException) else FAILED
        outcome = RunOutcome(
            state if error else SUCCESS,
            inputs=[i.key for i in self.task_io.inputs],
            outputs=[o.key for o in self.task_io.outputs],
            error=f"{type(error).__name__}: {error}" if error else None,
        )
        project = self._project()
        if project is None and not (self._producing_run.spec.project or self.commits_elsewhere):
            self.log.info("no dataset read or written: no catalog run recorded")
            return
        with self.task_hub() as hub:
            self.run_key = finish_producing_run(hub.catalog, self._producing_run, outcome, project)
            if self.run_key is None:
                self.log.info("no dataset read or written: no catalog run recorded")
                return
            self.remember_locations(hub)

    def remember_locations(self, hub: DataHub) -> None:
        """Look up where each version read or written lives, through the task's hub and
        one core call (only for OpenLineage's Symlinks facet: skipped when no event will
        be sent; the facets are built later, in a process that must not open the catalog)."""
        from digitalhub_airflow.provider.openlineage import emission_enabled, version_symlinks

        todo = [
            i for i in (*self.task_io.inputs, *self.task_io.outputs) if i.key not in self.locations
        ]
        if todo and emission_enabled():
            self.locations.update(version_symlinks(hub, todo))

    # -- OpenLineage (called by the provider's DefaultExtractor) ---------------------------
    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        from digitalhub_airflow.provider.openlineage import started_lineage

        return started_lineage(*self.declared_io())

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        from digitalhub_airflow.provider.openlineage import finished_lineage

        return finished_lineage(self.task_io, self.locations, self.run_key, self.cache_hit)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        return self.get_openlineage_facets_on_complete(task_instance)


def task_run_spec(
    context: Any, project: str, code: type | Callable[..., Any], parameters: dict[str, Any]
) -> RunSpec:
    """The catalog run of a task instance: one key per dag run, task, map index and try.

    Parameters go through Airflow's secrets masker first (values of connections and
    variables it knows as secret, ``env_vars`` entries with secret-looking names), then
    the core's own name-based scrub."""
    from airflow.sdk._shared.secrets_masker import redact

    from digitalhub_airflow.lineage.runs import RunSpec, digest_text

    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    return RunSpec(
        project=project,
        name=f"{ti.dag_id}.{ti.task_id}",
        uid=digest_text(ti.dag_id, ti.run_id, ti.task_id, map_index, ti.try_number)[:16],
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        try_number=ti.try_number,
        operator=f"{code.__module__}.{code.__qualname__}",
        code_digest=code_digest(code),
        parameters=redact(parameters),
    )


@functools.cache
def code_digest(code: type | Callable[..., Any]) -> str:
    """The digest of an operator class's or a function's source: which code a run ran."""
    from digitalhub_airflow.lineage.runs import digest_text

    try:
        return digest_text(inspect.getsource(code))
    except (OSError, TypeError):
        return digest_text(f"{code.__module__}.{code.__qualname__}")
