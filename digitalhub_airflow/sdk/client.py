"""``Client``: the SDK bound to one catalog, one store and one tracking server.

The module-level functions of :mod:`digitalhub_airflow.sdk` use a default client,
opened lazily from the settings (``DHUB_*`` variables, else the embedded default under
``DHUB_HOME``), as MLflow's fluent API does; :func:`connect` points it elsewhere.

**Runs from a notebook.** Each SDK call that writes (``commit``, ``query(target=…)``)
is recorded as one catalog run ``store://<project>/run/notebook/<notebook>:<id>``,
through the same producing-run machinery as an Airflow task's run: the version, its
run and its ``produced_by`` edge are written in the commit's one transaction, then the
run is finished with its ``consumes`` edges. Its inputs are the versions this process
read before the call (``to_pandas``, ``to_arrow``, ``to_duckdb``, ``query``, ``train``),
or the ``inputs`` given. The run records the notebook's identity
(:mod:`digitalhub_airflow.sdk.notebook`): path, kernel, user, git commit, the cell; runs
of one kernel session share its ``run_id``. A call that fails records no run: nothing
was produced, and the error is in front of the person who made it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.keys import as_dataset_key
from digitalhub_airflow.lineage.runs import RunSpec, digest_text
from digitalhub_airflow.sdk.display import mask_url, table
from digitalhub_airflow.sdk.items import DataItem, Lineage, QueryResult, Versions
from digitalhub_airflow.sdk.notebook import (
    NOTEBOOK_KIND,
    NotebookIdentity,
    current_cell,
    current_identity,
)
from digitalhub_airflow.settings import Settings, dhub_home, load_settings, store_options_from_env

if TYPE_CHECKING:
    from digitalhub_airflow.access import Principal
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.training.tracking import TrackingConfig

#: ``DHUB_LINEAGE=off`` turns run recording off, as it does for Airflow tasks.
LINEAGE_SWITCH = "DHUB_LINEAGE"
#: What ``dh.commit`` and friends record as the run's operator.
OPERATOR = "digitalhub_airflow.sdk"


def lineage_enabled() -> bool:
    return os.environ.get(LINEAGE_SWITCH, "on").lower() not in {"off", "false", "0", "no"}


def sqlalchemy_url(url: str) -> str:
    """A catalog URL as SQLAlchemy wants it (``postgres://`` as Airflow writes it too)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


class Client:
    """The SDK on one catalog, store and tracking server (see the module docstring)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        tracking: TrackingConfig | None = None,
        hub: DataHub | None = None,
        principal: Principal | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        #: Who this client acts as; None: from ``DHUB_TOKEN``, else the local user.
        self._principal = principal
        self._tracking = tracking
        self._hub = hub
        self._reads: dict[str, None] = {}
        self._runs = 0
        #: Groups the runs of this process (a kernel session): their ``run_id``.
        self.session_id = uuid.uuid4().hex[:16]
        #: The key of the last run this client recorded.
        self.last_run: str | None = None

    @classmethod
    def connect(
        cls,
        catalog_url: str | None = None,
        store_url: str | None = None,
        *,
        tracking_uri: str | None = None,
        tracking_token: str | None = None,
        home: str | Path | None = None,
        catalog_schema: str | None = None,
        store_options: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> Client:
        """A client on the given URLs; what is not given comes from the ``DHUB_*``
        variables, else the embedded default under ``home`` (``DHUB_HOME``). ``token``
        (else ``DHUB_TOKEN``): act as its user, with that user's project grants."""
        base = load_settings()
        root = Path(home).expanduser().resolve() if home is not None else dhub_home()
        embedded = home is not None
        settings = Settings(
            catalog_url=sqlalchemy_url(
                catalog_url
                or (None if embedded else os.environ.get("DHUB_CATALOG_URL"))
                or f"sqlite:///{root / 'catalog.sqlite'}"
            ),
            store_url=store_url
            or (None if embedded else os.environ.get("DHUB_STORE_URL"))
            or str(root / "store"),
            home=root,
            catalog_schema=catalog_schema or base.catalog_schema,
            store_options=store_options if store_options is not None else store_options_from_env(),
        )
        tracking = None
        if tracking_uri:
            from digitalhub_airflow.training.tracking import TrackingConfig

            tracking = TrackingConfig(tracking_uri, token=tracking_token)
        principal = None
        if token:
            from digitalhub_airflow.access.tokens import verify
            from digitalhub_airflow.settings import token_secret

            principal = verify(token, token_secret())
        return cls(settings, tracking=tracking, principal=principal)

    # -- what it is connected to ---------------------------------------------------------
    @property
    def hub(self) -> DataHub:
        """The :class:`~digitalhub_airflow.hub.DataHub` (opened on first use)."""
        if self._hub is None:
            from digitalhub_airflow.hub import DataHub

            self._hub = DataHub.from_settings(self.settings)
        return self._hub

    @property
    def tracking(self) -> TrackingConfig:
        """The MLflow tracking server: ``DHUB_MLFLOW_TRACKING_URI`` (token from
        ``DHUB_MLFLOW_TOKEN``), else ``MLFLOW_TRACKING_URI`` (``MLFLOW_TRACKING_TOKEN``),
        else MLflow on SQLite under ``DHUB_HOME``."""
        if self._tracking is None:
            from digitalhub_airflow.training.tracking import (
                TRACKING_URI_ENV,
                TrackingConfig,
                tracking_from_env,
            )

            mlflow_uri = os.environ.get("MLFLOW_TRACKING_URI", "")
            if not os.environ.get(TRACKING_URI_ENV) and mlflow_uri.startswith(
                ("http://", "https://")
            ):
                self._tracking = TrackingConfig(
                    mlflow_uri,
                    token=os.environ.get("MLFLOW_TRACKING_TOKEN") or None,
                    username=os.environ.get("MLFLOW_TRACKING_USERNAME") or None,
                    password=os.environ.get("MLFLOW_TRACKING_PASSWORD") or None,
                )
            else:
                self._tracking = tracking_from_env(self.settings.home)
        return self._tracking

    @property
    def principal(self) -> Principal:
        """Who this client acts as on a shared catalog: every call is checked against
        that user's project grants (the local user of an embedded catalog may do all)."""
        if self._principal is None:
            from digitalhub_airflow.access.tokens import from_environment

            self._principal = from_environment()
        return self._principal

    def _require(self, key: str, level: str) -> None:
        from digitalhub_airflow.access import Level, require
        from digitalhub_airflow.query.sql import project_of

        require(self.hub.catalog, self.principal, project_of(str(key)), Level.parse(level))

    @property
    def identity(self) -> NotebookIdentity:
        """The notebook (path, kernel, user, git commit) runs are attributed to."""
        return current_identity()

    def init(self) -> str:
        """Create or upgrade the catalog schema (``dhub init``); returns the revision."""
        return self.hub.init()

    def close(self) -> None:
        if self._hub is not None:
            self._hub.close()
            self._hub = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _where(self) -> list[tuple[str, Any]]:
        tracking = self._tracking
        return [
            ("catalog", mask_url(self.settings.catalog_url)),
            ("store", mask_url(self.settings.store_url)),
            (
                "tracking",
                mask_url(tracking.safe_uri) if tracking is not None else "(from settings)",
            ),
            ("notebook", self.identity.path),
            ("user", self.identity.user),
            ("git commit", self.identity.git_commit),
        ]

    def __repr__(self) -> str:
        return "<Client " + " ".join(f"{k}={v}" for k, v in self._where() if v) + ">"

    def _repr_html_(self) -> str:
        return table("DigitalHub client", self._where())

    # -- inputs and runs -----------------------------------------------------------------
    def note_read(self, key: str) -> None:
        """Remember that this process read the exact version ``key``: an input of the
        next recorded run."""
        self._reads[key] = None

    @property
    def reads(self) -> list[str]:
        """The exact versions read so far, oldest first."""
        return list(self._reads)

    def forget_reads(self) -> None:
        """Start afresh: the next run consumes only what is read after this."""
        self._reads.clear()

    def _inputs(self, inputs: Iterable[DataItem | str] | None) -> list[str]:
        if inputs is None:
            return self.reads
        return [i.key if isinstance(i, DataItem) else self.hub.resolve(i).key for i in inputs]

    def run_spec(self, project: str) -> RunSpec:
        """The spec of the next notebook run: one per writing call, named after the
        notebook, ``run_id`` the session, the cell's source digest as its code."""
        identity = self.identity
        cell, source = current_cell()
        self._runs += 1
        parameters: dict[str, Any] = {**identity.to_json(), "session": self.session_id}
        if cell is not None:
            parameters["cell"] = cell
        return RunSpec(
            project=project,
            name=identity.name,
            uid=digest_text(self.session_id, self._runs, uuid.uuid4().hex)[:16],
            kind=NOTEBOOK_KIND,
            run_id=self.session_id,
            operator=OPERATOR,
            code_digest=digest_text(source) if source else None,
            parameters=parameters,
        )

    def producer(self) -> dict[str, Any]:
        """The notebook identity recorded on each version this client writes."""
        return {**self.identity.to_json(), "session": self.session_id}

    # -- datasets --------------------------------------------------------------------------
    def get(self, key: str) -> DataItem:
        """The version ``key`` names: ``<project>/<name>[:vN|@alias]`` or a full
        ``store://`` key (no version: the latest)."""
        self._require(key, "read")
        return DataItem(self, self.hub.resolve(key))

    def log(self, key: str, limit: int | None = None) -> Versions:
        """Versions of a dataset, newest first (``dhub log``)."""
        self._require(key, "read")
        return Versions(DataItem(self, info) for info in self.hub.log(key, limit))

    def commit(
        self,
        name: str,
        data: Any,
        *,
        message: str = "",
        kind: str | None = None,
        schema_policy: str = "any",
        aliases: Iterable[str] = (),
        inputs: Iterable[DataItem | str] | None = None,
    ) -> DataItem:
        """Commit a DataFrame, an Arrow table, a file, folder, glob or store URL as a new
        version of ``name`` (``<project>/<name>`` or a ``store://`` dataset key).

        The version is produced by a notebook run consuming ``inputs`` (default: every
        version this process read); committing unchanged content returns the existing
        version."""
        from digitalhub_airflow.lineage.producing import (
            ProducingRun,
            finish_producing_run,
            producing,
        )
        from digitalhub_airflow.lineage.runs import SUCCESS, RunOutcome

        key = as_dataset_key(name, kind)
        self._require(str(key), "write")
        consumed = self._inputs(inputs)
        options: dict[str, Any] = {
            "kind": kind,
            "message": message,
            "schema_policy": schema_policy,
            "aliases": tuple(aliases),
            "producer": self.producer(),
        }
        if not lineage_enabled():
            return DataItem(self, self.hub.commit(name, data, **options).version)
        run = ProducingRun.start_now(self.run_spec(key.project))
        with producing(run):
            result = self.hub.commit(name, data, **options)
        outcome = RunOutcome(SUCCESS, inputs=consumed, outputs=[result.key])
        self.last_run = finish_producing_run(self.hub.catalog, run, outcome, key.project)
        return DataItem(self, self.hub.resolve(result.key))

    def tag(self, key: str, alias: str) -> DataItem:
        """Point ``alias`` at the version ``key`` names (``dhub tag``)."""
        self._require(key, "write")
        return DataItem(self, self.hub.tag(key, alias))

    def query(self, sql: str, *, target: str | None = None, message: str = "") -> QueryResult:
        """One read-only ``SELECT`` over ``ds('<key>')`` datasets (``dhub query``), run by
        DuckDB in its sandbox. With ``target`` the result is committed as a version of that
        table dataset by a notebook run recording the query (cached: the same query on the
        same versions returns the earlier version)."""
        from digitalhub_airflow.query.sql import authorize_query, run_query
        from digitalhub_airflow.transforms.transform import (
            SQL,
            Transform,
            pin_inputs,
            run_transform,
        )

        into = as_dataset_key(target).project if target is not None else None
        authorize_query(self.hub.catalog, self.principal, sql, into=into)
        if target is not None:
            transform = Transform(output=target, kind=SQL, query=sql, message=message)
            spec = self.run_spec(as_dataset_key(target).project)
            result = run_transform(self.hub, transform, spec)
            inputs = {name: info.key for name, info in result.inputs.items()}
            for key in inputs.values():
                self.note_read(key)
            self.last_run = result.run
            item = DataItem(self, result.output)
            return QueryResult(self.hub.read_table(item.key), inputs, item, result.run)
        transform = Transform(output="store://query/dataitem/table/preview", kind=SQL, query=sql)
        pinned = pin_inputs(self.hub, transform.inputs)
        data = run_query(
            sql, {name: self.hub.read_table(info.key) for name, info in pinned.items()}
        )
        inputs = {name: info.key for name, info in pinned.items()}
        for key in inputs.values():
            self.note_read(key)
        return QueryResult(data, inputs)

    def lineage(self, key: str, direction: str = "upstream", depth: int = 5) -> Lineage:
        """The lineage of a version or a run key (``dhub lineage``)."""
        from digitalhub_airflow.lineage.graph import lineage_graph

        return Lineage(lineage_graph(self.hub, key, direction, depth))

    def run(self, key: str) -> dict[str, Any]:
        """A run entity: identity, parameters, state, inputs and outputs."""
        from digitalhub_airflow.lineage.runs import get_run

        return get_run(self.hub, key)
