"""Bad input, one table across every entry point: the CLI, the operators, the REST API,
the model server and SQL.

Each row names an entry point, the bad input, the status it must get (a ``dhub`` exit
code, an exception class, an HTTP status) and a pattern its one-line message must match,
so a row fails when the refusal is right but says nothing useful. After every row the
catalog (every row of every table), the store (every file) and the model folder are
exactly as before: a refusal writes nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from digitalhub_airflow.errors import DhubError
from digitalhub_airflow.json_limits import MAX_JSON_DEPTH
from tests.serving_helpers import asgi_call, iris_app
from tests.ui_testlib import CatalogClient, open_catalog, populate
from tests.unit.dhub_testlib import Snapshot, make_hub, write

WINE = "store://demo/dataitem/table/wine"
DATASET_API = "/dhub/api/v1/datasets/demo/table/wine"
INFER = "/v2/models/iris/infer"


@dataclass
class World:
    """One populated embedded hub, the catalog app over it and a model server."""

    home: Path
    hub: Any
    api: CatalogClient
    server: Any
    files: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "DHUB_HOME": str(self.home / "hub"),
            "DHUB_CATALOG_URL": f"sqlite:///{self.home / 'hub' / 'c.sqlite'}",
            "DHUB_STORE_URL": str(self.home / "hub" / "store"),
        }

    def written(self) -> tuple[Snapshot, frozenset[str]]:
        models = frozenset(str(p) for p in (self.home / "models").rglob("*"))
        return Snapshot.of(self.home / "hub" / "c.sqlite", self.home / "hub" / "store"), models


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("bad-input")
    files = home / "files"
    files.mkdir()
    write(files / "dup.csv", "a,a\n1,2\n")
    write(files / "ok.csv", "id,name,score\n9,omega,1.0\n")
    write(files / "suite.json", "{not json")
    with make_hub(home / "hub") as hub:
        populate(hub, home / "data")
        server = iris_app(home / "models")
        with open_catalog(hub) as api:
            yield World(home, hub, api, server, files)


#: An outcome: the status it got (exit code, exception class name or HTTP status) and
#: its message.
Outcome = tuple[Any, str]


def cli(*argv: str) -> Callable[[World], Outcome]:
    """``dhub ARGV`` in this process (a subprocess per row would cost a second each)."""

    def run(world: World) -> Outcome:
        from digitalhub_airflow.cli.main import main

        args = [arg.format(files=world.files) for arg in argv]
        stderr = io.StringIO()
        with (
            mock.patch.dict(os.environ, world.env),
            contextlib.redirect_stderr(stderr),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            try:
                code = main(args)
            except SystemExit as exit_:
                code = exit_.code
        text = stderr.getvalue()
        assert text.count("\n") == 1 and "Traceback" not in text, text
        return code, text.strip()

    return run


#: The identity of a task instance, all an operator's ``perform`` reads of its context.
TASK_INSTANCE = SimpleNamespace(
    dag_id="bad_input", task_id="t", run_id="manual__2026-01-01", try_number=1, map_index=-1
)


def operator(make: Callable[[World], Any]) -> Callable[[World], Outcome]:
    """An operator's work (``perform``) on the hub the environment names, as a task runs it."""

    def run(world: World) -> Outcome:
        with mock.patch.dict(os.environ, world.env):
            try:  # refused when the DAG file is parsed, or when the task runs
                make(world).perform({"ti": TASK_INSTANCE})
            except DhubError as exc:
                return type(exc).__name__, str(exc)
        raise AssertionError("the operator accepted the bad input")

    return run


def api(
    method: str, path: str, user: str | None = "op", **kwargs: Any
) -> Callable[[World], Outcome]:
    def run(world: World) -> Outcome:
        response = world.api.request(method, path, as_user=user, **kwargs)
        body = response.json()
        detail = body["detail"]
        return response.status_code, detail if isinstance(detail, str) else json.dumps(detail)

    return run


def server(
    path: str, body: bytes | str, content_type: str = "application/json"
) -> Callable[[World], Outcome]:
    def run(world: World) -> Outcome:
        data = body.encode() if isinstance(body, str) else body
        headers = {"content-type": content_type, "model": "iris"}
        response = asgi_call(world.server, "POST", path, data, headers=headers)
        error = response.json()["error"]
        assert "\n" not in error
        return response.status, error

    return run


def sql(query: str) -> Callable[[World], Outcome]:
    """A SQL transform's query, through the operator that commits its result."""

    def make(world: World) -> Any:
        from digitalhub_airflow.operators.transform import SqlTransformOperator

        return SqlTransformOperator(task_id="q", query=query, target="demo/out")

    return operator(make)


def infer(*inputs: dict[str, Any]) -> str:
    return json.dumps({"inputs": list(inputs)})


