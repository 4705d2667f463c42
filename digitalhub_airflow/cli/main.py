"""``dhub``: the command line over :class:`DataHub`.

Every command prints a human summary, or stable JSON with ``--json``; every failure is
one line on stderr and a non-zero exit code that says which kind of failure it was.
Only the chosen command's module loads what it needs: ``dhub --help`` imports no
SQLAlchemy, pandas, pyarrow, Great Expectations or MLflow.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import import_module
from typing import NoReturn

from digitalhub_airflow.errors import CatalogError, DhubError

#: The modules under ``digitalhub_airflow.cli`` that hold commands, in ``--help`` order.
FEATURES = (
    "datasets",
    "quality",
    "lineage",
    "serving",
    "access",
    "dataservice",
    "reports",
    "features",
)


#: What ``dhub --help`` says above the commands (the module docstring is for developers).
DESCRIPTION = "dhub: versioned datasets, data quality, lineage and model serving"


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, read only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        from importlib.metadata import version

        print(f"dhub {version('digitalhub-airflow')}")
        parser.exit(0)


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line, like every other ``dhub`` error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def one_line(message: str) -> str:
    """A multi-line message (a library's, with a caret under the text) on one line."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def _chosen(argv: Sequence[str], commands: dict[str, str]) -> str | None:
    """The command ``argv`` names: the first word that is one (options come after it)."""
    return next((word for word in argv if word in commands), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the module of the command in ``argv`` registers its arguments."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = _Parser(prog="dhub", description=DESCRIPTION)
    parser.add_argument("--version", action=_Version)
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {name: import_module(f"digitalhub_airflow.cli.{name}") for name in FEATURES}
    owner = {cmd: name for name, module in modules.items() for cmd in module.COMMANDS}
    chosen = _chosen(words, owner)
    parsers: dict[str, argparse.ArgumentParser] = {}
    for module in modules.values():
        for cmd, help_text in module.COMMANDS.items():
            parsers[cmd] = sub.add_parser(
                cmd, parents=[common], help=help_text, description=help_text
            )

    def add(name: str, func: Callable[..., int]) -> argparse.ArgumentParser:
        parsers[name].set_defaults(func=func)
        return parsers[name]

    if chosen is not None:
        modules[owner[chosen]].register(add)
    return parser


@contextmanager
def _starting_up() -> Iterator[None]:
    """No garbage collection while the modules load: start-up allocates many objects
    and frees almost none, so the collector's passes over them (some 15% of a catalog
    command's time) find nothing."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    with _starting_up():
        args = build_parser(argv).parse_args(argv)
        from sqlalchemy.exc import SQLAlchemyError

        from digitalhub_airflow.hub import DataHub

    try:
        with DataHub.from_settings() as hub:
            return int(args.func(hub, args))
    except DhubError as exc:
        print(f"dhub: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except SQLAlchemyError as exc:  # the catalog went away mid-command
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"dhub: error: catalog: {detail}", file=sys.stderr)
        return CatalogError.exit_code
    except KeyboardInterrupt:
        print("dhub: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dhub log … | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 0
