"""``DataItem``: one exact dataset version, as a notebook reads, checks and traces it.

Every method goes through the client's :class:`~digitalhub_airflow.hub.DataHub` and the
same core call as the ``dhub`` command of the same name, so it raises the same typed
errors (:mod:`digitalhub_airflow.errors`). Reading data (``to_pandas``, ``to_arrow``,
``to_duckdb``) notes the version as an input of the notebook's next recorded run.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.keys import as_key
from digitalhub_airflow.sdk.display import grid, table

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.lineage.graph import LineageGraph
    from digitalhub_airflow.quality.validate import ValidationOutcome
    from digitalhub_airflow.sdk.client import Client

PREVIEW_ROWS = 10


class DataItem:
    """One exact version of a dataset (``dh.get(key)``); attributes mirror ``dhub show``."""

    def __init__(self, client: Client, info: VersionInfo) -> None:
        self._client = client
        self.info = info
        self._arrow_schema: pa.Schema | None = None

    # -- what it is ------------------------------------------------------------------------
    @property
    def key(self) -> str:
        """The exact key: ``store://<project>/dataitem/<kind>/<name>:<version id>``."""
        return self.info.key

    @property
    def project(self) -> str:
        return as_key(self.key).project

    @property
    def name(self) -> str:
        return as_key(self.key).name or ""

    @property
    def dataset(self) -> str:
        """The dataset's key, without version: also its Airflow Asset URI."""
        return self.info.dataset

    @property
    def version_id(self) -> str:
        return self.info.version_id

    @property
    def seq(self) -> int:
        """The sequence number: ``v<seq>``."""
        return self.info.seq

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def rows(self) -> int | None:
        return self.info.row_count

    @property
    def size_bytes(self) -> int:
        return self.info.size_bytes

    @property
    def message(self) -> str:
        return self.info.message

    @property
    def aliases(self) -> list[str]:
        return list(self.info.aliases)

    @property
    def quality(self) -> str | None:
        """The latest validation state: passed, warned, failed, quarantined, released."""
        return self.info.quality

    @property
    def producer(self) -> dict[str, Any] | None:
        """Who produced it: the task or notebook, and the run key."""
        return self.info.producer

    @property
    def created_at(self) -> datetime:
        return self.info.created_at

    @property
    def created_by(self) -> str:
        return self.info.created_by

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema recorded with the version (no data is read for it)."""
        if self._arrow_schema is None:
            import pyarrow as pa

            columns = self.info.schema
            if columns is None:
                from digitalhub_airflow.errors import InvalidSourceError

                raise InvalidSourceError(f"{self.key} is a {self.kind} dataset: it has no schema")
            try:
                self._arrow_schema = pa.schema(
                    [
                        pa.field(c["name"], pa.type_for_alias(c["type"]), c["nullable"])
                        for c in columns
                    ]
                )
            except (ValueError, KeyError):  # a type without a short alias: ask the data
                self._arrow_schema = self._client.hub.read_table(self.key).schema
        return self._arrow_schema

    # -- reading -------------------------------------------------------------------------
    def to_arrow(self, columns: list[str] | None = None) -> pa.Table:
        """The version as a ``pyarrow.Table`` (every file verified on the way)."""
        data = self._client.hub.read_table(self.key, columns)
        self._client.note_read(self.key)
        return data

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The version as a ``pandas.DataFrame``."""
        return self.to_arrow(columns).to_pandas()

    def to_duckdb(
        self, con: duckdb.DuckDBPyConnection | None = None, name: str | None = None
    ) -> duckdb.DuckDBPyRelation:
        """The version as a DuckDB relation on ``con`` (a new in-memory connection by
        default); with ``name`` it is also registered as a view of that name."""
        import duckdb

        con = con or duckdb.connect()
        data = self.to_arrow()
        if name:
            con.register(name, data)
            return con.table(name)
        return con.from_arrow(data)

    def head(self, n: int = PREVIEW_ROWS) -> pd.DataFrame:
        """The first ``n`` rows (read without noting an input: a look, not a use)."""
        data = self._client.hub.read_table(self.key)
        return data.slice(0, n).to_pandas()

    def download(self, dest: str | Path) -> list[Path]:
        """Materialise the version's files into the folder ``dest`` (``dhub get``)."""
        paths = self._client.hub.get(self.key, dest)
        self._client.note_read(self.key)
        return paths

    # -- versions --------------------------------------------------------------------------
    def versions(self, limit: int | None = None) -> Versions:
        """Every version of this dataset, newest first (``dhub log``)."""
        return self._client.log(self.key, limit)

    log = versions

    def diff(self, other: DataItem | str) -> dict[str, Any]:
        """Schema, rows and files from ``other`` to this version (``dhub diff``)."""
        other_key = other.key if isinstance(other, DataItem) else other
        return self._client.hub.diff(other_key, self.key).to_json()

    def tag(self, alias: str) -> DataItem:
        """Point ``alias`` at this version (``dhub tag``)."""
        return DataItem(self._client, self._client.hub.tag(self.key, alias))

    # -- quality ---------------------------------------------------------------------------
    def profile(self, force: bool = False) -> Profile:
        """Column statistics, computed once per version and stored (``dhub profile``)."""
        from digitalhub_airflow.quality.profiles import profile_dataset

        _, profile = profile_dataset(self._client.hub, self.key, force=force)
        return Profile(profile)

    def validate(
        self, suite: str | Path, *, on_failure: str = "fail", force: bool = False
    ) -> Validation:
        """Validate with a suite file or suite key (``dhub validate``). A failure raises
        :class:`~digitalhub_airflow.errors.ValidationFailedError` with ``on_failure="fail"``,
        :class:`~digitalhub_airflow.errors.QuarantinedError` with ``"quarantine"``, and is
        returned with ``"warn"``."""
        from digitalhub_airflow.quality.validate import validate_dataset

        outcome = validate_dataset(
            self._client.hub, self.key, suite, on_failure=on_failure, force=force
        )
        self.info = outcome.version
        outcome.raise_for_failure()
        return Validation(outcome)

    # -- lineage ---------------------------------------------------------------------------
    def lineage(self, direction: str = "upstream", depth: int = 5) -> Lineage:
        """Runs and versions upstream, downstream or ``both`` (``dhub lineage``)."""
        from digitalhub_airflow.lineage.graph import lineage_graph

        return Lineage(lineage_graph(self._client.hub, self.key, direction, depth))

    # -- display ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        rows = f"{self.rows} rows" if self.rows is not None else f"{self.info.file_count} files"
        return f"<DataItem {self.key} v{self.seq} {rows}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataItem) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def _repr_html_(self) -> str:
        info = self.info
        producer = info.producer or {}
        columns = ""
        if info.schema:
            columns = grid(
                ["column", "type", "nullable"],
                ([c["name"], c["type"], c["nullable"]] for c in info.schema),
            )
        return table(
            f"{self.name} v{info.seq}",
            [
                ("key", info.key),
                ("rows", info.row_count),
                ("size", f"{info.size_bytes} bytes in {info.file_count} file(s)"),
                ("format", info.format),
                ("aliases", ", ".join(info.aliases)),
                ("quality", info.quality),
                ("message", info.message),
                ("produced by", producer.get("notebook") or producer.get("task_id")),
                ("run", producer.get("run")),
                ("created", f"{info.created_at:%Y-%m-%d %H:%M:%S} by {info.created_by}"),
            ],
            columns,
        )


