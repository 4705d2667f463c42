"""Row differences between two table versions, matched by key columns (``dhub diff --rows``).

A row is *added* when its key is only in the newer version, *removed* when only in the
older, *changed* when both have the key and a column both have with the same type
differs (nulls equal nulls; a retyped column is the schema diff's to report). Counts are
exact, with a few rows of each as a sample; DuckDB joins the versions, no pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.datasets.reading import read_table
from digitalhub_airflow.errors import InvalidOptionError

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

#: Rows of each kind kept as a sample.
SAMPLE_ROWS = 10


@dataclass
class RowDiff:
    keys: list[str]
    compared: list[str]  # the non-key columns both versions have
    added: int
    removed: int
    changed: int
    sample_added: list[dict[str, Any]]
    sample_removed: list[dict[str, Any]]
    sample_changed: list[dict[str, Any]]  # {"key": {...}, "changes": {column: {from, to}}}

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": self.keys,
            "compared_columns": self.compared,
            "added": {"count": self.added, "sample": self.sample_added},
            "removed": {"count": self.removed, "sample": self.sample_removed},
            "changed": {"count": self.changed, "sample": self.sample_changed},
        }

    def lines(self) -> list[str]:
        """The differences as text: counts, then the sample rows."""
        lines = [
            f"rows by {', '.join(self.keys)}: {self.added} added, {self.removed} removed, "
            f"{self.changed} changed"
        ]
        lines += [f"+ row {_fmt(r)}" for r in self.sample_added]
        lines += [f"- row {_fmt(r)}" for r in self.sample_removed]
        for row in self.sample_changed:
            changes = ", ".join(
                f"{c}: {v['from']!r} -> {v['to']!r}" for c, v in row["changes"].items()
            )
            lines.append(f"~ row {_fmt(row['key'])}  {changes}")
        return lines


def _fmt(row: dict[str, Any]) -> str:
    return " ".join(f"{k}={v!r}" for k, v in row.items())


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def diff_rows(hub: DataHub, a: str, b: str, keys: list[str]) -> RowDiff:
    """Rows added, removed and changed going from version ``a`` to ``b``, by ``keys``."""
    import duckdb

    old, new = read_table(hub, a), read_table(hub, b)
    for name, table in ((a, old), (b, new)):
        missing = [k for k in keys if k not in table.column_names]
        if missing:
            raise InvalidOptionError(
                f"key column(s) {', '.join(missing)} not in {name}; "
                f"its columns: {', '.join(table.column_names)}"
            )
    retyped = [k for k in keys if _type(old, k) != _type(new, k)]
    if retyped:
        raise InvalidOptionError(f"key column(s) {', '.join(retyped)} changed type in {b}")
    compared = [
        c
        for c in old.column_names
        if c in new.column_names and c not in keys and _type(old, c) == _type(new, c)
    ]
    on = " AND ".join(f"a.{_ident(k)} IS NOT DISTINCT FROM b.{_ident(k)}" for k in keys)
    differs = " OR ".join(f"a.{_ident(c)} IS DISTINCT FROM b.{_ident(c)}" for c in compared)
    key_list = ", ".join(_ident(k) for k in keys)
    with duckdb.connect() as con:
        con.register("a", old)
        con.register("b", new)
        for side, name in (("a", a), ("b", b)):
            duplicated = _scalar(
                con,
                f"SELECT count(*) FROM (SELECT {key_list} FROM {side} "
                f"GROUP BY ALL HAVING count(*) > 1)",
            )
            if duplicated:
                raise InvalidOptionError(
                    f"{', '.join(keys)} is not a key of {name}: {duplicated} values repeat"
                )
        only_b = f"FROM b WHERE NOT EXISTS (SELECT 1 FROM a WHERE {on})"
        only_a = f"FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE {on})"
        both = f"FROM a JOIN b ON {on} WHERE {differs or 'false'}"
        return RowDiff(
            keys=keys,
            compared=compared,
            added=_scalar(con, f"SELECT count(*) {only_b}"),
            removed=_scalar(con, f"SELECT count(*) {only_a}"),
            changed=_scalar(con, f"SELECT count(*) {both}"),
            sample_added=_rows(con, f"SELECT * {only_b} ORDER BY {key_list}"),
            sample_removed=_rows(con, f"SELECT * {only_a} ORDER BY {key_list}"),
            sample_changed=_changes(con, keys, compared, both),
        )


def _type(table: Any, column: str) -> Any:
    return table.schema.field(column).type


def _scalar(con: Any, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _rows(con: Any, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(f"{sql} LIMIT {SAMPLE_ROWS}")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _changes(con: Any, keys: list[str], compared: list[str], both: str) -> list[dict[str, Any]]:
    """A sample of changed rows: the key, and each differing column's old and new value."""
    if not compared:
        return []
    columns = [f"a.{_ident(k)}" for k in keys]
    columns += [f"a.{_ident(c)}, b.{_ident(c)}" for c in compared]
    order = ", ".join(f"a.{_ident(k)}" for k in keys)
    sample = []
    for row in con.execute(f"SELECT {', '.join(columns)} {both} ORDER BY {order} "
                           f"LIMIT {SAMPLE_ROWS}").fetchall():  # fmt: skip
        key = dict(zip(keys, row[: len(keys)], strict=True))
        pairs = row[len(keys) :]
        changes = {
            c: {"from": pairs[2 * i], "to": pairs[2 * i + 1]}
            for i, c in enumerate(compared)
            if pairs[2 * i] != pairs[2 * i + 1]
        }
        sample.append({"key": key, "changes": changes})
    return sample
