"""What a commit reads: a file, a folder, a glob, a store URL or a Python table.

A URL (``s3://bucket/key``, or any scheme a store backend serves) is listed and
downloaded by its scheme's backend; ``file://`` URLs and plain paths are read in place.

Each source becomes a list of (relative path, local file). Relative paths are the names
files keep inside the version; they are checked so none can escape a folder on ``get``.

With ``encoding=`` (CSV files only), each file is decoded from that encoding and the
version stores it transcoded to UTF-8, so every reader reads its text back as text; a
byte the encoding cannot decode refuses the commit, naming its line and byte offset.
"""

from __future__ import annotations

import codecs
import glob
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from digitalhub_airflow.datasets.tables import table_format, transcode, write_parquet
from digitalhub_airflow.errors import InvalidSourceError
from digitalhub_airflow.store import (
    BlobStore,
    StoreBackendError,
    UnknownStoreSchemeError,
    list_source,
    local_path,
)

GLOB_CHARS = set("*?[")
MAX_PATH = 1024


@dataclass(frozen=True)
class SourceFile:
    relpath: str
    path: Path
    #: False for temporary copies (downloads, serialised tables): never worth caching.
    cacheable: bool = True


def safe_relpath(relpath: str) -> str:
    """A normalised relative POSIX path, refusing absolute paths and ``..``."""
    pure = PurePosixPath(relpath.replace("\\", "/"))
    if pure.is_absolute() or not pure.parts or any(p in ("..", "") for p in pure.parts):
        raise InvalidSourceError(
            f"file path {relpath!r} must be relative and stay inside the version"
        )
    if any(ord(c) < 32 for c in relpath):
        raise InvalidSourceError(f"file path {relpath!r} contains control characters")
    if len(pure.as_posix()) > MAX_PATH:
        raise InvalidSourceError(f"file path {relpath[:40]!r}... is longer than {MAX_PATH}")
    return pure.as_posix()


def check_unique(files: list[SourceFile]) -> list[SourceFile]:
    """Refuse two files that would get the same path inside the version."""
    seen: dict[str, Path] = {}
    for source in files:
        if source.relpath in seen:
            raise InvalidSourceError(
                f"{seen[source.relpath]} and {source.path} both map to {source.relpath!r}"
            )
        seen[source.relpath] = source.path
    return files


def _walk(folder: Path, prefix: str = "") -> list[SourceFile]:
    """Regular files below ``folder`` in path order; ``scandir`` avoids a stat per entry."""
    files = []
    with os.scandir(folder) as entries:
        ordered = sorted(entries, key=lambda e: e.name)
    for entry in ordered:
        relpath = prefix + entry.name
        if entry.is_dir():
            files.extend(_walk(Path(entry.path), relpath + "/"))
        elif entry.is_file():
            files.append(SourceFile(safe_relpath(relpath), Path(entry.path)))
    return files


def collect_local(source: str | os.PathLike[str]) -> list[SourceFile]:
    """Files named by a path, a folder or a glob, in a stable order."""
    text = os.fspath(source)
    if GLOB_CHARS & set(text):
        matches = sorted(Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file())
        if not matches:
            raise InvalidSourceError(f"glob {text!r} matches no file")
        base = Path(os.path.commonpath([m.parent for m in matches]))
        return [SourceFile(safe_relpath(m.relative_to(base).as_posix()), m) for m in matches]
    path = Path(text).expanduser()
    if path.is_dir():
        files = _walk(path)
        if not files:
            raise InvalidSourceError(f"folder {path} holds no file")
        return files
    if path.is_file():
        if path.stat().st_size == 0:
            raise InvalidSourceError(f"{path} is empty")
        return [SourceFile(safe_relpath(path.name), path)]
    raise InvalidSourceError(f"source {path} does not exist")


def common_table_format(files: list[SourceFile]) -> str | None:
    """The one table format all files share, or ``None``."""
    formats = {table_format(f.path) for f in files}
    if len(formats) == 1:
        return formats.pop()
    return None


@contextmanager
def materialised(
    source: Any,
    store: BlobStore | None = None,
    client: Any | None = None,
    encoding: str | None = None,
) -> Iterator[list[SourceFile]]:
    """Yield local files for any supported source; temporary copies are removed after.

    ``store`` (the hub's) may lend its connection to read a URL of its own scheme;
    ``client``, a ready client for the URL's backend, is used first. ``encoding``: the
    text encoding of CSV files, which are then yielded transcoded to UTF-8.
    """
    if encoding is not None:
        encoding = _check_encoding(encoding, source)
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        path = local_path(text)
        with (
            nullcontext(collect_local(path))
            if path is not None
            else _downloaded(text, store, client)
        ) as files:
            if encoding is None:
                yield files
            else:
                with _transcoded(files, encoding) as decoded:
                    yield decoded
    else:
        with tempfile.TemporaryDirectory(prefix="dhub-table-") as tmp:
            target = Path(tmp) / "data.parquet"
            write_parquet(source, target)
            yield [SourceFile("data.parquet", target, cacheable=False)]


def _check_encoding(encoding: str, source: Any) -> str:
    """The codec's canonical name; refused for anything but files and unknown codecs."""
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidSourceError(
            f"encoding= applies to CSV files; a {type(source).__name__} is already decoded"
        )
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise InvalidSourceError(f"unknown text encoding {encoding!r}") from None
    if not getattr(info, "_is_text_encoding", True):
        raise InvalidSourceError(f"{encoding!r} is not a text encoding")
    return info.name


@contextmanager
def _transcoded(files: list[SourceFile], encoding: str) -> Iterator[list[SourceFile]]:
    """Copies of CSV ``files`` decoded from ``encoding`` into UTF-8."""
    others = sorted({f.relpath for f in files if table_format(f.path) != "csv"})
    if others:
        raise InvalidSourceError(
            f"encoding= applies to CSV files only; {', '.join(others[:3])} "
            f"{'is' if len(others) == 1 else 'are'} not CSV"
        )
    with tempfile.TemporaryDirectory(prefix="dhub-decoded-") as tmp:
        decoded = []
        for source in files:
            target = Path(tmp) / source.relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            transcode(source.path, target, encoding)
            decoded.append(SourceFile(source.relpath, target, cacheable=False))
        yield decoded


@contextmanager
def _downloaded(
    url: str, store: BlobStore | None, client: Any | None
) -> Iterator[list[SourceFile]]:
    """Download the object a URL names, or every object under it, to a temporary folder."""
    try:
        remote = list_source(url, store, client)
    except (UnknownStoreSchemeError, StoreBackendError) as exc:
        raise InvalidSourceError(f"cannot read source {url!r}: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="dhub-src-") as tmp:
        files = []
        for item in remote:
            rel = safe_relpath(item.relpath)
            local = Path(tmp) / rel
            local.parent.mkdir(parents=True, exist_ok=True)
            item.download(local)
            files.append(SourceFile(rel, local, cacheable=False))
        yield files
