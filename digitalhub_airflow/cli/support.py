"""What every ``dhub`` command shares: output helpers and the command-adding callable."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from digitalhub_airflow.datasets.versions import VersionInfo


class AddCommand(Protocol):
    """``add(name, func)`` -> the sub-parser of a command listed in its module's
    ``COMMANDS``, to which the command adds its arguments.

    ``func(hub, args)`` returns the exit code; ``--json`` is already on every command.
    """

    def __call__(self, name: str, func: Callable[..., int]) -> argparse.ArgumentParser: ...


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def describe(info: VersionInfo) -> str:
    rows = f"{info.row_count} rows" if info.row_count is not None else f"{info.file_count} files"
    aliases = f" [{', '.join(info.aliases)}]" if info.aliases else ""
    quality = f" ({info.quality})" if info.quality else ""
    return (
        f"v{info.seq:<4} {info.short_id}  {info.created_at:%Y-%m-%d %H:%M:%S}  {rows:>12}  "
        f"{human_size(info.size_bytes):>10}{aliases}{quality}  {info.message}"
    )


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text)
