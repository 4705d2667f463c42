"""``dhub`` commands of versioned datasets: init, commit, log, show, diff, get, tag, verify, gc."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from digitalhub_airflow.cli.support import AddCommand, describe, emit, human_size, positive_int
from digitalhub_airflow.errors import IntegrityError

if TYPE_CHECKING:
    from datetime import timedelta

    from digitalhub_airflow.hub import DataHub

#: The commands of this module and their one-line help (``dhub --help`` lists them
#: without importing what they need).
COMMANDS = {
    "init": "create or upgrade the catalog (idempotent)",
    "ls": "list the projects, or a project's datasets with their latest version",
    "commit": "commit a file, folder, glob or s3:// URI as a new version",
    "log": "list a dataset's versions, newest first",
    "show": "show one version: schema, files, producer",
    "diff": "schema, row and file differences between two versions",
    "get": "materialise a version into a folder, verifying every file",
    "tag": "point an alias at a version",
    "verify": "re-hash one version's blobs, or the whole store",
    "gc": "delete unreferenced blobs older than a grace period",
}

PROGRESS_MIN_BYTES = 64 * 1024 * 1024
DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``1h``, ``7d`` -> timedelta."""
    from datetime import timedelta

    match = DURATION_RE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 1h or 7d")
    return timedelta(**{UNITS[match.group(2)]: float(match.group(1))})


