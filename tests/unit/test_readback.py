"""Whatever a commit accepts reads back as given, with pyarrow, DuckDB and pandas; what
would not is refused with ``UnreadableTableError`` and nothing stored (property-based).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from digitalhub_airflow.datasets.tables import MAX_COLUMN_NAME
from digitalhub_airflow.errors import UnreadableTableError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.query.sql import run_query
from tests.unit.dhub_testlib import Snapshot, make_hub

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_names = itertools.count()

# -- strategies ---------------------------------------------------------------------------

#: Column names as people write them: ASCII, accents, CJK, Greek, emoji, spaces, symbols.
NAME_CHARS = st.sampled_from(list("abcxyzABCXYZ019_- .()#%/'\"") + list("éÉßçñøΩωλ李雷🌍"))
NAME = st.text(NAME_CHARS, min_size=1, max_size=12)
NAMES = st.lists(NAME, min_size=1, max_size=5, unique_by=lambda n: n.encode().lower())

COLUMN_TYPES: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "int": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "float": (pa.float64(), st.floats(allow_nan=False)),
    "string": (pa.string(), st.text(max_size=20)),
    "bool": (pa.bool_(), st.booleans()),
}


@st.composite
def tables(draw: st.DrawFn, names: st.SearchStrategy[list[str]] = NAMES) -> pa.Table:
    """A small table of int, float, string and bool columns with nulls."""
    chosen = draw(names)
    rows = draw(st.integers(0, 6))
    arrays = []
    for _ in chosen:
        arrow_type, values = COLUMN_TYPES[draw(st.sampled_from(sorted(COLUMN_TYPES)))]
        cells = draw(st.lists(st.none() | values, min_size=rows, max_size=rows))
        arrays.append(pa.array(cells, arrow_type))
    return pa.Table.from_arrays(arrays, names=chosen)


#: Cell text a CSV round-trips as text: no line breaks, and a leading letter so pyarrow
#: infers no number, date, boolean or null from it.
CSV_CELL = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(list("vVéZ李")),
    st.text(
        st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from(list(',"; \t')),
        max_size=12,
    ),
)


@st.composite
def csv_tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    # DuckDB's own CSV reader trims spaces around unquoted header names (pyarrow, pandas
    # and `dhub query`, which reads through Arrow, keep them): not asked of a direct read.
    names = draw(NAMES.filter(lambda ns: all(n.strip() == n for n in ns)))
    rows = draw(st.integers(1, 5))
    return names, [[draw(CSV_CELL) for _ in names] for _ in range(rows)]


# -- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def rhub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataHub]:
    """One embedded hub for every example (each commits to a dataset of its own)."""
    with make_hub(tmp_path_factory.mktemp("readback")) as hub:
        yield hub


def _snapshot(hub: DataHub) -> Snapshot:
    root = Path(str(hub.catalog.url).removeprefix("sqlite:///")).parent
    return Snapshot.of(root / "c.sqlite", root / "store")


def _target() -> str:
    return f"rb/t{next(_names)}"


def _read_back(hub: DataHub, key: str) -> tuple[pa.Table, list[tuple[Any, ...]], list[str]]:
    """The version through the hub (pyarrow), and its rows and names through DuckDB:
    ``dhub query``'s path and a direct read of the stored files."""
    table = hub.read_table(key)
    queried = run_query(f"SELECT * FROM ds('{key}')", {key: table})
    assert queried.column_names == table.column_names
    assert queried.to_pylist() == table.to_pylist()
    with tempfile.TemporaryDirectory() as tmp:
        (path,) = hub.get(key, tmp)
        literal = "'" + str(path).replace("'", "''") + "'"
        read = {
            ".parquet": f"read_parquet({literal})",
            ".csv": f"read_csv({literal}, all_varchar = true, header = true, delim = ',', "
            "quote = '\"', escape = '\"')",
        }
        connection = duckdb.connect(":memory:")
        try:
            relation = connection.execute(f"SELECT * FROM {read[path.suffix]}")
            names = [d[0] for d in relation.description]
            rows = relation.fetchall()
        finally:
            connection.close()
    return table, rows, names


def _refused(hub: DataHub, commit: Callable[[DataHub], Any], *words: str) -> str:
    before = _snapshot(hub)
    with pytest.raises(UnreadableTableError) as info:
        commit(hub)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert _snapshot(hub) == before, "a refused commit must store nothing"
    return message


# -- what is accepted reads back ------------------------------------------------------------


@SETTINGS
@given(table=tables(), as_pandas=st.booleans())
def test_any_accepted_python_table_reads_back_equal(
    rhub: DataHub, table: pa.Table, as_pandas: bool
) -> None:
    given_data: Any = table.to_pandas() if as_pandas else table
    expected = pa.Table.from_pandas(given_data, preserve_index=False) if as_pandas else table
    key = rhub.commit(_target(), given_data).key

    back, duck_rows, duck_names = _read_back(rhub, key)
    assert back.equals(expected), (back, expected)
    assert duck_names == expected.column_names
    assert duck_rows == [tuple(row.values()) for row in expected.to_pylist()]
    with tempfile.TemporaryDirectory() as tmp:
        (path,) = rhub.get(key, tmp)
        frame = pd.read_parquet(path)
    pd.testing.assert_frame_equal(frame, given_data if as_pandas else table.to_pandas())