class Versions(list[DataItem]):
    """Versions of one dataset, newest first; a list that prints as a table."""

    def _repr_html_(self) -> str:
        return grid(
            ["v", "id", "created", "rows", "aliases", "quality", "message"],
            (
                [
                    f"v{i.seq}",
                    i.info.short_id,
                    f"{i.created_at:%Y-%m-%d %H:%M:%S}",
                    i.rows,
                    ", ".join(i.aliases),
                    i.quality or "",
                    i.message,
                ]
                for i in self
            ),
        )


@dataclass
class Profile:
    """A stored profile: ``row_count``, ``column_count`` and per-column statistics."""

    data: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    @property
    def columns(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.data.get("columns", [])}

    def to_json(self) -> dict[str, Any]:
        return self.data

    def to_pandas(self) -> pd.DataFrame:
        """One row per column: type, nulls, distinct, min, mean, max."""
        import pandas as pd

        wanted = ("name", "type", "nulls", "distinct", "min", "mean", "max")
        return pd.DataFrame([{k: c.get(k) for k in wanted} for c in self.data.get("columns", [])])

    def __repr__(self) -> str:
        return (
            f"<Profile {self.data.get('version')}: {self.data.get('row_count')} rows, "
            f"{self.data.get('column_count')} columns>"
        )

    def _repr_html_(self) -> str:
        wanted = ("name", "type", "nulls", "distinct", "min", "mean", "max")
        columns = grid(
            list(wanted), ([c.get(k) for k in wanted] for c in self.data.get("columns", []))
        )
        return table(
            f"profile of {self.data.get('version')}",
            [("rows", self.data.get("row_count")), ("columns", self.data.get("column_count"))],
            columns,
        )