@contextmanager
def progress_bar(total: int, label: str, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A tqdm bar on stderr for long transfers, only on a terminal."""
    if not enabled or total < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="B", unit_scale=True, desc=label, file=sys.stderr) as bar:
        yield bar.update


def source_size(source: str) -> int:
    from pathlib import Path

    path = Path(source)
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def cmd_init(hub: DataHub, args: argparse.Namespace) -> int:
    revision = hub.init()
    emit(
        args,
        {"catalog": hub.catalog.safe_url, "store": hub.store.url, "revision": revision},
        f"catalog {hub.catalog.safe_url} at revision {revision}; store {hub.store.url}",
    )
    return 0


def cmd_ls(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.browse.read_model import list_datasets, list_projects

    if args.project is None:
        projects = list_projects(hub)
        lines = [f"{p['name']:<32} {p['datasets']:>5} datasets" for p in projects]
        emit(args, projects, "\n".join(lines) or "no projects")
        return 0
    datasets = list_datasets(hub, args.project)
    lines = []
    for d in datasets:
        latest = d["latest"] or {}
        rows = latest.get("row_count")
        size = f"{rows} rows" if rows is not None else f"{latest.get('file_count', 0)} files"
        lines.append(
            f"{d['key']:<48} {d['versions']:>4} versions  {size:>12}  "
            f"{human_size(latest.get('size_bytes')):>10}  {latest.get('quality') or ''}"
        )
    emit(args, datasets, "\n".join(lines) or f"no datasets in {args.project}")
    return 0


def cmd_commit(hub: DataHub, args: argparse.Namespace) -> int:
    with progress_bar(source_size(args.source), "commit", not args.json) as progress:
        result = hub.commit(
            args.target,
            args.source,
            kind=args.kind,
            message=args.message,
            schema_policy=args.schema_policy,
            parent=args.parent,
            aliases=args.alias,
            progress=progress,
            encoding=args.encoding,
        )
    state = "committed" if result.created else "unchanged"
    emit(
        args,
        result.to_json(),
        f"{result.key}\n{state} v{result.version.seq}: {result.blobs_written} blobs written, "
        f"{result.blobs_skipped} already stored",
    )
    return 0


def cmd_log(hub: DataHub, args: argparse.Namespace) -> int:
    versions = hub.log(args.key, args.limit)
    emit(args, [v.to_json() for v in versions], "\n".join(describe(v) for v in versions))
    return 0


def cmd_show(hub: DataHub, args: argparse.Namespace) -> int:
    info = hub.resolve(args.key)
    files = hub.files(info.key)
    lines = [
        info.key,
        f"sequence  v{info.seq}",
        f"kind      {info.kind} ({info.format})",
        f"rows      {info.row_count if info.row_count is not None else '-'}",
        f"size      {human_size(info.size_bytes)} in {info.file_count} files",
        f"parent    {info.parent or '-'}",
        f"aliases   {', '.join(info.aliases) or '-'}",
        f"quality   {info.quality or '-'}",
        f"created   {info.created_at.isoformat()} by {info.created_by}",
        f"message   {info.message}",
    ]
    if info.producer:
        lines.append("producer  " + " ".join(f"{k}={v}" for k, v in sorted(info.producer.items())))
    if info.schema:
        lines.append("schema")
        lines += [f"  {c['name']}: {c['type']}" for c in info.schema]
    lines.append("files")
    lines += [f"  {f['path']}  {human_size(f['size'])}  {f['digest'][:16]}" for f in files]
    emit(args, {**info.to_json(), "files": files}, "\n".join(lines))
    return 0


def cmd_diff(hub: DataHub, args: argparse.Namespace) -> int:
    diff = hub.diff(args.a, args.b)
    schema = diff.schema
    lines = [f"--- {diff.a.key} (v{diff.a.seq})", f"+++ {diff.b.key} (v{diff.b.seq})"]
    lines += [f"+ column {c['name']}: {c['type']}" for c in schema["added"]]
    lines += [f"- column {c['name']}: {c['type']}" for c in schema["removed"]]
    lines += [f"~ column {c['name']}: {c['from']} -> {c['to']}" for c in schema["retyped"]]
    if diff.a.row_count is not None or diff.b.row_count is not None:
        lines.append(f"rows: {diff.a.row_count} -> {diff.b.row_count}")
    lines.append(f"size: {human_size(diff.a.size_bytes)} -> {human_size(diff.b.size_bytes)}")
    lines += [f"+ file {p}" for p in diff.files_added]
    lines += [f"- file {p}" for p in diff.files_removed]
    lines += [f"~ file {p}" for p in diff.files_changed]
    data = diff.to_json()
    if args.rows is not None:
        from digitalhub_airflow.datasets.row_diff import diff_rows

        rows = diff_rows(hub, diff.a.key, diff.b.key, args.rows)
        data["row_diff"] = rows.to_json()
        lines += rows.lines()
    emit(args, data, "\n".join(lines))
    return 0


def key_columns(text: str) -> list[str]:
    """``--rows id`` or ``--rows shop,day``: the key column names, none empty or repeated."""
    keys = [k.strip() for k in text.split(",")]
    if not all(keys) or len(set(keys)) != len(keys):
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of column names like id,day")
    return keys


def cmd_get(hub: DataHub, args: argparse.Namespace) -> int:
    info = hub.resolve(args.key)
    with progress_bar(info.size_bytes, "get", not args.json) as progress:
        paths = hub.get(info.key, args.dest, progress)
    emit(
        args,
        {"key": info.key, "files": [str(p) for p in paths]},
        f"{info.key}: {len(paths)} files verified into {args.dest}",
    )
    return 0


def cmd_tag(hub: DataHub, args: argparse.Namespace) -> int:
    info = hub.tag(args.key, args.alias)
    emit(args, info.to_json(), f"@{args.alias} -> {info.key} (v{info.seq})")
    return 0


def cmd_verify(hub: DataHub, args: argparse.Namespace) -> int:
    if args.repair is not None:
        return _verify_and_repair(hub, args)
    total = hub.resolve(args.key).size_bytes if args.key else 0
    with progress_bar(total, "verify", not args.json) as progress:
        report = hub.verify(args.key, progress)
    lines = [f"checked {report.checked} blobs ({human_size(report.bytes_checked)})"]
    lines += [f"corrupt blob {d} at {hub.store.location(d)}" for d in report.corrupt]
    lines += [f"missing blob {d}" for d in report.missing]
    lines += [
        f"{c.state} chunk {c.digest} in pack {c.pack}, used by {', '.join(c.versions or c.files)}"
        for c in report.chunks
    ]
    emit(args, report.to_json(), "\n".join(lines))
    if not report.ok:
        raise IntegrityError(
            f"{len(report.corrupt)} corrupt and {len(report.missing)} missing blobs: "
            + ", ".join(report.corrupt + report.missing),
            report.corrupt + report.missing,
        )
    return 0


def _verify_and_repair(hub: DataHub, args: argparse.Namespace) -> int:
    """``verify [KEY] --repair FROM``: restore damaged blobs; fail if any stays broken."""
    total = hub.resolve(args.key).size_bytes if args.key else 0
    with progress_bar(total, "verify", not args.json) as progress:
        report = hub.repair(args.repair, args.key, progress)
    lines = [f"checked {report.checked} blobs ({human_size(report.bytes_checked)})"]
    lines += [f"repaired blob {d} from {report.source}" for d in report.repaired]
    why = {d: "refused: its copy there does not hash to it" for d in report.refused}
    why.update({d: f"not found in {report.source}" for d in report.not_found})
    lines += [f"corrupt blob {d} at {hub.store.location(d)} ({why[d]})" for d in report.corrupt]
    lines += [f"missing blob {d} ({why[d]})" for d in report.missing]
    emit(args, report.to_json(), "\n".join(lines))
    if not report.ok:
        broken = report.corrupt + report.missing
        raise IntegrityError(
            f"{len(report.repaired)} blobs repaired; still {len(report.corrupt)} corrupt and "
            f"{len(report.missing)} missing: " + ", ".join(broken),
            broken,
        )
    return 0


def cmd_gc(hub: DataHub, args: argparse.Namespace) -> int:
    report = hub.gc(args.grace, args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    emit(
        args,
        report.to_json(),
        f"scanned {report.scanned} blobs; {verb} {len(report.deleted)} "
        f"({human_size(report.bytes_freed)}); kept {report.kept_young} younger than {args.grace}",
    )
    return 0


def register(add: AddCommand) -> None:
    """Add the dataset commands to the ``dhub`` parser."""
    from datetime import timedelta

    add("init", cmd_init)
    p = add("ls", cmd_ls)
    p.add_argument("project", nargs="?", help="list this project's datasets")
    p = add("commit", cmd_commit)
    p.add_argument("target", help="<project>/<name> or store://<project>/dataitem/<kind>/<name>")
    p.add_argument("source", help="a file, a folder, a quoted glob or an s3:// URI")
    p.add_argument(
        "--kind", choices=["table", "files"], help="default: table for CSV/Parquet/JSONL"
    )
    p.add_argument("-m", "--message", default="")
    p.add_argument("--schema-policy", choices=["any", "additive"], default="any")
    p.add_argument("--parent", help="fail unless the latest version is this id (optimistic lock)")
    p.add_argument("--alias", action="append", default=[], help="also move this alias (repeatable)")
    p.add_argument("--encoding", help="text encoding of CSV files that are not UTF-8 (latin-1 …)")
    p = add("log", cmd_log)
    p.add_argument("key")
    p.add_argument("-n", "--limit", type=positive_int)
    p = add("show", cmd_show)
    p.add_argument("key")
    p = add("diff", cmd_diff)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument(
        "--rows",
        type=key_columns,
        metavar="KEY_COLUMNS",
        help="also rows added, removed and changed, matched by these comma-separated columns",
    )
    p = add("get", cmd_get)
    p.add_argument("key")
    p.add_argument("dest")
    p = add("tag", cmd_tag)
    p.add_argument("key")
    p.add_argument("alias")
    p = add("verify", cmd_verify)
    p.add_argument("key", nargs="?")
    p.add_argument(
        "--repair",
        metavar="FROM",
        help="restore corrupt or missing blobs from FROM: a store URL (s3://…), a folder "
        "in a store's layout (blobs/xx/<digest>) or any folder (its files are hashed)",
    )
    p = add("gc", cmd_gc)
    p.add_argument("--grace", type=parse_duration, default=timedelta(hours=1))
    p.add_argument("--dry-run", action="store_true")
