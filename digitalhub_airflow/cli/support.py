"""What every ``dhub`` command shares: output helpers and the command-adding callable."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
        import json

        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text)


#: Commands quicker than this show no progress at all.
PROGRESS_AFTER_S = 1.0


@contextmanager
def working(args: argparse.Namespace, label: str) -> Iterator[None]:
    """``label … 3s`` on stderr while a long command runs: after a second, on a terminal
    (redrawn in place) or with ``--progress`` (a line every 5 s in a log). Off with
    ``--json`` unless asked for; stdout, where results go, never carries it."""
    tty = sys.stderr.isatty()
    if not (args.progress or (tty and not args.json)):
        yield
        return
    import threading
    import time

    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        shown, due = False, PROGRESS_AFTER_S
        while not done.wait(0.25):
            elapsed = time.monotonic() - started
            if elapsed < due:
                continue
            text = f"{label} … {elapsed:.0f}s"
            sys.stderr.write(f"\r\033[K{text}" if tty else f"{text}\n")
            sys.stderr.flush()
            shown, due = True, (elapsed if tty else elapsed + 5.0)
        if shown and tty:
            sys.stderr.write("\r\033[K")  # the result prints on a clean line
            sys.stderr.flush()

    ticker = threading.Thread(target=tick, name="dhub-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even off a terminal or with --json",
    )
