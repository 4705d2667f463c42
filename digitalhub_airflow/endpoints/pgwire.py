"""The SQL endpoint: PostgreSQL's wire protocol over :class:`SqlSession`, on buenavista.

buenavista (0.5) speaks the protocol (startup, simple and extended queries) but
authenticates with a fixed md5 table, sends errors without a SQLSTATE and has no COPY.
Here its handler is extended: the password is a token checked with the platform's
secret (cleartext password exchange, as for PostgreSQL's LDAP/PAM methods: run it behind
TLS termination off localhost), the database is the project, every error carries its
SQLSTATE (28P01, 42501, 25006, 42P01 …), and ``COPY (query) TO STDOUT`` streams text or
CSV. ``psql``, ``psycopg`` and other libpq clients connect unchanged.
"""

from __future__ import annotations

import logging
import re
import struct
from typing import TYPE_CHECKING, Any

from buenavista.backends.duckdb import DuckDBQueryResult
from buenavista.core import BVType, Connection, QueryResult, Session
from buenavista.postgres import BuenaVistaHandler, BuenaVistaServer, BVBuffer, BVContext

from digitalhub_airflow.endpoints.identity import authenticate
from digitalhub_airflow.endpoints.operational import OperationalTables
from digitalhub_airflow.endpoints.session import SqlError, SqlSession, TableCache, sqlstate_of
from digitalhub_airflow.errors import AuthenticationError, DhubError

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

log = logging.getLogger(__name__)

#: Drivers (ADBC's) read the type catalog to decode binary results: answered from the
#: types this endpoint sends, not from DuckDB's partial pg_catalog.
PG_TYPE = re.compile(r"\bpg_catalog\.pg_type\b", re.IGNORECASE)
#: (oid, typname, typreceive, typsend) of every type a result column can have here.
PG_TYPES = [
    (16, "bool", "boolrecv", "boolsend"),
    (17, "bytea", "bytearecv", "byteasend"),
    (20, "int8", "int8recv", "int8send"),
    (21, "int2", "int2recv", "int2send"),
    (23, "int4", "int4recv", "int4send"),
    (25, "text", "textrecv", "textsend"),
    (114, "json", "json_recv", "json_send"),
    (700, "float4", "float4recv", "float4send"),
    (701, "float8", "float8recv", "float8send"),
    (1043, "varchar", "varcharrecv", "varcharsend"),
    (1082, "date", "date_recv", "date_send"),
    (1083, "time", "time_recv", "time_send"),
    (1114, "timestamp", "timestamp_recv", "timestamp_send"),
    (1184, "timestamptz", "timestamptz_recv", "timestamptz_send"),
    (1186, "interval", "interval_recv", "interval_send"),
    (1700, "numeric", "numeric_recv", "numeric_send"),
]
REGPROC_ZERO = re.compile(r"\b(typreceive|typsend)\s*(?:!=|<>)\s*0\b", re.IGNORECASE)
COPY_TO_STDOUT = re.compile(r"^\s*copy\s+(.+?)\s+to\s+stdout\b(.*)$", re.IGNORECASE | re.DOTALL)
#: Rows per CopyData message: whole rows only, so every client parses them as they come.
COPY_BATCH_ROWS = 65_536


class _Refused(Exception):
    """The connection ends after its error was sent (failed authentication)."""


class DhubSession(Session):  # type: ignore[misc]
    """buenavista's per-connection session; its SQL session opens after authentication."""

    def __init__(self) -> None:
        super().__init__()
        self.sql: SqlSession | None = None
        self.in_txn = False

    def close(self) -> None:
        if self.sql is not None:
            self.sql.close()

    def in_transaction(self) -> bool:
        return self.in_txn

    def execute_sql(self, sql: str, params: Any = None) -> QueryResult:
        if self.sql is None:
            raise AuthenticationError("not authenticated")
        if PG_TYPE.search(sql):
            return DuckDBQueryResult(_pg_type_answer(sql))
        result = self.sql.execute(sql, list(params) if params else None)
        if result is None:
            return DuckDBQueryResult(status=self._no_op(sql))
        return DuckDBQueryResult(result)

    def _no_op(self, sql: str) -> str:
        word = sql.strip().split(None, 1)[0].upper().rstrip(";") if sql.strip() else "SET"
        if word in ("BEGIN", "START"):
            self.in_txn = True
            return "BEGIN"
        if word in ("COMMIT", "END", "ROLLBACK", "ABORT"):
            self.in_txn = False
            return "ROLLBACK" if word in ("ROLLBACK", "ABORT") else "COMMIT"
        return "SET"


