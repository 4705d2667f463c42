"""SQL transforms run one read-only SELECT over pinned ``ds('<key>')`` tables, nothing else."""

from __future__ import annotations

import pyarrow as pa
import pytest

from digitalhub_airflow.errors import QueryError
from digitalhub_airflow.query.sql import referenced_keys, run_query

WINE = "store://demo/dataitem/table/wine:v2"
TABLES = {WINE: pa.table({"grp": ["a", "a", "b"], "value": [1, 2, 3]})}


def test_ds_references_are_bound_to_the_given_tables() -> None:
    query = f"SELECT grp, sum(value) AS total FROM ds('{WINE}') GROUP BY grp ORDER BY grp"
    assert referenced_keys(query) == [WINE]
    assert run_query(query, TABLES).to_pydict() == {"grp": ["a", "b"], "total": [3, 3]}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("SELECT 1", "reads no dataset"),
        (f"SELECT * FROM ds('{WINE}'); SELECT 2", "2 statements"),
        (f"COPY (SELECT * FROM ds('{WINE}')) TO 'leak.csv'", "only SELECT"),
        (f"INSERT INTO t SELECT * FROM ds('{WINE}')", "only SELECT"),
        (f"SELECT * FROM ds('{WINE}'), read_csv('/etc/passwd')", "may only read"),
        (f"SELECT * FROM ds('{WINE}') UNION ALL SELECT * FROM '/etc/passwd'", "failed"),
        (f"SELECT * FROM ds('{WINE}') JOIN other USING (grp)", "failed"),
        (f"SELECT * FROM ds('{WINE}') WHERE", "does not parse"),
    ],
)
def test_anything_but_one_select_over_datasets_is_refused(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        run_query(query, TABLES) if query and "ds(" in query else referenced_keys(query)


def test_configuration_cannot_be_reopened_from_inside_a_query() -> None:
    query = f"SELECT current_setting('enable_external_access') AS on FROM ds('{WINE}') LIMIT 1"
    assert run_query(query, TABLES).to_pydict() == {"on": [False]}