@dataclass
class Validation:
    """A validation outcome: ``success``, ``failures``, the version's new ``state``."""

    outcome: ValidationOutcome

    @property
    def success(self) -> bool:
        return self.outcome.success

    @property
    def state(self) -> str | None:
        return self.outcome.version.quality

    @property
    def failures(self) -> list[dict[str, Any]]:
        return self.outcome.failures

    @property
    def statistics(self) -> dict[str, Any]:
        return self.outcome.statistics

    def to_json(self) -> dict[str, Any]:
        return self.outcome.to_json()

    def report(self) -> str:
        return self.outcome.report()

    def __bool__(self) -> bool:
        return self.success

    def __repr__(self) -> str:
        return self.report()

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.report())}</pre>"


@dataclass
class Lineage:
    """A lineage graph: ``nodes``, ``edges``, the ``runs`` in it, text, JSON and DOT."""

    graph: LineageGraph
    _json: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self._json = self.graph.to_json()

    @property
    def root(self) -> str:
        return self.graph.root

    @property
    def nodes(self) -> list[dict[str, Any]]:
        return list(self._json["nodes"])

    @property
    def edges(self) -> list[dict[str, Any]]:
        return list(self._json["edges"])

    @property
    def runs(self) -> list[dict[str, Any]]:
        """The run nodes, nearest first, each with its ``key``, ``label`` and ``state``."""
        return [n for n in self.nodes if n["type"] == "run"]

    def to_json(self) -> dict[str, Any]:
        return self._json

    def to_text(self) -> str:
        return self.graph.to_text()

    def to_dot(self) -> str:
        return self.graph.to_dot()

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        size = f"{len(self.nodes)} nodes, {len(self.edges)} edges"
        return f"<Lineage of {self.root}: {size}>\n{self.to_text()}"

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.to_text())}</pre>"


@dataclass
class QueryResult:
    """A SQL result (``dh.query``): ``to_pandas``/``to_arrow``, and the exact versions it
    read (``inputs``). With ``target`` it was also committed: ``item`` is that version."""

    table: pa.Table
    inputs: dict[str, str]
    item: DataItem | None = None
    run: str | None = None

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def __repr__(self) -> str:
        head = self.table.slice(0, PREVIEW_ROWS).to_pandas().to_string(index=False)
        return f"{head}\n({self.table.num_rows} rows)"

    def _repr_html_(self) -> str:
        preview = str(self.table.slice(0, PREVIEW_ROWS).to_pandas().to_html(index=False))
        inputs = ", ".join(sorted(self.inputs.values()))
        note = f"<p>{self.table.num_rows} rows from {html.escape(inputs)}</p>"
        if self.item is not None:
            note += f"<p>committed as {html.escape(self.item.key)}</p>"
        return preview + note
