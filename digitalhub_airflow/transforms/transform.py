"""Idempotent transformations: pinned inputs, a cache keyed on what determines the output.

A transform's output is a function of its input versions, its code and its parameters.
Inputs are pinned to exact versions once, when the run starts; if the same (inputs,
code digest, parameters, output dataset) already produced a version, that version is
returned without running anything, and the run records the cache hit.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.catalog.models import utcnow
from digitalhub_airflow.datasets.versions import VersionInfo
from digitalhub_airflow.errors import InvalidSourceError, NotFoundError, TransformError
from digitalhub_airflow.keys import as_dataset_key, as_key
from digitalhub_airflow.lineage.producing import ProducingRun, producing
from digitalhub_airflow.lineage.runs import (
    FAILED,
    SUCCESS,
    RunOutcome,
    RunSpec,
    digest_text,
    find_cached,
    finish_run,
    start_run,
)
from digitalhub_airflow.query.sql import referenced_keys, run_query

if TYPE_CHECKING:
    from digitalhub_airflow.access import Principal

PYTHON, SQL = "python", "sql"


@dataclass
class Transform:
    """What to compute: a Python function over named inputs, or a SQL query."""

    output: str
    kind: str = PYTHON
    inputs: dict[str, str] = field(default_factory=dict)
    function: Callable[..., Any] | None = None
    query: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def __post_init__(self) -> None:
        as_dataset_key(self.output)  # validates the target early
        if self.kind == SQL:
            self.inputs = {key: key for key in referenced_keys(self.query or "")}
        elif self.kind == PYTHON:
            if not callable(self.function):
                raise TransformError("a Python transform needs a callable function")
            if not self.inputs:
                raise TransformError("a Python transform needs at least one input")
            clash = set(self.inputs) & set(self.parameters)
            if clash:
                raise TransformError(f"names used both as input and parameter: {sorted(clash)}")
        else:
            raise TransformError(f"transform kind must be {PYTHON!r} or {SQL!r}, not {self.kind!r}")

    def code(self) -> tuple[str, str]:
        """(reference, digest): ``module:qualname`` and the source digest, or the query's."""
        if self.kind == SQL:
            return "sql", digest_text(" ".join((self.query or "").split()))
        func = self.function
        reference = f"{func.__module__}:{func.__qualname__}"  # type: ignore[union-attr]
        try:
            source = textwrap.dedent(inspect.getsource(func))  # type: ignore[arg-type]
        except (OSError, TypeError):
            source = reference  # built-in or generated code: the name is all we can pin
        return reference, digest_text(source)


@dataclass
class TransformResult:
    run: str
    output: VersionInfo
    inputs: dict[str, VersionInfo]
    cache_hit: bool
    created: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "output": self.output.to_json(),
            "inputs": {name: info.key for name, info in self.inputs.items()},
            "cache_hit": self.cache_hit,
            "created": self.created,
        }


def pin_inputs(hub: Any, inputs: dict[str, str]) -> dict[str, VersionInfo]:
    """Resolve every input key (aliases, ``latest``) to one exact version, once."""
    return {name: hub.resolve(key) for name, key in inputs.items()}


def describe_transform(
    transform: Transform, pinned: dict[str, VersionInfo]
) -> tuple[dict[str, Any], str, str]:
    """(recorded transform, code digest, cache key) for pinned inputs."""
    reference, code_digest = transform.code()
    output = str(as_dataset_key(transform.output))
    recorded = {
        "kind": transform.kind,
        "function": reference if transform.kind == PYTHON else None,
        "source_file": source_file(transform.function) if transform.kind == PYTHON else None,
        "query": transform.query,
        "inputs": {name: info.key for name, info in pinned.items()},
        "output": output,
        "parameters": transform.parameters,
    }
    cache_key = digest_text(
        json.dumps(recorded["inputs"], sort_keys=True),
        code_digest,
        json.dumps(transform.parameters, sort_keys=True, default=repr),
        output,
    )
    return recorded, code_digest, cache_key


def checked_sql_inputs(
    hub: Any, transform: Transform, pinned: dict[str, VersionInfo]
) -> dict[str, Any]:
    """A SQL transform's input tables, read once, after its query ran on zero rows of
    each: a query that cannot run (a write, a file function, an unknown column) is
    refused here, before the run is recorded, so bad input writes nothing."""
    tables = {name: hub.read_table(info.key) for name, info in pinned.items()}
    run_query(transform.query or "", {name: table.slice(0, 0) for name, table in tables.items()})
    return tables


def compute(
    hub: Any,
    transform: Transform,
    pinned: dict[str, VersionInfo],
    tables: dict[str, Any] | None = None,
) -> Any:
    """Run the transform on the pinned versions; returns the output table (not committed).
    ``tables``: a SQL transform's inputs when already read."""
    if transform.kind == SQL:
        if tables is None:
            tables = {name: hub.read_table(info.key) for name, info in pinned.items()}
        return run_query(transform.query or "", tables)
    frames = {name: hub.read_table(info.key).to_pandas() for name, info in pinned.items()}
    func = transform.function
    try:
        return func(**frames, **transform.parameters)  # type: ignore[misc]
    except Exception as exc:
        name = getattr(func, "__qualname__", "function")
        raise TransformError(f"transform {name} raised {type(exc).__name__}: {exc}") from exc


