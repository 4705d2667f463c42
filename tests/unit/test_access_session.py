"""The SQL session both endpoints share: which names are datasets, what is refused, and
that grants are read per statement."""

from __future__ import annotations

import pyarrow as pa
import pytest

from digitalhub_airflow.access import Principal, grant, revoke
from digitalhub_airflow.endpoints.session import (
    SqlError,
    SqlSession,
    TableCache,
    sqlstate_of,
    table_name,
)
from digitalhub_airflow.errors import PermissionDeniedError
from digitalhub_airflow.hub import DataHub

ALICE = Principal("alice")


@pytest.mark.parametrize(
    ("listed", "name"),
    [
        ('"wine@a" AS w', "wine@a"),
        ("Wine w", "wine"),
        ('"store://a/dataitem/table/b:v1"', "store://a/dataitem/table/b:v1"),
        ('"a""b"', 'a"b'),
        ("dhub.datasets", None),
        ('main."x"', None),
    ],
)
def test_table_names_as_the_parser_lists_them(listed: str, name: str | None) -> None:
    assert table_name(listed) == name


def test_session_reads_aliases_ctes_and_refuses_after_a_revoke(ehub: DataHub) -> None:
    ehub.commit("demo/wine", pa.table({"x": [1, 2, 3]}))
    ehub.commit("other/t", pa.table({"y": [9]}))
    grant(ehub.catalog, "demo", "user:alice", "read", by="t")
    with pytest.raises(PermissionDeniedError):
        SqlSession(ehub, ALICE, "other", TableCache())
    session = SqlSession(ehub, ALICE, "demo", TableCache())
    cte = "WITH w AS (SELECT * FROM Wine AS v) SELECT sum(x) AS s FROM w"
    assert session.execute(cte).read_all().to_pydict() == {"s": [6]}
    assert session.execute("BEGIN") is None and session.execute("SET search_path = x") is None
    with pytest.raises(PermissionDeniedError) as refused:
        session.execute('SELECT * FROM "other/t"')
    assert sqlstate_of(refused.value) == "42501"
    with pytest.raises(SqlError) as written:
        session.execute("CREATE TABLE t AS SELECT 1")
    assert sqlstate_of(written.value) == "25006"
    grant(ehub.catalog, "other", "user:alice", "read", by="t")
    assert session.execute('SELECT y FROM "other/t"').read_all().to_pydict() == {"y": [9]}
    revoke(ehub.catalog, "other", "user:alice")
    with pytest.raises(PermissionDeniedError, match="no read grant on project 'other'"):
        session.execute('SELECT y FROM "other/t"')