def iris_input(**override: Any) -> dict[str, Any]:
    base = {"name": "sepal_length", "shape": [1], "datatype": "FP64", "data": [5.1]}
    return {**base, **override}


IRIS_COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def iris(**override: Any) -> str:
    return infer(*[{**iris_input(name=c), **override} for c in IRIS_COLUMNS])


def _commit(target: str, source: str, **kwargs: Any) -> Callable[[World], Any]:
    def make(world: World) -> Any:
        from digitalhub_airflow.operators.commit import CommitDatasetOperator

        return CommitDatasetOperator(
            task_id="c", target=target, source=source.format(files=world.files), **kwargs
        )

    return make


def _tag(key: str, alias: str) -> Callable[[World], Any]:
    def make(world: World) -> Any:
        from digitalhub_airflow.operators.tag import TagDatasetOperator

        return TagDatasetOperator(task_id="t", key=key, alias=alias)

    return make


def _validate(dataset: str, suite: str) -> Callable[[World], Any]:
    def make(world: World) -> Any:
        from digitalhub_airflow.operators.quality import ValidateDatasetOperator

        return ValidateDatasetOperator(
            task_id="v", dataset=dataset, suite=suite.format(files=world.files)
        )

    return make


def _compare(reference: str, current: str) -> Callable[[World], Any]:
    def make(world: World) -> Any:
        from digitalhub_airflow.operators.quality import CompareProfilesOperator

        return CompareProfilesOperator(task_id="d", reference=reference, current=current)

    return make


DEEP = '{"version": ' + "[" * (MAX_JSON_DEPTH + 5) + "]" * (MAX_JSON_DEPTH + 5) + "}"
DEEP_INFER = '{"inputs": ' + "[" * 5_000 + "]" * 5_000 + "}"

