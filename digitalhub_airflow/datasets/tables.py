"""Reading tables just enough to know them: Arrow schema and row count, streamed.

A table is never loaded whole: CSV and JSON lines are scanned batch by batch, Parquet
answers from its footer. A file that does not parse is refused before anything is stored.

Nothing that would not read back as given is stored either (pyarrow, DuckDB and pandas
all read a stored table back equal to its source). Refused with
:class:`~digitalhub_airflow.errors.UnreadableTableError`, naming the file, the column and
the problem, before any blob is written:

- column names (top level, and the fields of struct columns at any depth) that are
  empty; longer than :data:`MAX_COLUMN_NAME` (255) characters; that contain a control
  character (Unicode category Cc: NUL, tab, newline, DEL, C1 controls); duplicates;
  or duplicates once ASCII letters are lower-cased, as DuckDB compares identifiers
  (``A`` and ``a`` collide there: DuckDB renames one to ``a_1``; ``É`` and ``é`` do not);
- in CSV: text that is not valid UTF-8, in a cell (pyarrow would store the column as
  ``binary``) or in the header (pyarrow would replace it with U+FFFD), reported with
  its line and byte offset; a CSV in another encoding is committed with ``encoding=``,
  which stores it transcoded to UTF-8 (:func:`digitalhub_airflow.datasets.sources.materialised`);
- in JSON lines: strings that are not valid UTF-8;
- in the text formats (CSV and JSON lines) a NUL character in a string value, raw or as
  ``\u0000``: PostgreSQL text and ``jsonb`` cannot hold it and many CSV readers stop at it.
  Parquet and Python tables may hold NUL in strings: it reads back identically.

Cell content of a table file described from the hash cache is not scanned again: it was
checked when that content was first committed (names and CSV ``binary`` columns are).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from digitalhub_airflow.datasets.manifest import ColumnSchema
from digitalhub_airflow.errors import InvalidSourceError, UnreadableTableError

TABLE_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
#: The longest column name accepted, in characters (Unicode code points).
MAX_COLUMN_NAME = 255
#: Formats whose strings are text that may not hold NUL.
TEXT_FORMATS = ("csv", "jsonl")
_CHUNK = 8 << 20
_SHOWN = 40


def table_format(path: Path) -> str | None:
    """The table format implied by a file name, or ``None`` for any other file."""
    return TABLE_FORMATS.get(path.suffix.lower())


def inspect_table(path: Path, fmt: str) -> tuple[list[ColumnSchema], int]:
    """Return (columns, row count) of one file, raising on unparsable content.

    Raises :class:`UnreadableTableError` for content that parses but would not read
    back as given (see the module's rules).
    """
    import pyarrow as pa

    if path.stat().st_size == 0:
        raise InvalidSourceError(f"{path} is empty")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            check_schema(parquet.schema_arrow, str(path))
            return columns_of(parquet.schema_arrow), parquet.metadata.num_rows
        if fmt == "csv":
            import pyarrow.csv as pacsv

            reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=8 << 20))
        elif fmt == "jsonl":
            import pyarrow.json as pajson

            reader = pajson.open_json(path, read_options=pajson.ReadOptions(block_size=8 << 20))
        else:
            raise InvalidSourceError(f"{path}: unknown table format {fmt!r}")
        _check_text_schema(reader.schema, path, fmt)
        rows = 0
        try:
            for batch in reader:
                _check_text_cells(batch, path, fmt, rows)
                rows += batch.num_rows
        except pa.ArrowInvalid:
            if fmt != "csv":
                raise
            # Streaming fixes column types from the first block; a later block may need
            # a wider type. The whole-file reader infers types over every block.
            table = pacsv.read_csv(path)
            _check_text_schema(table.schema, path, fmt)
            _check_text_cells(table, path, fmt, 0)
            return columns_of(table.schema), table.num_rows
        return columns_of(reader.schema), rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise InvalidSourceError(f"{path} is not valid {fmt}: {_first_line(exc)}") from exc


def combine_files(
    described: Sequence[tuple[Path, list[ColumnSchema], int]],
) -> tuple[list[ColumnSchema], int]:
    """One schema and the total rows of a table stored as several files of one format.

    The column names are checked here too, so a description from the hash cache is held
    to the same rules as a freshly read one.
    """
    if not described:
        raise InvalidSourceError("no table files given")
    first_path, schema, _ = described[0]
    for path, columns, _rows in described[1:]:
        if columns != schema:
            raise InvalidSourceError(
                f"{path} has columns {_describe(columns)}, {first_path} has {_describe(schema)}"
            )
    check_column_names((c.name for c in schema), str(first_path))
    binary = [c.name for c in schema if c.type in ("binary", "large_binary")]
    if binary and table_format(first_path) == "csv":
        paths = [path for path, _, _ in described]
        _not_utf8(next((p for p in paths if first_undecodable(p, "utf-8")), first_path), binary[0])
    return schema, sum(rows for _, _, rows in described)


def columns_of(schema: Any) -> list[ColumnSchema]:
    return [ColumnSchema(f.name, str(f.type), bool(f.nullable)) for f in schema]


def write_parquet(data: Any, path: Path) -> None:
    """Write a pandas DataFrame or an Arrow table to Parquet, byte-for-byte reproducibly.

    The table's column names are checked first (:func:`check_schema`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = f"the {type(data).__name__}"
    if isinstance(data, pa.Table):
        table = data
    elif hasattr(data, "to_arrow"):  # polars and friends
        table = data.to_arrow()
    else:
        labels = getattr(data, "columns", None)
        if labels is not None:  # pandas refuses duplicates with a less precise message
            check_column_names((str(label) for label in labels), where)
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (TypeError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidSourceError(
                f"cannot convert {type(data).__name__} to a table: {exc}"
            ) from exc
    if table.num_columns == 0:
        raise InvalidSourceError("the table has no columns")
    check_schema(table.schema, where)
    pq.write_table(table, path, compression="zstd")


# -- what reads back ------------------------------------------------------------------


def check_column_names(names: Iterable[str], where: str, parent: str = "") -> None:
    """Refuse names that would not read back as given (the module's rules).

    ``where`` names the file (or the Python table) in the message; ``parent`` is the
    path of a struct column whose fields these are.
    """
    seen: dict[bytes, str] = {}
    for index, name in enumerate(names, 1):
        shown = _shown(parent + name)
        if name == "":
            place = (
                f"field {index} of column {_shown(parent[:-1])}" if parent else f"column {index}"
            )
            raise UnreadableTableError(f"{where}: {place} has an empty name")
        if len(name) > MAX_COLUMN_NAME:
            raise UnreadableTableError(
                f"{where}: column name {shown} is {len(name)} characters long; "
                f"the limit is {MAX_COLUMN_NAME}"
            )
        control = next((c for c in name if unicodedata.category(c) == "Cc"), None)
        if control is not None:
            raise UnreadableTableError(
                f"{where}: column name {shown} contains the control character {control!r}"
            )
        # bytes.lower() folds ASCII letters only, as DuckDB compares identifiers.
        folded = name.encode("utf-8", "surrogatepass").lower()
        other = seen.get(folded)
        if other == name:
            raise UnreadableTableError(f"{where}: duplicate column name {shown}")
        if other is not None:
            raise UnreadableTableError(
                f"{where}: column names {_shown(parent + other)} and {shown} differ only in "
                "case; DuckDB compares column names case-insensitively"
            )
        seen[folded] = name


def check_schema(schema: Any, where: str) -> None:
    """:func:`check_column_names` on an Arrow schema, struct fields at any depth included."""
    try:
        check_column_names((field.name for field in schema), where)
        for field in schema:
            _check_nested(field.type, where, field.name)
    except UnicodeDecodeError:  # pyarrow decodes a name when it is asked for it
        raise UnreadableTableError(f"{where}: a column name is not valid UTF-8") from None


def _check_nested(arrow_type: Any, where: str, path: str) -> None:
    import pyarrow.types as pat

    if pat.is_struct(arrow_type):
        fields = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
        check_column_names((f.name for f in fields), where, parent=path + ".")
        for f in fields:
            _check_nested(f.type, where, f"{path}.{f.name}")
    elif pat.is_map(arrow_type):
        _check_nested(arrow_type.key_type, where, path + "{key}")
        _check_nested(arrow_type.item_type, where, path + "{value}")
    elif (
        pat.is_list(arrow_type)
        or pat.is_large_list(arrow_type)
        or pat.is_fixed_size_list(arrow_type)
    ):
        _check_nested(arrow_type.value_type, where, path + "[]")


def _check_text_schema(schema: Any, path: Path, fmt: str) -> None:
    """Names (decodable, then :func:`check_schema`) and CSV columns read as ``binary``."""
    import pyarrow.types as pat

    try:
        [field.name for field in schema]
    except UnicodeDecodeError:
        found = first_undecodable(path, "utf-8")
        where = f" (line {found[0]}, byte {found[1]})" if found else ""
        raise UnreadableTableError(
            f"{path}: the column names are not valid UTF-8{where}{_ENCODING_HINT}"
        ) from None
    check_schema(schema, str(path))
    if fmt == "csv":
        for field in schema:
            if pat.is_binary(field.type) or pat.is_large_binary(field.type):
                _not_utf8(path, field.name)


_ENCODING_HINT = (
    "; commit it with its encoding (encoding='latin-1', dhub commit --encoding latin-1)"
)


def _not_utf8(path: Path, column: str) -> None:
    """Refuse a CSV column pyarrow could only read as bytes: it is not UTF-8 text."""
    found = first_undecodable(path, "utf-8")
    where = f" (first invalid byte at line {found[0]}, byte {found[1]})" if found else ""
    raise UnreadableTableError(
        f"{path}: column {_shown(column)} is not valid UTF-8 text{where}{_ENCODING_HINT}"
    )


def _check_text_cells(data: Any, path: Path, fmt: str, first_row: int) -> None:
    """Refuse a NUL in a string of a text format, and strings that are not UTF-8 (JSON)."""
    if fmt not in TEXT_FORMATS:
        return
    import pyarrow as pa
    import pyarrow.compute as pc

    for field, column in zip(data.schema, data.columns, strict=True):
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        offset = first_row
        for chunk in chunks:
            for name, strings, top in _string_arrays(chunk, field.name, top=True):
                if fmt == "jsonl":
                    try:
                        strings.validate(full=True)
                    except pa.ArrowInvalid:
                        found = first_undecodable(path, "utf-8")
                        where = f" (line {found[0]}, byte {found[1]})" if found else ""
                        raise UnreadableTableError(
                            f"{path}: column {_shown(name)} holds text that is not valid "
                            f"UTF-8{where}"
                        ) from None
                if not _may_hold_nul(strings):
                    continue
                has_nul = pc.match_substring(strings, "\x00")
                if pc.any(has_nul).as_py():
                    row = f" (row {offset + pc.index(has_nul, True).as_py() + 1})" if top else ""
                    raise UnreadableTableError(
                        f"{path}: column {_shown(name)} holds a NUL character{row}; "
                        f"{'CSV' if fmt == 'csv' else 'JSON lines'} text may not contain NUL"
                    )
            offset += len(chunk)


_NUL = re.compile(b"\x00")


def _may_hold_nul(strings: Any) -> bool:
    """A fast scan of the array's character buffer (it may hold bytes outside a slice,
    so a hit is confirmed value by value)."""
    data = strings.buffers()[2]
    return data is not None and _NUL.search(memoryview(data)) is not None


def _string_arrays(array: Any, name: str, top: bool) -> Iterator[tuple[str, Any, bool]]:
    """The string arrays in ``array`` (struct fields and list items included)."""
    import pyarrow.types as pat

    kind = array.type
    if pat.is_string(kind) or pat.is_large_string(kind):
        yield name, array, top
    elif pat.is_struct(kind):
        for index, child in enumerate(array.flatten()):
            yield from _string_arrays(child, f"{name}.{kind.field(index).name}", False)
    elif pat.is_list(kind) or pat.is_large_list(kind) or pat.is_fixed_size_list(kind):
        yield from _string_arrays(array.flatten(), name + "[]", False)


def first_undecodable(path: Path, encoding: str) -> tuple[int, int] | None:
    """(line, byte offset) of the first byte ``encoding`` cannot decode, or ``None``.

    Lines count from 1, byte offsets from 0. Read in chunks, never whole.
    """
    try:
        _transcode_or_locate(path, None, encoding)
    except _Undecodable as exc:
        return exc.line, exc.offset
    return None


class _Undecodable(Exception):
    def __init__(self, line: int, offset: int) -> None:
        super().__init__(f"line {line}, byte {offset}")
        self.line, self.offset = line, offset


def transcode(source: Path, target: Path | None, encoding: str) -> None:
    """Decode ``source`` from ``encoding`` and write it to ``target`` as UTF-8.

    ``target=None`` only checks it decodes. Raises :class:`UnreadableTableError` naming
    the line and byte offset of the first byte that does not decode.
    """
    try:
        _transcode_or_locate(source, target, encoding)
    except _Undecodable as exc:
        raise UnreadableTableError(
            f"{source} is not valid {encoding} text (line {exc.line}, byte {exc.offset})"
        ) from None


def _transcode_or_locate(source: Path, target: Path | None, encoding: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)()
    base, newlines = 0, 0
    with (
        source.open("rb") as reader,
        target.open("w", encoding="utf-8", newline="") if target else _NoWriter() as writer,
    ):
        while True:
            chunk = reader.read(_CHUNK)
            state = decoder.getstate()
            pending = state[0] if isinstance(state[0], bytes) else b""
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data = pending + chunk
                before = newlines - pending.count(b"\n") + data[: exc.start].count(b"\n")
                raise _Undecodable(before + 1, base - len(pending) + exc.start) from None
            writer.write(text)
            if not chunk:
                return
            base += len(chunk)
            newlines += chunk.count(b"\n")


class _NoWriter:
    def __enter__(self) -> _NoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, text: str) -> int:
        return len(text)


def _shown(name: str) -> str:
    """A name as a message shows it: quoted, escaped, cut after 40 characters."""
    return repr(name) if len(name) <= _SHOWN else repr(name[:_SHOWN]) + "…"


def _describe(columns: Sequence[ColumnSchema]) -> str:
    return "(" + ", ".join(f"{c.name}: {c.type}" for c in columns) + ")"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
