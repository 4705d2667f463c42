"""A row request (``select``, filters, ``order``, ``limit``, ``cursor``) and its SQL.

The SQL is built from fixed fragments: column names only as found in the served
schema (quoted), operators from a fixed table, every value a bound parameter already
converted to the column's type. A name or value the schema does not admit is a 4xx
before DuckDB sees anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.dataservice.cursor import Cursor, decode, fingerprint
from digitalhub_airflow.dataservice.filters import COMPARISONS, Condition, conditions_from_query
from digitalhub_airflow.errors import DataRequestError

if TYPE_CHECKING:
    import pyarrow as pa

#: Query parameters that are not filters.
RESERVED = frozenset({"select", "order", "limit", "cursor"})
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
TABLE = "rows"
_NULLS = {"nullsfirst": "NULLS FIRST", "nullslast": "NULLS LAST"}


@dataclass(frozen=True)
class OrderBy:
    column: str
    descending: bool = False
    nulls: str | None = None


@dataclass(frozen=True)
class RowRequest:
    select: tuple[str, ...] | None = None
    conditions: tuple[Condition, ...] = ()
    order: tuple[OrderBy, ...] = ()
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint([repr(self.select), repr(self.conditions), repr(self.order)])

    @property
    def offset(self) -> int:
        return self.cursor.offset if self.cursor is not None else 0


def parse_request(params: list[tuple[str, str]]) -> RowRequest:
    """The request a query string asks for (a name given twice is refused, filters aside)."""
    single: dict[str, str] = {}
    if any(name == "offset" for name, _ in params):
        raise DataRequestError("offset paging is not offered: follow the X-Next-Cursor header")
    for name, value in params:
        if name in RESERVED:
            if name in single:
                raise DataRequestError(f"query parameter {name!r} is given twice")
            single[name] = value
    select = None
    if single.get("select", "*") != "*":
        select = tuple(c.strip() for c in single["select"].split(","))
        if not all(select):
            raise DataRequestError(f"select={single['select'][:80]!r} has an empty column name")
    order = (
        tuple(_order_by(part) for part in single["order"].split(",")) if "order" in single else ()
    )
    limit = _limit(single.get("limit"))
    cursor = decode(single["cursor"]) if "cursor" in single else None
    request = RowRequest(
        select, tuple(conditions_from_query(params, RESERVED)), order, limit, cursor
    )
    if cursor is not None and cursor.fingerprint != request.fingerprint:
        raise DataRequestError(
            "the cursor belongs to a request with other select, filters or order: "
            "replay it with the same ones"
        )
    return request


def _order_by(text: str) -> OrderBy:
    column, *modifiers = text.strip().split(".")
    descending, nulls = False, None
    for modifier in modifiers:
        if modifier in ("asc", "desc"):
            descending = modifier == "desc"
        elif modifier in _NULLS:
            nulls = modifier
        else:
            raise DataRequestError(
                f"order={text[:80]!r}: {modifier[:40]!r} is not asc, desc, nullsfirst or nullslast"
            )
    if not column:
        raise DataRequestError(f"order={text[:80]!r} names no column")
    return OrderBy(column, descending, nulls)


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or len(text) > 9:
        raise DataRequestError(f"limit={text[:40]!r} is not a whole number")
    limit = int(text)
    if not 1 <= limit <= MAX_LIMIT:
        raise DataRequestError(
            f"limit={limit} is out of range: 1 to {MAX_LIMIT} rows a page; "
            "follow the cursor for more",
            code="PGRST103",
        )
    return limit


def quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _field(schema: pa.Schema, column: str) -> pa.Field:
    index = schema.get_field_index(column)
    if index < 0:
        raise DataRequestError(
            f"column {column!r} does not exist; columns: {', '.join(schema.names)}",
            code="42703",
        )
    return schema.field(index)


def convert(field: pa.Field, text: str) -> Any:
    """``text`` as a value of the column's type (a 400 naming both when it is not one)."""
    import pyarrow as pa

    kind = field.type
    try:
        if pa.types.is_integer(kind):
            return int(text)
        if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            return float(text)
        if pa.types.is_boolean(kind):
            if text not in ("true", "false"):
                raise ValueError(text)
            return text == "true"
    except ValueError:
        raise DataRequestError(
            f"column {field.name!r} is {kind}; {text[:40]!r} is not a value of it",
            code="22P02",
        ) from None
    return text


def _temporal(field: pa.Field) -> str | None:
    """DuckDB's type for a date/time column, whose text value DuckDB itself casts."""
    import pyarrow as pa

    kind = field.type
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMPTZ" if kind.tz else "TIMESTAMP"
    if pa.types.is_time(kind):
        return "TIME"
    return None


def _where(condition: Condition, schema: pa.Schema) -> tuple[str, list[Any]]:
    field = _field(schema, condition.column)
    column = quote(field.name)
    cast = _temporal(field)
    placeholder = f"CAST(? AS {cast})" if cast else "?"
    sql: str
    params: list[Any] = []
    if condition.op == "is":
        sql = {
            "null": f"{column} IS NULL",
            "not_null": f"{column} IS NOT NULL",
            "true": f"{column} IS TRUE",
            "false": f"{column} IS FALSE",
        }[str(condition.value)]
    elif condition.op == "in":
        items = condition.value if isinstance(condition.value, tuple) else ()
        if not items:
            sql = "FALSE"
        else:
            params = [convert(field, item) for item in items]
            sql = f"{column} IN ({', '.join([placeholder] * len(items))})"
    elif condition.op in ("like", "ilike"):
        # PostgREST's '*' wildcard, also usable where '%' would need URL escaping.
        params = [str(condition.value).replace("*", "%")]
        sql = f"CAST({column} AS VARCHAR) {condition.op.upper()} ?"
    else:
        params = [convert(field, str(condition.value))]
        sql = f"{column} {COMPARISONS[condition.op]} {placeholder}"
    return (f"NOT ({sql})" if condition.negated else f"({sql})"), params


def build_sql(request: RowRequest, schema: pa.Schema) -> tuple[str, list[Any]]:
    """One page of rows: ``SELECT … FROM rows WHERE … ORDER BY …, rowid LIMIT ? OFFSET ?``."""
    names = [_field(schema, c).name for c in request.select] if request.select else schema.names
    clauses: list[str] = []
    params: list[Any] = []
    for condition in request.conditions:
        sql, values = _where(condition, schema)
        clauses.append(sql)
        params += values
    order = [
        f"{quote(_field(schema, o.column).name)} {'DESC' if o.descending else 'ASC'}"
        + (f" {_NULLS[o.nulls]}" if o.nulls else "")
        for o in request.order
    ]
    text = f"SELECT {', '.join(quote(n) for n in names)} FROM {TABLE}"
    if clauses:
        text += " WHERE " + " AND ".join(clauses)
    # The row position ends every order: pages of one version never overlap or skip.
    text += f" ORDER BY {', '.join([*order, 'rowid'])} LIMIT ? OFFSET ?"
    # one row past the page tells whether a next page exists
    return text, [*params, request.limit + 1, request.offset]
