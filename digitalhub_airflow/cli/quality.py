"""``dhub`` commands for data quality: validate, results, profile, drift, suggest-suite,
release."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.cli.support import AddCommand, add_progress, emit, human_size, working

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

#: The commands of this module and their one-line help (``dhub --help`` lists them
#: without importing what they need).
COMMANDS = {
    "validate": "validate a dataset version with a GX suite file or key",
    "results": "list a version's stored validation results, newest first",
    "profile": "profile a table version (stored once per version)",
    "drift": "compare two versions: PSI, Jensen-Shannon, schema, rows",
    "suggest-suite": "write a starter suite from a version's profile",
    "release": "let a quarantined version through after review",
}


def cmd_validate(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.quality.validate import validate_dataset

    with working(args, f"validating {args.key}"):
        outcome = validate_dataset(
            hub,
            args.key,
            args.suite,
            on_failure=args.on_failure,
            result_format=args.result_format,
            force=args.force,
            engine=args.engine,
        )
    emit(args, outcome.to_json(), outcome.report())
    outcome.raise_for_failure()
    return 0


def cmd_results(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.quality.results import describe_failure, stored_results

    found = stored_results(hub, args.key)
    lines = []
    for r in found:
        stats = r["statistics"]
        lines.append(
            f"{r['created_at'][:19]}  {'passed' if r['success'] else 'FAILED'}  "
            f"{stats.get('successful_expectations')}/{stats.get('evaluated_expectations')}  "
            f"{r['suite']}"
        )
        lines += [f"    - {describe_failure(f)}" for f in r["failed_expectations"]]
    emit(args, found, "\n".join(lines) or "no validation results")
    return 0


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def profile_lines(profile: dict[str, Any]) -> list[str]:
    lines = [
        f"{profile['version']}",
        f"{profile['row_count']} rows, {profile['column_count']} columns, "
        f"{human_size(profile.get('bytes'))}",
        f"{'column':<24} {'type':<14} {'nulls':>8} {'distinct':>9} {'min':>11} "
        f"{'mean':>11} {'max':>11}  top",
    ]
    for c in profile["columns"]:
        distinct = _fmt(c.get("distinct")) + ("" if c.get("distinct_exact", True) else "~")
        top = ", ".join(f"{v['value']}({v['count']})" for v in (c.get("top_values") or [])[:3])
        lines.append(
            f"{c['name'][:24]:<24} {c['type'][:14]:<14} {c['nulls']:>8} {distinct:>9} "
            f"{_fmt(c.get('min'))[:11]:>11} {_fmt(c.get('mean'))[:11]:>11} "
            f"{_fmt(c.get('max'))[:11]:>11}  {top}"
        )
    return lines


def cmd_profile(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.quality.profiles import profile_dataset

    with working(args, f"profiling {args.key}"):
        _, profile = profile_dataset(hub, args.key, force=args.force)
    emit(args, profile, "\n".join(profile_lines(profile)))
    return 0


def cmd_drift(hub: DataHub, args: argparse.Namespace) -> int:
    from dataclasses import fields

    from digitalhub_airflow.quality.drift import Thresholds, compare_versions, raise_for_drift

    thresholds = Thresholds(**{f.name: getattr(args, f.name) for f in fields(Thresholds)})
    with working(args, f"comparing {args.reference} with {args.current}"):
        report = compare_versions(hub, args.reference, args.current, thresholds)
    emit(args, report, "\n".join(drift_lines(report)))
    raise_for_drift(report)
    return 0


def drift_lines(report: dict[str, Any]) -> list[str]:
    from digitalhub_airflow.quality.drift import column_problems

    rows = report["row_count"]
    change = rows["change"]
    lines = [
        f"--- {report['reference']}",
        f"+++ {report['current']}",
        f"status {report['status'].upper()}",
        f"rows {rows['reference']} -> {rows['current']}"
        + (f" ({change:+.1%})" if change is not None else "")
        + f"  [{report['checks']['row_count']}]",
    ]
    schema = report["schema"]
    lines += [f"+ column {c['name']}: {c['type']}" for c in schema["added"]]
    lines += [f"- column {c['name']}: {c['type']}" for c in schema["removed"]]
    lines += [f"~ column {c['name']}: {c['from']} -> {c['to']}" for c in schema["retyped"]]
    for c in report["columns"]:
        metric = f"{c['metric']}={c['value']:.4f}" if c["metric"] else "no distribution"
        why = "; ".join(
            column_problems(c, "fail") + [f"{p} (warn)" for p in column_problems(c, "warn")]
        )
        lines.append(f"  {c['name']:<24} {metric:<22} {c['status']:<5} {why}".rstrip())
    return lines


def cmd_suggest_suite(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.quality.suggest import as_suite_name, suggest_suite, write_suite

    content = suggest_suite(hub, args.key)
    path = write_suite(content, args.output or f"{as_suite_name(content['name'])}.json", args.force)
    emit(
        args,
        {"path": str(path), "suite": content},
        f"wrote {path}: {len(content['expectations'])} expectations",
    )
    return 0


def cmd_release(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.quality.state import release

    info = release(hub, args.key, args.message)
    emit(args, info.to_json(), f"released {info.key} (v{info.seq}): {info.quality}")
    return 0


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "off") else float(text)


def register(add: AddCommand) -> None:
    """Add the data-quality commands to the ``dhub`` parser."""
    from dataclasses import fields

    from digitalhub_airflow.quality.drift import STATUSES, Thresholds
    from digitalhub_airflow.quality.validate import ENGINES

    p = add("validate", cmd_validate)
    p.add_argument("key")
    p.add_argument("--suite", required=True, help="a .json/.yaml suite file or a suite key")
    p.add_argument("--on-failure", choices=["fail", "warn", "quarantine"], default="fail")
    p.add_argument(
        "--result-format",
        default="SUMMARY",
        choices=["BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"],
    )
    p.add_argument("--force", action="store_true", help="re-run even if a stored result exists")
    p.add_argument(
        "--engine",
        choices=list(ENGINES),
        default="auto",
        help="auto: common expectations natively on Arrow (same results), the rest with GX",
    )
    add_progress(p)
    p = add("results", cmd_results)
    p.add_argument("key")
    p = add("profile", cmd_profile)
    p.add_argument("key")
    p.add_argument("--force", action="store_true", help="recompute a stored profile")
    add_progress(p)
    p = add("drift", cmd_drift)
    p.add_argument("reference")
    p.add_argument("current")
    defaults = Thresholds()
    for f in fields(Thresholds):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "schema_change":
            p.add_argument(flag, choices=list(STATUSES), default=defaults.schema_change)
        else:
            default = getattr(defaults, f.name)
            p.add_argument(
                flag,
                type=_optional_float,
                default=default,
                help=f"default {default}; 'off' disables",
            )
    add_progress(p)
    p = add("suggest-suite", cmd_suggest_suite)
    p.add_argument("key")
    p.add_argument("-o", "--output", help="the suite file to write (default <name>.json)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p = add("release", cmd_release)
    p.add_argument("key", help="the version, e.g. <dataset>:v3")
    p.add_argument("-m", "--message", default="", help="why it is released")
