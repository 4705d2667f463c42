"""The data service as a plain ASGI app: ``/v1/rows`` (REST), ``/v1/graphql``, the
OpenAPI document, health and ``/metrics``, like the model server beside it.

Errors have PostgREST's shape, ``{"code", "message", "details", "hint"}``, with a 4xx
for anything a client sent: the query string and the GraphQL body are bounded in size
(and the body in JSON depth) before they are parsed. A 500 is only a server fault: its
body names a request id (also ``x-request-id``), the traceback is logged with it, and
the exception's text never reaches the client. Queries run in worker threads, each on
a DuckDB cursor of its own, so the event loop keeps accepting while one sorts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from digitalhub_airflow.dataservice.cursor import Cursor
from digitalhub_airflow.dataservice.graphql import Page, build_schema, is_fault
from digitalhub_airflow.dataservice.negotiation import JSON, choose, encode, to_json_rows
from digitalhub_airflow.dataservice.openapi import document
from digitalhub_airflow.dataservice.request import RowRequest, build_sql, parse_request
from digitalhub_airflow.errors import DataRequestError
from digitalhub_airflow.json_limits import MAX_JSON_DEPTH, json_depth
from digitalhub_airflow.serving.runtime.asgi import (
    Receive,
    Scope,
    Send,
    respond,
    respond_server_fault,
)
from digitalhub_airflow.serving.runtime.metrics import ServingMetrics

if TYPE_CHECKING:
    import pyarrow as pa

    from digitalhub_airflow.dataservice.versions import LoadedVersion, ServedDataset

log = logging.getLogger(__name__)


def _fault_body(request_id: str) -> bytes:
    return error_json("PGRST000", "internal error", request_id=request_id)


MAX_QUERY_STRING = 8192
MAX_QUERY_FIELDS = 64
MAX_GRAPHQL_BYTES = 256 * 1024
HEALTH = {"/v2/health/live", "/v2/health/ready", "/health"}


def error_json(code: str, message: str, **extra: Any) -> bytes:
    """PostgREST's error object."""
    return json.dumps(
        {"code": code, "message": message, "details": None, "hint": None, **extra}
    ).encode()