class DhubConnection(Connection):  # type: ignore[misc]
    def new_session(self) -> Session:
        return DhubSession()

    def parameters(self) -> dict[str, str]:
        return {
            "server_version": "16.0 (digitalhub, DuckDB)",
            "server_encoding": "UTF8",
            "client_encoding": "UTF8",
            "DateStyle": "ISO, MDY",
            "integer_datetimes": "on",
            "standard_conforming_strings": "on",
        }


class DhubHandler(BuenaVistaHandler):  # type: ignore[misc]
    server: SqlServer

    def send_auth_request(self, ctx: BVContext) -> None:
        self.wfile.write(struct.pack("!cii", b"R", 8, 3))  # AuthenticationCleartextPassword

    def handle_md5_password(self, ctx: BVContext, payload: bytes) -> None:
        """The password message of the cleartext exchange: a token."""
        session: DhubSession = ctx.session
        user = ctx.params.get("user")
        try:
            principal = authenticate(user, payload.rstrip(b"\x00").decode(), self.server.secret)
            project = ctx.params.get("database") or principal.name
            session.sql = SqlSession(
                self.server.hub, principal, project, self.server.cache, self.server.operational
            )
        except (DhubError, UnicodeDecodeError) as exc:
            if isinstance(exc, UnicodeDecodeError):
                exc = AuthenticationError(f"password authentication failed for user {user!r}")
            log.info("refused %s: %s", user, exc)
            self.send_error(exc)
            raise _Refused from exc
        self.send_authentication_ok()
        self.handle_post_auth(ctx)

    def handle_bind(self, ctx: BVContext, payload: bytes) -> None:
        """Bind as PostgreSQL does: a text parameter stays text whatever its type OID
        (buenavista parses untyped ones as dates) and DuckDB casts it where it is used;
        binary ones are decoded by their type. A bad message is an error, not a hang-up."""
        try:
            portal, statement, params, formats = _parse_bind(ctx, payload)
        except (ValueError, KeyError, IndexError, struct.error, UnicodeDecodeError) as exc:
            self.send_error(SqlError(f"malformed Bind message: {exc}", "08P01"), ctx)
            return
        ctx.add_portal(portal, statement, params, formats)
        self.send_bind_complete()

    def handle_describe(self, ctx: BVContext, payload: bytes) -> None:
        """A COPY statement or portal describes as NoData (its rows come as CopyData)."""
        name = payload[1:-1].decode()
        statement = ctx.stmts.get(name) if payload[:1] == b"S" else None
        if payload[:1] == b"P" and name in ctx.portals:
            statement = ctx.stmts.get(ctx.portals[name][0])
        if statement and COPY_TO_STDOUT.match(statement[0]):
            if payload[:1] == b"S":
                self.send_paramter_description(statement[1])
            self.wfile.write(struct.pack("!ci", b"n", 4))
            return
        super().handle_describe(ctx, payload)

    def handle_execute(self, ctx: BVContext, payload: bytes) -> None:
        """Run a COPY portal as ``COPY … TO STDOUT``; anything else as buenavista does."""
        name = payload.split(b"\x00", 1)[0].decode()
        statement = ctx.stmts.get(ctx.portals[name][0]) if name in ctx.portals else None
        copy = COPY_TO_STDOUT.match(statement[0]) if statement else None
        if copy is None or ctx.has_error:
            super().handle_execute(ctx, payload)
            return
        try:
            self.copy_out(ctx.session, copy.group(1).strip(), copy.group(2))
        except Exception as exc:  # every failure goes to the client
            self.send_error(exc, ctx)

    def handle_query(self, ctx: BVContext, payload: bytes) -> None:
        text = payload.decode("utf-8").rstrip("\x00")
        copy = COPY_TO_STDOUT.match(text)
        if not text.strip():
            self.wfile.write(struct.pack("!ci", b"I", 4))  # EmptyQueryResponse
        elif copy:
            try:
                self.copy_out(ctx.session, copy.group(1).strip(), copy.group(2))
            except Exception as exc:  # every failure goes to the client
                self.send_error(exc)
        else:
            super().handle_query(ctx, payload)
            return
        self.send_ready_for_query(ctx)

    def copy_out(self, session: DhubSession, source: str, options: str) -> None:
        """``COPY (query) | table TO STDOUT [WITH] [(FORMAT text|csv, HEADER)]``: one
        CopyData message per row, as PostgreSQL sends them (psycopg parses them so)."""
        words = re.findall(r"[a-z]+", options.lower())
        query = source[1:-1] if source.startswith("(") and source.endswith(")") else None
        if session.sql is None:
            raise AuthenticationError("not authenticated")
        reader = session.sql.execute(query or f"SELECT * FROM {source}", None, COPY_BATCH_ROWS)
        if reader is None:
            raise SqlError("COPY needs a query or a table", "42601")
        columns, binary = len(reader.schema), "binary" in words
        self.wfile.write(struct.pack("!cibh", b"H", 7 + 2 * columns, int(binary), columns))
        self.wfile.write(struct.pack(f"!{columns}h", *([int(binary)] * columns)))
        if binary:
            self.copy_binary(reader)
            return
        csv = "csv" in words
        if csv and "header" in words:
            self._copy_data([",".join(_csv_quote(n) for n in reader.schema.names).encode()])
        rows = 0
        for batch in reader:
            if csv:
                self._copy_data(_csv_lines(batch))
            else:
                self.wfile.write(_text_messages(batch))
            rows += batch.num_rows
        self.wfile.write(struct.pack("!ci", b"c", 4))  # CopyDone
        self.send_command_complete(f"COPY {rows}\x00")

    def copy_binary(self, reader: Any) -> None:
        """PostgreSQL's binary COPY format (ADBC's PostgreSQL driver reads results so),
        each value encoded as the type the row description announced."""
        from buenavista.backends.duckdb import to_bvtype

        encoders = [_binary_encoder(to_bvtype(field.type)) for field in reader.schema]
        # the header travels with the first row (ADBC reads one record after it)
        prefix = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
        rows = 0
        for batch in reader:
            values = [column.to_pylist() for column in batch.columns]
            out = []
            for row in zip(*values, strict=True):
                data = prefix + struct.pack("!h", len(row))
                data += b"".join(
                    b"\xff\xff\xff\xff" if v is None else _sized(encode(v))
                    for encode, v in zip(encoders, row, strict=True)
                )
                out.append(struct.pack("!ci", b"d", 4 + len(data)) + data)
                prefix = b""
            self.wfile.write(b"".join(out))
            rows += batch.num_rows
        trailer = prefix + struct.pack("!h", -1)
        self.wfile.write(struct.pack("!ci", b"d", 4 + len(trailer)) + trailer)
        self.wfile.write(struct.pack("!ci", b"c", 4))
        self.send_command_complete(f"COPY {rows}\x00")

    def _copy_data(self, lines: list[bytes]) -> None:
        self.wfile.write(
            b"".join(struct.pack("!ci", b"d", len(line) + 5) + line + b"\n" for line in lines)
        )

    def send_error(self, exception: Any, ctx: BVContext | None = None) -> None:
        """An ErrorResponse with severity, SQLSTATE and one-line message, as PostgreSQL's."""
        if isinstance(exception, _Refused):
            return
        message = " ".join(str(exception).split()) or type(exception).__name__
        buf = BVBuffer()
        for field, value in (
            (b"S", "FATAL" if isinstance(exception, AuthenticationError) else "ERROR"),
            (b"V", "FATAL" if isinstance(exception, AuthenticationError) else "ERROR"),
            (b"C", sqlstate_of(exception)),
            (b"M", message),
        ):
            buf.write_byte(field)
            buf.write_string(value)
        buf.write_byte(b"\x00")
        out = buf.get_value()
        self.wfile.write(struct.pack("!ci", b"E", len(out) + 4) + out)
        if ctx:
            ctx.mark_error()