@SETTINGS
@given(data=csv_tables(), encoding=st.sampled_from([None, "latin-1", "utf-16"]))
def test_any_accepted_csv_reads_back_equal(
    rhub: DataHub, data: tuple[list[str], list[list[str]]], encoding: str | None
) -> None:
    names, rows = data
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows([names, *rows])
    content = buffer.getvalue()
    if encoding == "latin-1":
        assume(all(ord(c) < 256 for c in content))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        path.write_bytes(content.encode(encoding or "utf-8"))
        key = rhub.commit(_target(), path, encoding=encoding).key

    back, duck_rows, duck_names = _read_back(rhub, key)
    assert back.column_names == names
    assert [list(row.values()) for row in back.to_pylist()] == rows
    assert duck_names == names
    assert [list(row) for row in duck_rows] == rows
    with tempfile.TemporaryDirectory() as tmp:
        (stored,) = rhub.get(key, tmp)
        assert stored.read_text(encoding="utf-8") == content, "stored as UTF-8 text"
        frame = pd.read_csv(stored, dtype=str, keep_default_na=False)
    assert list(frame.columns) == names
    assert frame.to_numpy().tolist() == rows


# -- what would not read back is refused ------------------------------------------------------


def _ascii_letter_name(names: list[str]) -> str | None:
    return next((n for n in names if any(c.isascii() and c.isalpha() for c in n)), None)


VIOLATIONS = ["duplicate", "case", "empty", "long", "control"]


def _violate(names: list[str], violation: str, draw: st.DataObject) -> tuple[list[str], str]:
    """``names`` broken by one rule, and a word the refusal must contain."""
    broken = list(names)
    at = draw.draw(st.integers(0, len(names)), label="at")
    if violation == "duplicate":
        broken.insert(at, draw.draw(st.sampled_from(names), label="copied"))
        return broken, "duplicate column name"
    if violation == "case":
        name = _ascii_letter_name(names)
        assume(name is not None)
        assert name is not None
        broken.insert(at, name.swapcase() if name.isascii() else _swap_ascii(name))
        return broken, "differ only in case"
    if violation == "empty":
        broken.insert(at, "")
        return broken, "empty name"
    if violation == "long":
        broken.insert(at, "x" * draw.draw(st.integers(MAX_COLUMN_NAME + 1, 3000), label="n"))
        return broken, f"the limit is {MAX_COLUMN_NAME}"
    control = draw.draw(st.sampled_from(["\x00", "\t", "\n", "\x1b", "\x7f", "\x85"]))
    broken[min(at, len(names) - 1)] += control
    return broken, "control character"


def _swap_ascii(name: str) -> str:
    return "".join(c.swapcase() if c.isascii() else c for c in name)


def _source_with(names: list[str], fmt: str, folder: Path) -> Any:
    table = pa.Table.from_arrays([pa.array([1], pa.int64()) for _ in names], names=names)
    if fmt == "arrow":
        return table
    if fmt == "csv":
        path = folder / "t.csv"
        buffer = io.StringIO(newline="")
        csv.writer(buffer, lineterminator="\n").writerows([names, ["1"] * len(names)])
        path.write_text(buffer.getvalue(), encoding="utf-8")
        return path
    path = folder / "t.jsonl"
    # JSON objects cannot repeat a key: a duplicate is only checked through the others.
    path.write_text(json.dumps(dict.fromkeys(names, 1)) + "\n", encoding="utf-8")
    return path


@SETTINGS
@given(
    names=NAMES,
    violation=st.sampled_from(VIOLATIONS),
    fmt=st.sampled_from(["arrow", "csv", "jsonl"]),
    draw=st.data(),
)
def test_names_that_would_not_read_back_are_refused(
    rhub: DataHub, names: list[str], violation: str, fmt: str, draw: st.DataObject
) -> None:
    assume(not (fmt == "jsonl" and violation == "duplicate"))
    broken, word = _violate(names, violation, draw)
    if fmt == "csv" and violation == "control":
        assume(all("\n" not in n for n in broken))  # a header line break is another row
    with tempfile.TemporaryDirectory() as tmp:
        source = _source_with(broken, fmt, Path(tmp))
        _refused(rhub, lambda h: h.commit(_target(), source), word)


@SETTINGS
@given(
    data=csv_tables(),
    row=st.integers(0, 4),
    problem=st.sampled_from(["nul", "latin-1"]),
)
def test_csv_cells_that_would_not_read_back_are_refused(
    rhub: DataHub, data: tuple[list[str], list[list[str]]], row: int, problem: str
) -> None:
    names, rows = data
    row = min(row, len(rows) - 1)
    column = row % len(names)
    rows[row][column] += "\x00" if problem == "nul" else "é"
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows([names, *rows])
    encoding = "utf-8" if problem == "nul" else "latin-1"
    content = buffer.getvalue().encode(encoding, "replace")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        path.write_bytes(content)
        if problem == "nul":
            _refused(rhub, lambda h: h.commit(_target(), path), "NUL", repr(names[column]))
        else:
            assume(content.decode("utf-8", "replace") != content.decode("latin-1"))
            _refused(rhub, lambda h: h.commit(_target(), path), "not valid UTF-8", "line ")
