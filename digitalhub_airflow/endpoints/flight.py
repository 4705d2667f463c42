"""Arrow Flight for bulk reads: a stock ``pyarrow.flight`` client reads a version or a
query result as record batches.

A ticket is JSON: ``{"project": "demo", "table": "wine:v2"}`` (any table name the SQL
endpoint takes) or ``{"project": "demo", "sql": "SELECT …"}``; ``get_flight_info`` takes
the same JSON as a command descriptor. Clients authenticate with basic auth (user, token)
, which answers with a bearer token, or send ``authorization: Bearer <token>`` on every
call; the session, checks and sandbox are the SQL endpoint's (:class:`SqlSession`).
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pyarrow.flight as fl

from digitalhub_airflow.access import Principal
from digitalhub_airflow.endpoints.identity import authenticate
from digitalhub_airflow.endpoints.operational import OperationalTables
from digitalhub_airflow.endpoints.session import SqlError, SqlSession, TableCache
from digitalhub_airflow.errors import (
    AuthenticationError,
    DhubError,
    PermissionDeniedError,
)
from digitalhub_airflow.keys import validate_name

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

MAX_TICKET_BYTES = 100_000
TICKET_FORM = 'a ticket is {"project": …, "table": …} or {"project": …, "sql": …}'


class _TokenAuth(fl.ServerMiddlewareFactory):  # type: ignore[misc]
    """Every call names its user: basic auth (user, token) or a bearer token."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def start_call(self, info: Any, headers: dict[str, list[str]]) -> _Caller:
        values = headers.get("authorization") or headers.get("Authorization") or []
        if not values:
            raise fl.FlightUnauthenticatedError("no credentials: send basic auth or a bearer token")
        scheme, _, credential = values[0].partition(" ")
        try:
            if scheme.lower() == "bearer":
                principal = authenticate(None, credential, self.secret)
                return _Caller(principal, credential)
            if scheme.lower() == "basic":
                user, _, token = base64.b64decode(credential).decode().partition(":")
                return _Caller(authenticate(user, token, self.secret), token)
        except (AuthenticationError, ValueError) as exc:
            raise fl.FlightUnauthenticatedError(f"[28P01] {exc}") from exc
        raise fl.FlightUnauthenticatedError(f"authorization scheme {scheme!r} is not supported")


class _Caller(fl.ServerMiddleware):  # type: ignore[misc]
    def __init__(self, principal: Principal, token: str) -> None:
        self.principal, self.token = principal, token

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


class _Handshake(fl.ServerAuthHandler):  # type: ignore[misc]
    """Lets ``authenticate_basic_token``'s handshake through: the middleware has
    already checked its credentials and answers with the bearer token."""

    def authenticate(self, outgoing: Any, incoming: Any) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        return ""


class FlightServer(fl.FlightServerBase):  # type: ignore[misc]
    """``dhub flight-server``: do_get streams a ticket's table or query result; the
    operational tables are ``DHUB_SQL_OPERATIONAL``'s unless given."""

    def __init__(
        self,
        location: str,
        hub: DataHub,
        secret: bytes,
        cache: TableCache,
        operational: OperationalTables | None = None,
        **options: Any,
    ) -> None:
        self.operational = operational or OperationalTables.from_environment()
        super().__init__(
            location, auth_handler=_Handshake(), middleware={"auth": _TokenAuth(secret)}, **options
        )
        self.hub, self.cache = hub, cache

    def _request(self, context: Any, raw: bytes) -> tuple[SqlSession, str]:
        """The session and the SQL a ticket or command asks for; refused errors map to
        Flight's statuses with the SQLSTATE in brackets."""
        caller: _Caller = context.get_middleware("auth")
        if len(raw) > MAX_TICKET_BYTES:
            raise fl.FlightServerError(f"[54000] ticket is over {MAX_TICKET_BYTES} bytes")
        try:
            request = json.loads(raw)
            project = validate_name(str(request["project"]), "project")
            table, sql = request.get("table"), request.get("sql")
            if not isinstance(table or sql, str) or (table and sql):
                raise ValueError("give exactly one of 'table' and 'sql'")
        except (ValueError, KeyError, TypeError, DhubError) as exc:
            raise fl.FlightServerError(f"[22023] {TICKET_FORM}: {exc}") from exc
        try:
            session = SqlSession(self.hub, caller.principal, project, self.cache, self.operational)
        except PermissionDeniedError as exc:
            raise fl.FlightUnauthorizedError(f"[42501] {exc}") from exc
        if table:
            return session, 'SELECT * FROM "' + str(table).replace('"', '""') + '"'
        return session, str(sql)

    def _run(self, context: Any, raw: bytes) -> Any:
        session, sql = self._request(context, raw)
        try:
            reader = session.execute(sql)
            if reader is None:
                raise SqlError("the ticket's statement returns no rows", "42601")
            return reader, session
        except PermissionDeniedError as exc:
            session.close()
            raise fl.FlightUnauthorizedError(f"[42501] {exc}") from exc
        except DhubError as exc:
            session.close()
            state = getattr(exc, "sqlstate", "42000")
            raise fl.FlightServerError(f"[{state}] {exc}") from exc

    def do_get(self, context: Any, ticket: Any) -> Any:
        reader, _session = self._run(context, ticket.ticket)
        return fl.RecordBatchStream(reader)

    def get_flight_info(self, context: Any, descriptor: Any) -> Any:
        reader, session = self._run(context, descriptor.command)
        schema = reader.schema
        session.close()
        endpoint = fl.FlightEndpoint(descriptor.command, [])
        return fl.FlightInfo(schema, descriptor, [endpoint], -1, -1)
