"""Reading tables just enough to know them: Arrow schema and row count, streamed.

A table is never loaded whole: CSV and JSON lines are scanned batch by batch, Parquet
answers from its footer. A file that does not parse is refused before anything is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from digitalhub_airflow.datasets.manifest import ColumnSchema
from digitalhub_airflow.errors import InvalidSourceError

TABLE_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def table_format(path: Path) -> str | None:
    """The table format implied by a file name, or ``None`` for any other file."""
    return TABLE_FORMATS.get(path.suffix.lower())


def inspect_table(path: Path, fmt: str) -> tuple[list[ColumnSchema], int]:
    """Return (columns, row count) of one file, raising on unparsable content."""
    import pyarrow as pa

    if path.stat().st_size == 0:
        raise InvalidSourceError(f"{path} is empty")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            return columns_of(parquet.schema_arrow), parquet.metadata.num_rows
        if fmt == "csv":
            import pyarrow.csv as pacsv

            reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=8 << 20))
        elif fmt == "jsonl":
            import pyarrow.json as pajson

            reader = pajson.open_json(path, read_options=pajson.ReadOptions(block_size=8 << 20))
        else:
            raise InvalidSourceError(f"{path}: unknown table format {fmt!r}")
        rows = 0
        try:
            for batch in reader:
                rows += batch.num_rows
        except pa.ArrowInvalid:
            if fmt != "csv":
                raise
            # Streaming fixes column types from the first block; a later block may need
            # a wider type. The whole-file reader infers types over every block.
            table = pacsv.read_csv(path)
            return columns_of(table.schema), table.num_rows
        return columns_of(reader.schema), rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise InvalidSourceError(f"{path} is not valid {fmt}: {_first_line(exc)}") from exc


def combine_files(
    described: Sequence[tuple[Path, list[ColumnSchema], int]],
) -> tuple[list[ColumnSchema], int]:
    """One schema and the total rows of a table stored as several files of one format."""
    if not described:
        raise InvalidSourceError("no table files given")
    first_path, schema, _ = described[0]
    for path, columns, _rows in described[1:]:
        if columns != schema:
            raise InvalidSourceError(
                f"{path} has columns {_describe(columns)}, {first_path} has {_describe(schema)}"
            )
    return schema, sum(rows for _, _, rows in described)


def columns_of(schema: Any) -> list[ColumnSchema]:
    return [ColumnSchema(f.name, str(f.type), bool(f.nullable)) for f in schema]


def write_parquet(data: Any, path: Path) -> None:
    """Write a pandas DataFrame or an Arrow table to Parquet, byte-for-byte reproducibly."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(data, pa.Table):
        table = data
    elif hasattr(data, "to_arrow"):  # polars and friends
        table = data.to_arrow()
    else:
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (TypeError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidSourceError(
                f"cannot convert {type(data).__name__} to a table: {exc}"
            ) from exc
    if table.num_columns == 0:
        raise InvalidSourceError("the table has no columns")
    pq.write_table(table, path, compression="zstd")


def _describe(columns: Sequence[ColumnSchema]) -> str:
    return "(" + ", ".join(f"{c.name}: {c.type}" for c in columns) + ")"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