class DataServiceApp:
    def __init__(self, dataset: ServedDataset, name: str) -> None:
        self.dataset = dataset
        self.name = name
        self.metrics = ServingMetrics()
        self.load_error: str | None = None
        self._graphql: tuple[str, Any] | None = None  # (schema digest, strawberry schema)

    # -- lifecycle -----------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await asyncio.to_thread(self.dataset.start)
                except Exception as exc:  # a wrong key, a quarantined version: do not serve
                    log.exception("the data service cannot start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.dataset.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- ASGI entry ------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        protocol, rows = "other", 0
        try:
            if path == "/v1/rows":
                protocol = "rest"
                _require(method, ("GET",))
                rows = await self._rows(scope, send)
            elif path == "/v1/graphql":
                protocol = "graphql"
                _require(method, ("POST",))
                rows = await self._graphql_request(scope, receive, send)
            else:
                await self._plain_route(method, path, send)
                return
        except DataRequestError as exc:
            status = exc.status
            self.metrics.error(self.name, exc.code)
            await respond(send, status, error_json(exc.code, str(exc)))
        except Exception:
            status = 500
            self.metrics.error(self.name, "internal")
            await respond_server_fault(send, method, path, _fault_body, log)
        else:
            status = 200
        self.metrics.observe(self.name, protocol, status, time.perf_counter() - started, rows)

    async def _plain_route(self, method: str, path: str, send: Send) -> None:
        if method != "GET":
            await respond(send, 405, error_json("PGRST117", f"{method} is not allowed on {path}"))
        elif path in HEALTH:
            ready = path == "/v2/health/live" or self.dataset.ready
            await respond(send, 200 if ready else 503, json.dumps({"ready": ready}).encode())
        elif path == "/metrics":
            text, content_type = self.metrics.render()
            await respond(send, 200, text, content_type.encode())
        elif path in ("/", "/v1/openapi.json"):
            loaded = self.dataset.current
            body = document(
                loaded.schema, f"{self.name}: {loaded.info.dataset}", loaded.info.version_id
            )
            await respond(send, 200, json.dumps(body).encode(), headers=[(b"etag", _etag(loaded))])
        else:
            await respond(send, 404, error_json("PGRST125", f"no route {path}"))

    # -- REST ------------------------------------------------------------------------------
    async def _rows(self, scope: Scope, send: Send) -> int:
        params = _query_params(scope)
        headers = _headers(scope)
        media = choose(headers.get("accept"))
        request = parse_request(params)
        loaded = self._version_of(request)
        if headers.get("if-none-match", "").strip() in (_etag(loaded).decode(), "*"):
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [(b"etag", _etag(loaded))],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return 0
        table, next_cursor = await asyncio.to_thread(self.read, request, loaded)
        body = await asyncio.to_thread(encode, table, media)
        extra = [
            (b"etag", _etag(loaded)),
            (b"x-dataset-version", loaded.info.key.encode()),
            (b"content-range", _content_range(request.offset, table.num_rows).encode()),
        ]
        if next_cursor is not None:
            link = f'</v1/rows?{_without_cursor(params)}cursor={quote(next_cursor)}>; rel="next"'
            extra += [(b"x-next-cursor", next_cursor.encode()), (b"link", link.encode())]
        await respond(send, 200, body, media.encode(), headers=extra)
        return int(table.num_rows)

    def _version_of(self, request: RowRequest) -> LoadedVersion:
        if request.cursor is None:
            return self.dataset.current
        return self.dataset.version(request.cursor.version_id)

    def read(self, request: RowRequest, loaded: LoadedVersion) -> tuple[pa.Table, str | None]:
        """One page of ``loaded`` and the cursor of the next (None on the last page)."""
        sql, values = build_sql(request, loaded.schema)
        table = loaded.run(sql, values)
        if table.num_rows <= request.limit:  # one row more was asked: is there a next page?
            return table, None
        table = table.slice(0, request.limit)
        after = Cursor(loaded.info.version_id, request.offset + table.num_rows, request.fingerprint)
        return table, after.encode()

    # -- GraphQL ---------------------------------------------------------------------------
    def _schema(self) -> Any:
        """The GraphQL schema of the current version (rebuilt when its schema changes)."""
        loaded = self.dataset.current
        digest = loaded.info.schema_digest or loaded.info.version_id
        if self._graphql is None or self._graphql[0] != digest:
            self._graphql = (digest, build_schema(loaded.schema, self._page))
        return self._graphql[1]

    def _page(self, request: RowRequest) -> Page:
        loaded = self._version_of(request)
        table, next_cursor = self.read(request, loaded)
        return Page(to_json_rows(table), loaded.info.key, next_cursor)

    async def _graphql_request(self, scope: Scope, receive: Receive, send: Send) -> int:
        body = await _body(scope, receive, MAX_GRAPHQL_BYTES)
        if json_depth(body) > MAX_JSON_DEPTH:
            raise DataRequestError(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataRequestError(f"the body is not JSON: {exc}", code="PGRST102") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise DataRequestError('a GraphQL body is {"query": "...", "variables": {...}}')
        variables = payload.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise DataRequestError("GraphQL variables must be an object")
        operation = payload.get("operationName")
        schema = self._schema()
        result = await asyncio.to_thread(
            schema.execute_sync,
            payload["query"],
            variable_values=variables,
            operation_name=operation if isinstance(operation, str) else None,
        )
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [_graphql_error(e) for e in result.errors]
        await respond(send, 200, json.dumps(answer, default=str).encode(), JSON.encode())
        return _count_rows(result.data)


def _graphql_error(error: Any) -> dict[str, Any]:
    """A refusal as GraphQL formats it; a fault as ``internal error`` and a request id,
    its traceback logged (its text never reaches the client)."""
    if not is_fault(error):
        return dict(error.formatted)
    request_id = uuid.uuid4().hex
    log.error("request %s: GraphQL resolver failed", request_id, exc_info=error.original_error)
    return {"message": "internal error", "request_id": request_id, "path": error.path}


def _require(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise DataRequestError(f"use {' or '.join(allowed)} here, not {method}", 405, "PGRST117")


def _etag(loaded: LoadedVersion) -> bytes:
    return f'"{loaded.info.version_id}"'.encode()


def _content_range(offset: int, rows: int) -> str:
    return f"{offset}-{offset + rows - 1}/*" if rows else "*/*"


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _query_params(scope: Scope) -> list[tuple[str, str]]:
    raw: bytes = scope.get("query_string", b"")
    if len(raw) > MAX_QUERY_STRING:
        raise DataRequestError(
            f"the query string is {len(raw)} bytes; at most {MAX_QUERY_STRING}", 414, "PGRST100"
        )
    try:
        return parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataRequestError(f"the query string is malformed: {exc}") from None


def _without_cursor(params: list[tuple[str, str]]) -> str:
    from urllib.parse import urlencode

    kept = urlencode([(k, v) for k, v in params if k != "cursor"])
    return f"{kept}&" if kept else ""


async def _body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for header, value in scope["headers"]:
        if header == b"content-length" and (not value.isdigit() or int(value) > limit):
            raise DataRequestError(f"the body is larger than {limit} bytes", 413, "PGRST413")
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise DataRequestError(f"the body is larger than {limit} bytes", 413, "PGRST413")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _count_rows(data: Any) -> int:
    page = data.get("rows") if isinstance(data, dict) else None
    rows = page.get("rows") if isinstance(page, dict) else None
    return len(rows) if isinstance(rows, list) else 0
