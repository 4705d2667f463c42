"""The PostgREST filter grammar: ``col=eq.1``, ``filter=col.eq.1``, ``not.``, ``in.(…)``.

Parsing only turns text into :class:`Condition` values; it names no SQL. Columns are
checked against the served schema and values converted to the column's type when the
query is built (:mod:`digitalhub_airflow.dataservice.query`), so nothing a client sends
is ever pasted into SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass

from digitalhub_airflow.errors import DataRequestError

#: Comparison operators and their SQL; ``in``, ``is``, ``like`` and ``ilike`` besides.
COMPARISONS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
OPERATORS = (*COMPARISONS, "like", "ilike", "in", "is")
IS_VALUES = ("null", "not_null", "true", "false")
MAX_CONDITIONS = 32
MAX_VALUE_LENGTH = 4096
MAX_IN_ITEMS = 1000


@dataclass(frozen=True)
class Condition:
    """``column op value``; ``value`` is a tuple for ``in``; ``negated`` for ``not.``."""

    column: str
    op: str
    value: str | tuple[str, ...]
    negated: bool = False


def parse_condition(column: str, text: str) -> Condition:
    """``eq.1``, ``not.in.(a,b)``, ``is.null`` … for ``column``."""
    if not column:
        raise DataRequestError("a filter names no column")
    negated = text.startswith("not.")
    if negated:
        text = text[4:]
    op, sep, value = text.partition(".")
    if not sep or op not in OPERATORS:
        raise DataRequestError(
            f"filter on {column!r}: {text[:40]!r} is not OPERATOR.VALUE; "
            f"operators: {', '.join(OPERATORS)} (prefix not. to negate)"
        )
    if len(value) > MAX_VALUE_LENGTH:
        raise DataRequestError(
            f"filter on {column!r}: the value is {len(value)} characters; "
            f"at most {MAX_VALUE_LENGTH}"
        )
    if op == "in":
        return Condition(column, op, _in_list(column, value), negated)
    if op == "is" and value not in IS_VALUES:
        raise DataRequestError(
            f"filter on {column!r}: is.{value[:40]} is unknown; one of {', '.join(IS_VALUES)}"
        )
    return Condition(column, op, value, negated)


def parse_filter(text: str) -> Condition:
    """``col.op.value`` (the ``filter=`` form): the column is what comes before the
    first ``.`` followed by an operator (a column with dots: use ``col=op.value``)."""
    start = 0
    while True:
        dot = text.find(".", start)
        if dot < 0:
            raise DataRequestError(f"filter {text[:60]!r} is not COLUMN.OPERATOR.VALUE")
        rest = text[dot + 1 :]
        head = rest.partition(".")[0]
        if head in OPERATORS or head == "not":
            return parse_condition(text[:dot], rest)
        start = dot + 1


def _in_list(column: str, value: str) -> tuple[str, ...]:
    """``(a,b,"c,d")``: items split at commas outside double quotes (``\\"`` escapes)."""
    if not (value.startswith("(") and value.endswith(")")):
        raise DataRequestError(f"filter on {column!r}: in. takes a list like in.(1,2,3)")
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = was_quoted = False
    for char in value[1:-1]:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
            was_quoted = True
        elif char == "," and not quoted:
            items.append("".join(current) if was_quoted else "".join(current).strip())
            current, was_quoted = [], False
        else:
            current.append(char)
    if quoted:
        raise DataRequestError(f"filter on {column!r}: an in. list has an unclosed quote")
    if current or was_quoted or items:
        items.append("".join(current) if was_quoted else "".join(current).strip())
    if len(items) > MAX_IN_ITEMS:
        raise DataRequestError(
            f"filter on {column!r}: in. has {len(items)} items; at most {MAX_IN_ITEMS}"
        )
    return tuple(items)


def conditions_from_query(
    params: list[tuple[str, str]], reserved: frozenset[str]
) -> list[Condition]:
    """Every filter of a query string: ``filter=col.op.v`` and ``col=op.v`` (any
    parameter not in ``reserved``)."""
    found = []
    for name, value in params:
        if name == "filter":
            found.append(parse_filter(value))
        elif name not in reserved:
            found.append(parse_condition(name, value))
    if len(found) > MAX_CONDITIONS:
        raise DataRequestError(f"{len(found)} filters given; at most {MAX_CONDITIONS}")
    return found
