"""The GraphQL endpoint: ``rows(filter, order, limit, after)`` with the REST filters.

The schema is generated from the version's Arrow schema (integers as ``Int`` when they
fit 32 bits, else ``Float``; floats ``Float``; booleans ``Boolean``; everything else
``String``). Arguments are turned into the same query parameters the REST endpoint
takes, so both share one parser, one validation and one SQL builder; the projection
is the selection set. Depth, token and alias limits bound what one document may ask.
Columns whose names are not GraphQL names get ``_`` for each other character.
"""

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from digitalhub_airflow.dataservice.request import DEFAULT_LIMIT, RowRequest, parse_request
from digitalhub_airflow.errors import DhubError

_NAME_RE = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
MAX_DEPTH = 6
MAX_TOKENS = 2000
MAX_ALIASES = 16


@dataclass(frozen=True)
class Page:
    """What a request reads: rows (dicts), the version's key, the next page's cursor."""

    rows: list[dict[str, Any]]
    version: str
    next_cursor: str | None


def graphql_name(column: str) -> str:
    name = re.sub(r"[^_0-9A-Za-z]", "_", column)
    name = name if _NAME_RE.fullmatch(name) else f"_{name}"
    return f"{name}_" if keyword.iskeyword(name) or name.startswith("__") else name


def _scalar(arrow_type: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_boolean(arrow_type):
        return bool
    if pa.types.is_integer(arrow_type) and arrow_type.bit_width <= 32 and arrow_type.id != 8:
        return int  # GraphQL Int is 32-bit signed; uint32 (id 8) and 64-bit do not fit
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return float
    return str


def build_schema(schema: Any, read: Callable[[RowRequest], Page]) -> Any:
    """A strawberry schema over ``schema`` (a ``pyarrow.Schema``) answering with ``read``."""
    import strawberry
    from strawberry.extensions import (
        MaxAliasesLimiter,
        MaxTokensLimiter,
        QueryDepthLimiter,
    )
    from strawberry.schema.config import StrawberryConfig

    columns: dict[
        str, Any
    ] = {}  # GraphQL name -> column (first column wins a clash of cleaned names)
    for field in schema:
        columns.setdefault(graphql_name(field.name), field)
    row_type = strawberry.type(
        type(
            "Row",
            (),
            {
                **dict.fromkeys(columns),  # a column not selected is left None
                "__annotations__": {n: Optional[_scalar(f.type)] for n, f in columns.items()},  # noqa: UP045
            },
        ),
        description="One row of the served version.",
    )
    page_type = strawberry.type(
        type(
            "Page",
            (),
            {
                "__annotations__": {
                    "version": str,
                    "next_cursor": Optional[str],  # noqa: UP045
                    "rows": list[row_type],  # type: ignore[valid-type]
                }
            },
        ),
        description="A page of rows of one version; next_cursor reads on (same version).",
    )

    def rows(
        info: strawberry.Info,
        filter: Optional[list[str]] = None,  # noqa: UP045
        order: Optional[str] = None,  # noqa: UP045
        limit: int = DEFAULT_LIMIT,
        after: Optional[str] = None,  # noqa: UP045
    ) -> Any:
        selected = _selected_columns(info.selected_fields, columns)
        params = [("filter", text) for text in filter or []]
        params += [("limit", str(limit)), ("select", ",".join(selected))]
        if order is not None:
            params.append(("order", order))
        if after is not None:
            params.append(("cursor", after))
        page = read(parse_request(params))
        names = {f.name: n for n, f in columns.items()}
        items = [row_type(**{names[c]: v for c, v in row.items()}) for row in page.rows]
        return page_type(version=page.version, next_cursor=page.next_cursor, rows=items)

    rows.__annotations__["return"] = page_type
    query = strawberry.type(
        type("Query", (), {"rows": strawberry.field(resolver=rows)}),
    )
    return _quiet_schema()(
        query=query,
        config=StrawberryConfig(auto_camel_case=False),
        extensions=[
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        ],
    )


def _quiet_schema() -> Any:
    import strawberry

    class QuietSchema(strawberry.Schema):
        """Errors are not logged here: the app logs faults with a request id, and a
        refused request is the client's, not the server's, to read about."""

        def process_errors(self, errors: Any, execution_context: Any = None) -> None:
            return None

    return QuietSchema


def is_fault(error: Any) -> bool:
    """Whether a GraphQL error came from a server fault, not from the document or a
    refused request."""
    from graphql import GraphQLError

    original = error.original_error
    return original is not None and not isinstance(original, (DhubError, GraphQLError))


def _selected_columns(selections: list[Any], columns: dict[str, Any]) -> list[str]:
    """The columns under ``rows { rows { … } }`` (fragments followed); all when none."""
    from strawberry.types.nodes import SelectedField

    found: list[str] = []

    def walk(nodes: list[Any], inside: bool) -> None:
        for node in nodes:
            children = node.selections or []
            if not isinstance(node, SelectedField):  # a fragment: its fields count
                walk(children, inside)
            elif inside and not children and node.name in columns:
                found.append(columns[node.name].name)
            else:
                walk(children, inside or node.name == "rows")

    for top in selections:
        walk(top.selections, False)
    return list(dict.fromkeys(found)) or [f.name for f in columns.values()]
