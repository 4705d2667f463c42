"""Small inline-SVG charts for profiles: a histogram per column, bars for top values.

Only coordinates are computed here; the template writes the markup (autoescaped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT = 240, 80


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    title: str


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def histogram_bars(histogram: dict[str, Any]) -> list[Bar]:
    """Equal-width bins (``edges`` one longer than ``counts``) as bars scaled to the tallest."""
    counts = histogram.get("counts") or []
    if not counts:
        return []
    labels = histogram.get("edge_labels") or [_number(e) for e in histogram["edges"]]
    top = max(counts) or 1
    step = WIDTH / len(counts)
    bars = []
    for i, count in enumerate(counts):
        h = HEIGHT * count / top
        bars.append(
            Bar(
                i * step,
                HEIGHT - h,
                max(step - 1, 1),
                h,
                f"[{labels[i]}, {labels[i + 1]}): {count}",
            )
        )
    return bars


def value_bars(top_values: list[dict[str, Any]], total: int) -> list[Bar]:
    """The most frequent values as horizontal bars, each as wide as its share of rows."""
    rows = max(total, 1)
    return [
        Bar(0, i * 14, WIDTH * item["count"] / rows, 11, f"{item['value']}: {item['count']}")
        for i, item in enumerate(top_values)
    ]


@dataclass
class Series:
    """A small line chart: ``points`` for an SVG polyline, with its range as text."""

    points: str
    low: float
    high: float
    first: str
    last: str


def series(items: list[dict[str, Any]], field: str, at: str = "at") -> Series | None:
    """``items`` (oldest first) as a sparkline of ``field``; None for fewer than two."""
    if len(items) < 2:
        return None
    values = [float(item.get(field) or 0) for item in items]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = WIDTH / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{HEIGHT - 4 - (HEIGHT - 8) * (v - low) / span:.1f}"
        for i, v in enumerate(values)
    )
    return Series(points, low, high, str(items[0][at])[:19], str(items[-1][at])[:19])
