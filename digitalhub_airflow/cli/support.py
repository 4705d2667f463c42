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


def _number(kind: type[int] | type[float], low: float, high: float | None, what: str) -> Any:
    """An argparse ``type`` that refuses numbers outside ``[low, high]`` in one line."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


#: argparse types of the CLI's numeric options.
positive_int = _number(int, 1, None, "a whole number >= 1")
count = _number(int, 0, None, "a whole number >= 0")
port_number = _number(int, 1, 65535, "a port number (1-65535)")
seconds = _number(float, 0.001, None, "a number of seconds > 0")
share = _number(float, 0.0, 1.0, "a share between 0 and 1")


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