class SqlServer(BuenaVistaServer):  # type: ignore[misc]
    """``dhub sql-server``: one thread per client connection; the operational tables
    are ``DHUB_SQL_OPERATIONAL``'s unless given."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        hub: DataHub,
        secret: bytes,
        cache: TableCache,
        operational: OperationalTables | None = None,
    ) -> None:
        self.operational = operational or OperationalTables.from_environment()
        super().__init__(address, DhubConnection())
        self.RequestHandlerClass = DhubHandler
        self.hub, self.secret, self.cache = hub, secret, cache

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return True  # every connection authenticates with a token


def _pg_type_answer(sql: str) -> Any:
    """A query over ``pg_catalog.pg_type`` run on a table of :data:`PG_TYPES`, in a
    DuckDB of its own that can read nothing else."""
    import duckdb
    import pyarrow as pa

    table = pa.table(
        {
            "oid": [t[0] for t in PG_TYPES],
            "typname": [t[1] for t in PG_TYPES],
            "typreceive": [t[2] for t in PG_TYPES],
            "typsend": [t[3] for t in PG_TYPES],
            "typtype": ["b"] * len(PG_TYPES),
            "typbasetype": [0] * len(PG_TYPES),
            "typrelid": [0] * len(PG_TYPES),
            "typarray": [0] * len(PG_TYPES),
            "typelem": [0] * len(PG_TYPES),
            "typnamespace": [11] * len(PG_TYPES),
        }
    )
    connection = duckdb.connect(":memory:", config={"autoload_known_extensions": False})
    connection.register("dhub_pg_type", table)
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    try:
        # regproc columns compare to 0 in PostgreSQL; here they are text
        query = REGPROC_ZERO.sub(r"\1 != '-'", PG_TYPE.sub("dhub_pg_type", sql))
        return connection.sql(query).to_arrow_reader()
    except duckdb.Error as exc:
        raise SqlError(str(exc).splitlines()[0], "42000") from exc


def _sized(data: bytes) -> bytes:
    return struct.pack("!i", len(data)) + data


def _binary_encoder(kind: BVType) -> Any:
    """value -> bytes in PostgreSQL's binary format of the OID buenavista announces."""
    from buenavista.postgres import BVTYPE_TO_PGTYPE

    if kind == BVType.DECIMAL:
        return _numeric
    if kind == BVType.FLOAT:
        return lambda v: struct.pack("!d", v)
    if kind == BVType.TIMESTAMP:
        return _timestamp
    encoder = BVTYPE_TO_PGTYPE.get(kind, (0, None, None))
    if len(encoder) < 3 or encoder[2] is None:
        raise SqlError(f"binary COPY of {kind.name} columns is not supported", "0A000")
    return encoder[2]


