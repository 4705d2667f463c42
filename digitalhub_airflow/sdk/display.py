"""How SDK objects print in Jupyter: small HTML tables, never a credential."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from digitalhub_airflow.lineage.runs import REDACTED, SECRET_NAME

_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@]*):[^@/]*@")


def mask_url(url: str | None) -> str:
    """``url`` with a password (``user:***@``) and secret-looking query values masked."""
    if not url:
        return ""
    masked = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", url)
    try:
        parts = urlsplit(masked)
    except ValueError:
        return masked
    if not parts.query:
        return masked
    query = [(k, REDACTED if SECRET_NAME.search(k) else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def table(title: str, rows: Iterable[tuple[str, Any]], extra: str = "") -> str:
    """A two-column HTML table under a bold title; values are escaped."""
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
        f"<td style='text-align:left'>{html.escape(_text(v))}</td></tr>"
        for k, v in rows
        if v is not None and v != ""
    )
    return f"<div><b>{html.escape(title)}</b><table>{body}</table>{extra}</div>"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value)


def grid(columns: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """An HTML table with a header row; values are escaped."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