#: (id, entry point call, expected status, pattern the message must match)
CASES: list[tuple[str, Callable[[World], Outcome], Any, str]] = [
    # -- the CLI ----------------------------------------------------------------------
    ("cli-unknown-dataset", cli("show", "demo/nope"), 3, r"dataset .*demo/.*nope does not exist"),
    ("cli-unknown-project", cli("log", "store://zz/dataitem/table/w"), 3, r"does not exist"),
    ("cli-invalid-key", cli("show", "store://demo/dataitem/table/Bad Name"), 2, r"invalid|name"),
    ("cli-unknown-kind", cli("show", "store://demo/dataitem/blob/wine"), 2, r"kind"),
    ("cli-unknown-version", cli("show", "demo/wine:v99"), 3, r"v99"),
    ("cli-unknown-alias", cli("show", "demo/wine@nope"), 3, r"alias .*nope"),
    ("cli-log-n-zero", cli("log", "demo/wine", "-n", "0"), 2, r"-n.*at least 1|>= ?1|positive"),
    ("cli-log-n-negative", cli("log", "demo/wine", "-n", "-5"), 2, r"-5"),
    ("cli-log-n-text", cli("log", "demo/wine", "-n", "ten"), 2, r"ten"),
    ("cli-tag-latest", cli("tag", "demo/wine:v1", "latest"), 2, r"latest.*moved by commits only"),
    ("cli-tag-bad-alias", cli("tag", "demo/wine:v1", "no spaces"), 2, r"alias"),
    ("cli-commit-missing", cli("commit", "demo/wine", "{files}/absent.csv"), 4, r"absent\.csv"),
    (
        "cli-commit-dup-cols",
        cli("commit", "demo/dup", "{files}/dup.csv"),
        4,
        r"duplicate column name .a.",
    ),
    ("cli-commit-bad-name", cli("commit", "demo/Bad Name", "{files}/ok.csv"), 2, r"name"),
    (
        "cli-commit-stale-parent",
        cli("commit", "demo/wine", "{files}/ok.csv", "--parent", "0" * 16),
        6,
        r"moved on: latest is v3 .*not 0{16}",
    ),
    (
        "cli-commit-bad-policy",
        cli("commit", "demo/wine", "{files}/ok.csv", "--schema-policy", "x"),
        2,
        r"schema-policy",
    ),
    (
        "cli-commit-bad-encoding",
        cli("commit", "demo/enc", "{files}/ok.csv", "--encoding", "nope-8"),
        4,
        r"unknown text encoding .nope-8.",
    ),
    ("cli-gc-bad-grace", cli("gc", "--grace", "soon"), 2, r"soon.*duration"),
    ("cli-query-delete", cli("query", f"DELETE FROM ds('{WINE}')"), 20, r"only SELECT.*DELETE"),
    (
        "cli-query-parse",
        cli("query", f"SELEC * FROM ds('{WINE}')"),
        20,
        r"does not parse.*character",
    ),
    ("cli-query-no-dataset", cli("query", "SELECT 1"), 20, r"reads no dataset"),
    (
        "cli-query-file",
        cli("query", f"SELECT * FROM ds('{WINE}'), read_csv('/etc/passwd')"),
        20,
        r"may only read.*/etc/passwd",
    ),
    ("cli-query-limit", cli("query", f"SELECT * FROM ds('{WINE}')", "--limit", "-1"), 2, r"-1"),
    (
        "cli-validate-no-suite",
        cli("validate", "demo/wine", "--suite", "{files}/absent.json"),
        10,
        r"absent\.json.*cannot be read",
    ),
    ("cli-drift-unknown", cli("drift", "demo/wine:v1", "demo/wine:v9"), 3, r"v9"),
    ("cli-release-not-quarantined", cli("release", "demo/wine:v1"), 6, r"is not quarantined"),
    ("cli-unknown-command", cli("frobnicate"), 2, r"invalid choice.*frobnicate"),
    # -- the operators -----------------------------------------------------------------
    (
        "op-commit-missing",
        operator(_commit("demo/wine", "{files}/absent.csv")),
        "InvalidSourceError",
        r"absent\.csv",
    ),
    (
        "op-commit-dup-cols",
        operator(_commit("demo/dup", "{files}/dup.csv")),
        "UnreadableTableError",
        r"duplicate",
    ),
    (
        "op-commit-bad-target",
        operator(_commit("demo/Bad Name", "{files}/ok.csv")),
        "InvalidKeyError",
        r"name .Bad Name. has uppercase",
    ),
    (
        "op-commit-kind-mismatch",
        operator(_commit(WINE, "{files}/ok.csv", kind="model")),
        "InvalidSourceError",
        r"kind must be .table. or .files., not .model.",
    ),
    ("op-tag-unknown", operator(_tag(f"{WINE}:v99", "prod")), "NotFoundError", r"v99"),
    ("op-tag-latest", operator(_tag(f"{WINE}:v1", "latest")), "InvalidKeyError", r"latest"),
    (
        "op-validate-no-suite",
        operator(_validate(f"{WINE}:v1", "{files}/absent.json")),
        "SuiteError",
        r"absent\.json.*cannot be read",
    ),
    (
        "op-validate-bad-suite",
        operator(_validate(f"{WINE}:v1", "{files}/suite.json")),
        "SuiteError",
        r"suite\.json.*not valid json",
    ),
    (
        "op-compare-unknown",
        operator(_compare(f"{WINE}:v1", f"{WINE}:v42")),
        "NotFoundError",
        r"v42",
    ),
    # -- SQL (the SQL transform operator) --------------------------------------------------
    ("sql-delete", sql(f"DELETE FROM ds('{WINE}')"), "QueryError", r"only SELECT"),
    (
        "sql-two-statements",
        sql(f"SELECT * FROM ds('{WINE}'); SELECT 1"),
        "QueryError",
        r"2 statements",
    ),
    (
        "sql-copy",
        sql(f"COPY (SELECT * FROM ds('{WINE}')) TO '/tmp/x.csv'"),
        "QueryError",
        r"only SELECT",
    ),
    (
        "sql-attach",
        sql(f"ATTACH '/tmp/x.db'; SELECT * FROM ds('{WINE}')"),
        "QueryError",
        r"statements",
    ),
    (
        "sql-read-file",
        sql(f"SELECT * FROM ds('{WINE}'), read_parquet('/etc/x')"),
        "QueryError",
        r"may only read",
    ),
    (
        "sql-install",
        sql(f"SELECT * FROM ds('{WINE}'); INSTALL httpfs"),
        "QueryError",
        r"statements",
    ),
    ("sql-set", sql(f"SET threads = 1; SELECT * FROM ds('{WINE}')"), "QueryError", r"statements"),
    ("sql-unknown-column", sql(f"SELECT nope FROM ds('{WINE}')"), "QueryError", r"nope"),
    (
        "sql-unknown-dataset",
        sql("SELECT * FROM ds('store://demo/dataitem/table/absent')"),
        "NotFoundError",
        r"absent",
    ),
    ("sql-parse", sql(f"SELEC * FROM ds('{WINE}')"), "QueryError", r"character 1"),
    ("sql-no-dataset", sql("SELECT 42"), "QueryError", r"reads no dataset"),
    ("sql-empty", sql("   "), "QueryError", r"empty"),
    (
        "sql-huge",
        sql(f"SELECT * FROM ds('{WINE}') -- " + "x" * 100_001),
        "QueryError",
        r"characters long",
    ),
    # -- the REST API -------------------------------------------------------------------
    (
        "api-no-credentials",
        api("GET", "/dhub/api/v1/projects", user=None),
        401,
        r"[Nn]ot authenticated|credentials",
    ),
    (
        "api-viewer-writes",
        api("PUT", f"{DATASET_API}/aliases/staging", user="viewer", json={"version": "v1"}),
        403,
        r"viewer.*may not change",
    ),
    (
        "api-no-role-reads",
        api("GET", "/dhub/api/v1/projects", user="nobody"),
        403,
        r"nobody.*may not read",
    ),
    ("api-unknown-dataset", api("GET", "/dhub/api/v1/datasets/demo/table/nope"), 404, r"nope"),
    ("api-unknown-version", api("GET", f"{DATASET_API}/versions/v99"), 404, r"v99"),
    ("api-bad-kind", api("GET", "/dhub/api/v1/datasets/demo/blob/wine"), 400, r"kind"),
    (
        "api-alias-unknown-version",
        api("PUT", f"{DATASET_API}/aliases/staging", json={"version": "v99"}),
        404,
        r"v99",
    ),
    (
        "api-alias-latest",
        api("PUT", f"{DATASET_API}/aliases/latest", json={"version": "v1"}),
        400,
        r"latest",
    ),
    (
        "api-alias-bad-name",
        api("PUT", f"{DATASET_API}/aliases/no%20spaces", json={"version": "v1"}),
        400,
        r"alias",
    ),
    (
        "api-alias-no-body",
        api("PUT", f"{DATASET_API}/aliases/staging"),
        400,
        r"version: Field required",
    ),
    (
        "api-alias-wrong-type",
        api("PUT", f"{DATASET_API}/aliases/staging", json={"version": [1]}),
        400,
        r"version: Input should be a valid string",
    ),
    (
        "api-alias-deep-json",
        api(
            "PUT",
            f"{DATASET_API}/aliases/staging",
            content=DEEP,
            headers={"content-type": "application/json"},
        ),
        400,
        r"deep|depth|nest|valid string",
    ),
    (
        "api-release-not-quarantined",
        api("POST", f"{DATASET_API}/versions/v1/release"),
        409,
        r"quarantine",
    ),
    (
        "api-traversal",
        api("GET", "/dhub/api/v1/datasets/..%2F..%2Fetc/table/passwd"),
        404,
        r"Not Found",
    ),
    (
        "api-preview-bad-limit",
        api("GET", f"{DATASET_API}/versions/v1/preview?rows=0"),
        400,
        r"rows.*greater",
    ),
    # -- the model server ---------------------------------------------------------------
    ("srv-unknown-model", server("/v2/models/nope/infer", iris()), 404, r"nope"),
    ("srv-not-json", server(INFER, "not json"), 400, r"JSON"),
    ("srv-deep-json", server(INFER, DEEP_INFER), 400, r"deep|depth|nest"),
    ("srv-no-inputs", server(INFER, "{}"), 400, r"inputs"),
    ("srv-missing-column", server(INFER, infer(iris_input())), 400, r"sepal_width|missing"),
    ("srv-bad-datatype", server(INFER, iris(datatype="FP128")), 400, r"FP128"),
    ("srv-shape-mismatch", server(INFER, iris(shape=[3])), 400, r"shape"),
    (
        "srv-string-for-number",
        server(INFER, iris(datatype="BYTES", data=["x"])),
        400,
        r"BYTES|float|numeric|x",
    ),
    (
        "srv-lossy-cast",
        server(INFER, iris(datatype="FP64", data=[1e400])),
        400,
        r"JSON|finite|number|inf",
    ),
    (
        "srv-invocations-bad-csv",
        server("/invocations", "a,b\n1", content_type="text/csv"),
        400,
        r"missing input.*unknown input\(s\) a, b",
    ),
    (
        "srv-invocations-unknown-format",
        server("/invocations", '{"rows": []}'),
        400,
        r"dataframe_split|instances|inputs",
    ),
    (
        "srv-invocations-content-type",
        server("/invocations", "x", content_type="image/png"),
        415,
        r"image/png",
    ),
]


@pytest.mark.parametrize(("case", "call", "status", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly_and_writes_nothing(
    world: World, case: str, call: Callable[[World], Outcome], status: Any, pattern: str
) -> None:
    before = world.written()
    got_status, message = call(world)
    assert (got_status, bool(re.search(pattern, message))) == (status, True), message
    assert "\n" not in message and "Traceback" not in message
    after = world.written()
    changed = {
        table: sorted(set(after[0].catalog[table]) ^ set(rows))
        for table, rows in before[0].catalog.items()
        if after[0].catalog.get(table) != rows
    }
    assert not changed, changed
    assert after == before, (after[0].store ^ before[0].store, after[1] ^ before[1])


def test_the_table_covers_every_entry_point_with_at_least_sixty_inputs() -> None:
    surfaces = {case.split("-")[0] for case, *_ in CASES}
    assert surfaces == {"cli", "op", "sql", "api", "srv"}
    assert len(CASES) >= 60 and len({case for case, *_ in CASES}) == len(CASES)
