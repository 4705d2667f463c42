"""``RunNotebookOperator``: a Jupyter notebook as a task, its commits attributed to it.

The work is :func:`digitalhub_airflow.notebooks.run_notebook`: parameters injected
papermill-style, the notebook executed with nbclient in a fresh kernel whose environment
carries this deployment's catalog and store settings (credentials in the kernel's
environment only, masked in the saved notebook) and the task's run (``DHUB_RUN``), so
whatever the notebook commits is recorded as produced by this task. Afterwards the task
reads those versions back from the run's ``produced_by`` edges and reports them as its
outputs (catalog run, OpenLineage, Asset events); with ``output_dataset`` it also commits the
executed notebook as a ``files`` version, kept and linked to the same run.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from digitalhub_airflow.operators.base import DigitalHubOperator
from digitalhub_airflow.provider.assets import commit_alias, dataset_asset, is_templated

if TYPE_CHECKING:
    from digitalhub_airflow.datasets.versions import VersionInfo

#: The kind of the dataset an executed notebook is committed to.
NOTEBOOK_KIND = "files"


class RunNotebookOperator(DigitalHubOperator):
    """Execute ``notebook`` with ``parameters``; report what it committed.

    :param notebook: the ``.ipynb`` to run; a relative path is looked up beside the DAG
        file first (templated).
    :param parameters: injected after the cell tagged ``parameters`` as Python literals
        (templated; recorded on the run). Secret-looking names are refused: a secret
        reaches the notebook as an environment variable, never as a saved cell.
    :param output_dataset: a dataset (``<project>/<name>`` or a ``files`` key) the executed
        notebook is committed to after a successful run, as a ``files`` version produced
        by this task's run (templated).
    :param output_path: where the executed notebook is saved (templated); by default
        under the temporary folder, ``dhub-notebooks/<dag>/<run>/<task>.<try>/<name>``.
        It is saved also when a cell fails, for inspection.
    :param env: extra environment variables of the kernel (templated; not secrets).
    :param kernel_name: the Jupyter kernel (``python3``: the worker's interpreter).
    :param timeout: seconds each cell may run (``None``: no limit).
    :param message: the message of the executed notebook's version (templated).
    """

    template_fields: Sequence[str] = (
        "notebook",
        "parameters",
        "output_dataset",
        "output_path",
        "env",
        "message",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json", "env": "json"}
    ui_color = "#fdebd0"
    #: The notebook's kernel commits under this task's run.
    commits_elsewhere = True

    def __init__(
        self,
        *,
        notebook: str,
        parameters: dict[str, Any] | None = None,
        output_dataset: str | None = None,
        output_path: str | None = None,
        env: dict[str, str] | None = None,
        kernel_name: str = "python3",
        timeout: float | None = 600,
        message: str = "",
        **kwargs: Any,
    ) -> None:
        # What the notebook commits is only known when it has run: events go through the
        # task's AssetAlias; a fixed ``output_dataset`` is a static outlet as well.
        outlets = [*kwargs.get("outlets", []), commit_alias(kwargs["task_id"])]
        if output_dataset and not is_templated(output_dataset):
            outlets.append(dataset_asset(output_dataset, NOTEBOOK_KIND))
        kwargs["outlets"] = outlets
        super().__init__(**kwargs)
        self.notebook = notebook
        self.parameters = dict(parameters or {})
        self.output_dataset = output_dataset
        self.output_path = output_path
        self.env = dict(env or {})
        self.kernel_name = kernel_name
        self.timeout = timeout
        self.message = message

    def declared_io(self) -> tuple[list[str], list[str]]:
        if not self.output_dataset or is_templated(self.output_dataset):
            return [], []
        from digitalhub_airflow.keys import as_dataset_key

        return [], [str(as_dataset_key(self.output_dataset, NOTEBOOK_KIND))]

    def notebook_path(self, context: Any) -> Path:
        """``notebook`` as given if absolute or found there, else beside the DAG file."""
        path = Path(self.notebook).expanduser()
        if path.is_absolute() or path.exists():
            return path
        dag = context.get("dag") if context else None
        fileloc = getattr(dag, "fileloc", None)
        if fileloc:
            beside = Path(fileloc).parent / path
            if beside.exists():
                return beside
        return path

    def executed_path(self, context: Any, source: Path) -> Path:
        if self.output_path:
            return Path(self.output_path)
        ti = context["ti"]
        parts = [ti.dag_id, ti.run_id, f"{ti.task_id}.{ti.try_number}", source.name]
        safe = [re.sub(r"[^A-Za-z0-9._-]+", "_", str(p)) for p in parts]
        return Path(tempfile.gettempdir(), "dhub-notebooks", *safe)

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.errors import NotebookError
        from digitalhub_airflow.lineage.producing import RUN_ENV
        from digitalhub_airflow.notebooks import produced_versions, run_notebook

        settings, secrets = self.dhub_hook.worker_environment()
        env = {**settings, **{k: str(v) for k, v in self.env.items()}}
        if self._producing_run is not None:
            # The kernel's commits record this run (identity only) with their versions.
            env[RUN_ENV] = self._producing_run.to_env()
        source = self.notebook_path(context)
        target = self.executed_path(context, source)
        self.log.info("running notebook %s (kernel %s) -> %s", source, self.kernel_name, target)
        failure: NotebookError | None = None
        result = None
        try:
            result = run_notebook(
                source,
                self.parameters,
                target,
                env=env,
                timeout=self.timeout,
                kernel_name=self.kernel_name,
                secrets=secrets,
            )
        except NotebookError as exc:
            failure = exc
        executed: VersionInfo | None = None
        with self.task_hub() as hub:
            written = []
            if self._producing_run is not None:
                written = produced_versions(hub, self._producing_run)
            for info in written:
                self.task_io.wrote(info)
            if failure is None and self.output_dataset:
                message = self.message or f"executed {source.name}"
                commit = hub.commit(
                    self.output_dataset, target, kind=NOTEBOOK_KIND, message=message
                )
                executed = self.task_io.wrote(commit.version)
        for info in self.task_io.outputs:
            self.log.info("the notebook's task wrote %s (v%s)", info.key, info.seq)
        self._announce(context)
        if failure is not None:
            raise failure
        assert result is not None
        return {
            "notebook": result.to_json(),
            "outputs": [info.key for info in written],
            "executed": executed.key if executed is not None else None,
        }

    def _announce(self, context: Any) -> None:
        """An Asset event per version written, through the alias or the static outlet."""
        from digitalhub_airflow.provider.assets import announce

        if not context or "outlet_events" not in context:
            return
        for info in self.task_io.outputs:
            announce(context, dataset_asset(info.dataset, info.kind), info.to_json())
