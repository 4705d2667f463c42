"""The OpenAPI 3 document of one served dataset, generated from its Arrow schema.

Every column is a property of the row object (typed as JSON Schema) and a filter
parameter (``col=op.value``), so a standard client generator produces a typed client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from digitalhub_airflow.dataservice.filters import OPERATORS
from digitalhub_airflow.dataservice.negotiation import ALIASES
from digitalhub_airflow.dataservice.request import DEFAULT_LIMIT, MAX_LIMIT

if TYPE_CHECKING:
    import pyarrow as pa

_ERROR = {
    "type": "object",
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "details": {"type": "string", "nullable": True},
        "hint": {"type": "string", "nullable": True},
    },
    "required": ["code", "message"],
}


def json_type(arrow_type: pa.DataType) -> dict[str, Any]:
    import pyarrow as pa

    if pa.types.is_boolean(arrow_type):
        return {"type": "boolean"}
    if pa.types.is_integer(arrow_type):
        return {"type": "integer"}
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return {"type": "number"}
    if pa.types.is_date(arrow_type):
        return {"type": "string", "format": "date"}
    if pa.types.is_timestamp(arrow_type):
        return {"type": "string", "format": "date-time"}
    return {"type": "string"}


def _parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def document(schema: pa.Schema, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI document of ``GET /v1/rows`` and ``POST /v1/graphql`` for ``schema``."""
    ops = ", ".join(OPERATORS)
    row = {
        "type": "object",
        "properties": {f.name: {**json_type(f.type), "nullable": True} for f in schema},
    }
    errors = {
        str(status): {
            "description": what,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status, what in (
            (400, "a malformed filter, select, order, limit or cursor; an unknown column"),
            (401, "no or a wrong API key or token"),
            (403, "a token without READ on the service's project"),
            (406, "an Accept type that is not served"),
        )
    }
    parameters = [
        _parameter(
            "select", "columns to return, comma-separated (default: all)", {"type": "string"}
        ),
        _parameter(
            "order", "col[.asc|.desc][.nullsfirst|.nullslast], comma-separated", {"type": "string"}
        ),
        _parameter(
            "limit",
            f"rows a page (default {DEFAULT_LIMIT})",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        ),
        _parameter(
            "cursor", "the X-Next-Cursor of the previous page (same version)", {"type": "string"}
        ),
        {
            **_parameter(
                "filter",
                f"col.op.value; op one of {ops}; not. negates",
                {"type": "array", "items": {"type": "string"}},
            ),
            "explode": True,
        },
        *[
            _parameter(f.name, f"filter on {f.name}: op.value ({ops})", {"type": "string"})
            for f in schema
        ],
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "paths": {
            "/v1/rows": {
                "get": {
                    "summary": "a page of rows of the served version",
                    "parameters": parameters,
                    "responses": {
                        "200": {
                            "description": "rows; ETag is the version id, X-Next-Cursor "
                            "reads the next page of the same version",
                            "content": {
                                media: {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Row"},
                                    }
                                }
                                if media == "application/json"
                                else {"schema": {"type": "string", "format": "binary"}}
                                for media in sorted(set(ALIASES.values()))
                            },
                        },
                        "304": {"description": "not modified (If-None-Match: the version id)"},
                        **errors,
                    },
                }
            },
            "/v1/graphql": {
                "post": {
                    "summary": "GraphQL: rows(filter, order, limit, after) with the same filters",
                    "requestBody": {
                        "content": {"application/json": {"schema": {"type": "object"}}}
                    },
                    "responses": {"200": {"description": "a GraphQL response"}, **errors},
                }
            },
        },
        "components": {"schemas": {"Row": row, "Error": _ERROR}},
    }