def run_transform(
    hub: Any,
    transform: Transform,
    spec: RunSpec,
    pinned: dict[str, VersionInfo] | None = None,
    reader: Principal | None = None,
) -> TransformResult:
    """Pin (unless the caller did), look up the cache, compute and commit.

    ``reader``: who runs it (a pipeline); reading another project than the output's then
    needs a read grant there to the output's project (``project:<name>``). A refused
    read, or a SQL query that cannot run, is refused before anything is recorded; past
    that the run is recorded either way: a failure leaves a ``failed`` run and no version.
    """
    pinned = pinned if pinned is not None else pin_inputs(hub, transform.inputs)
    if reader is not None:
        from digitalhub_airflow.access import require_reads

        projects = [as_key(info.key).project for info in pinned.values()]
        require_reads(hub.catalog, reader, projects, into=as_dataset_key(transform.output).project)
    recorded, spec.code_digest, spec.cache_key = describe_transform(transform, pinned)
    spec.transform = recorded
    spec.parameters = {**spec.parameters, **transform.parameters}
    input_keys = [info.key for info in pinned.values()]
    with hub.catalog.session() as session:
        cached = find_cached(session, spec.cache_key)
        reused = (cached.key, cached.output) if cached is not None and cached.output else None
    tables = None
    if reused is None and transform.kind == SQL:
        tables = checked_sql_inputs(hub, transform, pinned)
    run = ProducingRun(spec, utcnow())
    with hub.catalog.session() as session:
        run_key = start_run(session, spec, run.started_at)
    if reused is not None:
        output = reuse_output(hub, run_key, reused, input_keys)
        if output is not None:
            return TransformResult(run_key, output, pinned, cache_hit=True, created=False)
    try:
        data = compute(hub, transform, pinned, tables)
        if data is None:
            raise TransformError(f"transform {recorded['function'] or 'sql'} returned nothing")
        with producing(run):  # the version and its produced_by edge in one transaction
            result = hub.commit(recorded["output"], data, kind="table", message=transform.message)
    except Exception as exc:
        with hub.catalog.session() as session:
            error = f"{type(exc).__name__}: {exc}"
            finish_run(session, run_key, RunOutcome(FAILED, input_keys, error=error))
        raise
    with hub.catalog.session() as session:
        finish_run(session, run_key, RunOutcome(SUCCESS, input_keys, [result.key]))
    return TransformResult(run_key, result.version, pinned, False, result.created)


def reuse_output(
    hub: Any, run_key: str, reused: tuple[str, str], input_keys: list[str]
) -> VersionInfo | None:
    """Finish a cache hit: the earlier output becomes ``latest`` again, as re-committing
    the same content would make it; ``None`` if that version no longer resolves."""
    from digitalhub_airflow.datasets.commit import move_alias
    from digitalhub_airflow.datasets.versions import LATEST, find_dataset, resolve, to_info
    from digitalhub_airflow.settings import current_user

    reused_run, output_key = reused
    with hub.catalog.session() as session:
        key = as_key(output_key)
        try:
            version = resolve(session, key)
        except NotFoundError:
            return None
        find_dataset(session, key, lock=True)
        move_alias(session, version.dataset_id, LATEST, version.id, current_user())
        outcome = RunOutcome(SUCCESS, input_keys, [output_key], cache_hit=True)
        outcome.reused_run = reused_run
        finish_run(session, run_key, outcome)
        session.flush()
        return to_info(session, version)


def content_version_id(data: Any) -> str:
    """The version id ``data`` would get as a table version, without storing anything."""
    from digitalhub_airflow.datasets.commit import describe_source
    from digitalhub_airflow.datasets.manifest import FileEntry
    from digitalhub_airflow.datasets.sources import materialised
    from digitalhub_airflow.hashing import hash_file

    with materialised(data) as files:
        initial = {f.path: f.path.stat() for f in files}
        description = describe_source(files, "table", None, initial)
        entries = [FileEntry(f.relpath, initial[f.path].st_size, hash_file(f.path)) for f in files]
        return description.manifest(entries).version_id


def source_file(func: Any) -> str | None:
    try:
        return inspect.getsourcefile(func)
    except TypeError:
        return None


def import_function(reference: str, path: str | None = None) -> Callable[..., Any]:
    """The function a run recorded as ``module:qualname``.

    A function defined in a DAG file lives in a module Airflow named at parse time, which
    no later process can import by name: it is loaded again from its recorded file.
    """
    module_name, _, qualname = reference.partition(":")
    try:
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError:
            if not path:
                raise
            spec = importlib.util.spec_from_file_location(f"dhub_reproduce_{module_name}", path)
            if spec is None or spec.loader is None:
                raise
            target = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(target)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, OSError) as exc:
        raise TransformError(f"cannot import the recorded function {reference}: {exc}") from exc
    if not callable(target):
        raise InvalidSourceError(f"{reference} is not callable")
    function: Callable[..., Any] = getattr(target, "__wrapped__", target)
    return function