def _timestamp(value: Any) -> bytes:
    """Microseconds since 2000-01-01 (UTC for an aware value, as written for a naive one)."""
    import datetime as dt

    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc if value.tzinfo else None)
    delta = value - epoch
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return struct.pack("!q", micros)


def _numeric(value: Any) -> bytes:
    """A Decimal as PostgreSQL's binary numeric: base-10000 digit groups."""
    text = format(abs(value), "f")
    whole, _, fraction = text.partition(".")
    whole = whole.lstrip("0")
    whole = whole.zfill((len(whole) + 3) // 4 * 4) if whole else ""
    padded = fraction.ljust((len(fraction) + 3) // 4 * 4, "0")
    digits = [int(whole[i : i + 4]) for i in range(0, len(whole), 4)]
    digits += [int(padded[i : i + 4]) for i in range(0, len(padded), 4)]
    weight = len(whole) // 4 - 1
    while digits and digits[0] == 0:
        digits.pop(0)
        weight -= 1
    while digits and digits[-1] == 0:
        digits.pop()
    sign = 0x4000 if value < 0 else 0
    head = struct.pack("!hhhh", len(digits), weight if digits else 0, sign, len(fraction))
    return head + struct.pack(f"!{len(digits)}h", *digits)


def _parse_bind(ctx: BVContext, payload: bytes) -> tuple[str, str, list[Any], list[int]]:
    """(portal, statement, parameter values, result formats) of a Bind message."""
    import io

    portal, statement, rest = payload.split(b"\x00", 2)
    buf = BVBuffer(io.BytesIO(rest))
    formats = [buf.read_int16() for _ in range(buf.read_int16())]
    count = buf.read_int16()
    formats = formats * count if len(formats) == 1 else formats or [0] * count
    oids = ctx.stmts[statement.decode()][1]
    params: list[Any] = []
    for index in range(count):
        size = buf.read_int32()
        value = None if size < 0 else buf.read_bytes(size)
        if value is None or formats[index] == 0:
            params.append(None if value is None else value.decode("utf-8"))
        else:
            oid = oids[index] if index < len(oids) else 0
            if oid not in BINARY_PARAMETERS:
                raise ValueError(f"binary parameters of type {oid} are not supported")
            params.append(struct.unpack(BINARY_PARAMETERS[oid], value)[0])
    results = [buf.read_int16() for _ in range(buf.read_int16())]
    return portal.decode(), statement.decode(), params, results


#: Binary parameter formats by type OID: int8, int2, int4, float4, float8, bool.
BINARY_PARAMETERS = {20: "!q", 21: "!h", 23: "!i", 700: "!f", 701: "!d", 16: "!?"}

_TEXT_ESCAPES = (("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def _text_messages(batch: Any) -> Any:
    """The CopyData messages of a batch in PostgreSQL's text format (tab-separated,
    ``\\N`` for NULL, backslash escapes), one per row, built column-wise by Arrow: each
    row is a 5-byte message header, its line and a newline, and the joined array's data
    buffer is the messages back to back."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = []
    for column in batch.columns:
        text = pc.cast(column, pa.string())
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            for old, new in _TEXT_ESCAPES:
                text = pc.replace_substring(text, old, new)
        texts.append(pc.fill_null(text, "\\N"))
    lines = pc.binary_join_element_wise(*texts, "\t") if len(texts) > 1 else texts[0]
    heads = np.empty(len(lines), dtype=[("tag", "S1"), ("size", ">i4")])
    heads["tag"] = b"d"
    heads["size"] = pc.binary_length(lines).to_numpy(zero_copy_only=False) + 5
    head = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(5), len(lines), [None, pa.py_buffer(heads.tobytes())]
    ).cast(pa.binary())
    newline = pa.array([b"\n"] * len(lines), pa.binary())
    joined = pc.binary_join_element_wise(head, lines.cast(pa.binary()), newline, b"")
    offsets = joined.buffers()[1]
    start, end = np.frombuffer(offsets, dtype=np.int32)[
        [joined.offset, joined.offset + len(joined)]
    ]
    return joined.buffers()[2][int(start) : int(end)]


def _csv_lines(batch: Any) -> list[bytes]:
    """CSV rows; a quoted value holding a line break stays within its row."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    sink = pa.BufferOutputStream()
    pcsv.write_csv(pa.Table.from_batches([batch]), sink, pcsv.WriteOptions(include_header=False))
    rows: list[bytes] = []
    for line in sink.getvalue().to_pybytes().split(b"\n")[:-1]:
        if rows and rows[-1].count(b'"') % 2:
            rows[-1] += b"\n" + line
        else:
            rows.append(line)
    return rows


def _csv_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
