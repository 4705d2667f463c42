"""A version report as one self-contained HTML page: inline CSS, inline SVG histograms,
no script and no external URL, so it opens anywhere (mail, a ticket, offline) without
the UI. Every value from the data is escaped.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any

from digitalhub_airflow.reports.contents import ReportContents

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#1d2330;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:2em;
border-bottom:1px solid #dde2ea;padding-bottom:.3em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #eef1f5;vertical-align:top}
th{background:#f5f7fa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.badge{display:inline-block;padding:.1em .6em;border-radius:1em;font-size:.85em;color:#fff}
.passed,.released{background:#2e7d32}.warned{background:#b26a00}
.failed,.quarantined{background:#c62828}.none{background:#68707d}
.muted{color:#68707d}svg{display:block}.bar{fill:#3f6fd1}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return _e(value)


def _badge(state: str | None) -> str:
    word = state or "not validated"
    return f'<span class="badge {_e(state or "none")}">{_e(word)}</span>'


def _histogram(histogram: dict[str, Any] | None) -> str:
    """Bars as inline SVG (no image files, no script)."""
    counts = (histogram or {}).get("counts") or []
    if not counts:
        return ""
    top = max(counts) or 1
    width, height = 160, 36
    step = width / len(counts)
    bars = "".join(
        f'<rect class="bar" x="{i * step:.1f}" y="{height - height * c / top:.1f}" '
        f'width="{max(step - 1, 1):.1f}" height="{height * c / top:.1f}"/>'
        for i, c in enumerate(counts)
    )
    return f'<svg width="{width}" height="{height}" role="img">{bars}</svg>'


def _top_values(column: dict[str, Any]) -> str:
    values = column.get("top_values") or []
    return ", ".join(f"{_e(v['value'])} ({_e(v['count'])})" for v in values[:5])


def _profile(profile: dict[str, Any] | None) -> str:
    if profile is None:
        return '<p class="muted">This version has not been profiled.</p>'
    rows = []
    for column in profile.get("columns", []):
        quantiles = column.get("quantiles") or {}
        rows.append(
            "<tr>"
            f"<td><code>{_e(column.get('name'))}</code></td><td>{_e(column.get('type'))}</td>"
            f"<td class=n>{_fmt(column.get('nulls'))}</td>"
            f"<td class=n>{_fmt(column.get('distinct'))}</td>"
            f"<td class=n>{_fmt(column.get('min'))}</td>"
            f"<td class=n>{_fmt(quantiles.get('0.5'))}</td>"
            f"<td class=n>{_fmt(column.get('mean'))}</td>"
            f"<td class=n>{_fmt(column.get('max'))}</td>"
            f"<td>{_histogram(column.get('histogram')) or _top_values(column)}</td>"
            "</tr>"
        )
    return (
        f"<p>{_fmt(profile.get('row_count'))} rows, {_fmt(profile.get('column_count'))} "
        "columns</p><table><tr><th>column</th><th>type</th><th>nulls</th><th>distinct</th>"
        "<th>min</th><th>median</th><th>mean</th><th>max</th><th>distribution</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _failure(failure: dict[str, Any]) -> str:
    column = failure.get("column")
    examples = failure.get("unexpected_examples") or []
    detail = ", ".join(_e(v) for v in list(examples)[:5])
    return (
        f"<li><code>{_e(failure.get('expectation'))}</code>"
        + (f" on <code>{_e(column)}</code>" if column else "")
        + (f": unexpected {detail}" if detail else "")
        + (
            f" (observed {_e(failure.get('observed_value'))})"
            if failure.get("observed_value") is not None
            else ""
        )
        + (f" — {_e(failure.get('error'))}" if failure.get("error") else "")
        + "</li>"
    )


def _results(results: list[dict[str, Any]]) -> str:
    if not results:
        return '<p class="muted">No validation results for this version.</p>'
    parts = []
    for result in results:
        stats = result.get("statistics") or {}
        state = "passed" if result.get("success") else "failed"
        failures = result.get("failed_expectations") or []
        parts.append(
            f"<h3>{_badge(state)} <code>{_e(result.get('suite'))}</code></h3>"
            f"<p>{_fmt(stats.get('successful_expectations'))} of "
            f"{_fmt(stats.get('evaluated_expectations'))} expectations met · "
            f"{_e(result.get('created_at'))} by {_e(result.get('created_by'))}</p>"
            + (f"<ul>{''.join(_failure(f) for f in failures)}</ul>" if failures else "")
        )
    return "".join(parts)


def render(contents: ReportContents, generated_at: datetime | None = None) -> str:
    """The whole page."""
    version = contents.version
    when = (generated_at or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    facts = [
        ("key", f"<code>{_e(version.get('key'))}</code>"),
        ("version", f"v{_e(version.get('seq'))} <code>{_e(version.get('version_id'))}</code>"),
        ("quality", _badge(version.get("quality"))),
        ("aliases", _e(", ".join(version.get("aliases") or [])) or "-"),
        ("rows", _fmt(version.get("row_count"))),
        (
            "size",
            f"{_fmt(version.get('size_bytes'))} bytes in {_fmt(version.get('file_count'))} files",
        ),
        ("committed", f"{_e(version.get('created_at'))} by {_e(version.get('created_by'))}"),
        ("message", _e(version.get("message"))),
    ]
    schema = "".join(
        f"<tr><td><code>{_e(c.get('name'))}</code></td><td>{_e(c.get('type'))}</td>"
        f"<td>{'yes' if c.get('nullable', True) else 'no'}</td></tr>"
        for c in version.get("schema") or []
    )
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Report {_e(version.get('key'))}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(version.get('dataset'))}</h1>"
        f'<p class="muted">Data quality report · generated {_e(when)}</p>'
        "<table>"
        + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in facts)
        + "</table><h2>Schema</h2><table><tr><th>column</th><th>type</th><th>nullable</th></tr>"
        + schema
        + "</table><h2>Profile</h2>"
        + _profile(contents.profile)
        + "<h2>Validation</h2>"
        + _results(contents.results)
        + "</body></html>"
    )
