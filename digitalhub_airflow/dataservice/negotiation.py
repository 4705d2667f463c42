"""Content negotiation: one page of rows as JSON, CSV, Parquet or an Arrow IPC stream.

The ``Accept`` header picks (quality values honoured, ``*/*`` and no header mean JSON,
as PostgREST answers); a type the server cannot produce is a 406 listing the ones it
can. JSON is an array of row objects with NaN and infinities as ``null`` (JSON has no
such numbers) and dates, times and decimals as ISO/decimal text.
"""

from __future__ import annotations

import io
import json
import math
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import DataRequestError

if TYPE_CHECKING:
    import pyarrow as pa

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
ARROW = "application/vnd.apache.arrow.stream"
#: Media types served, by every name clients use for them.
ALIASES = {
    JSON: JSON,
    CSV: CSV,
    PARQUET: PARQUET,
    "application/parquet": PARQUET,
    "application/x-parquet": PARQUET,
    ARROW: ARROW,
    "application/vnd.apache.arrow.file": ARROW,
}
MAX_ACCEPT_LENGTH = 1024


def choose(accept: str | None) -> str:
    """The media type to answer with for an ``Accept`` header."""
    if not accept or not accept.strip():
        return JSON
    if len(accept) > MAX_ACCEPT_LENGTH:
        raise DataRequestError("the Accept header is too long", 406, "PGRST107")
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *options = (p.strip() for p in part.split(";"))
        quality = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        served = JSON if media in ("*/*", "application/*") else ALIASES.get(media)
        if media == "text/*":
            served = CSV
        if served is not None and quality > 0:
            ranked.append((-quality, position, served))
    if not ranked:
        raise DataRequestError(
            f"none of the accepted types ({accept[:100]}) is served; "
            f"ask for {', '.join(sorted(set(ALIASES.values())))}",
            406,
            "PGRST107",
        )
    return min(ranked)[2]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _text(value: Any) -> Any:
    """``json.dumps`` fallback: dates, times, decimals and bytes as text."""
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def to_json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN as None)."""
    return [_plain(row) for row in table.to_pylist()]


def encode(table: pa.Table, media: str) -> bytes:
    """``table`` in the chosen media type."""
    if media == JSON:
        return json.dumps(to_json_rows(table), default=_text, allow_nan=False).encode()
    sink = io.BytesIO()
    if media == CSV:
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, sink)
    elif media == PARQUET:
        import pyarrow.parquet as pq

        pq.write_table(table, sink)
    else:
        import pyarrow as pa

        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return sink.getvalue()
