"""Inline SVG charts: no JavaScript library, nothing fetched, readable on a phone (the SVG scales)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

ROW = 42
LABEL_SPACE = 18
TRACK_PERCENT = 70


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # 0..1
    note: str  # shown after the bar, e.g. "45/50"


def _colour(value: float) -> str:
    if value >= 0.95:
        return "#1b7f3b"
    if value >= 0.8:
        return "#b7791f"
    return "#c53030"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}".replace(".", ",") + "%"


def rate_bars(bars: list[Bar], title: str) -> Markup:
    """Horizontal bars of a rate per row, the label above each bar.

    Widths are percentages of the container rather than a scaled viewBox, so the text keeps its size on a
    phone instead of shrinking with the drawing.
    """
    if not bars:
        return Markup("")
    height = len(bars) * ROW + 6
    parts = [
        f'<svg class="chart" width="100%" height="{height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(bars):
        y = i * ROW + 4
        filled = max(0.0, min(1.0, bar.value)) * TRACK_PERCENT
        parts.append(f'<text x="0" y="{y + 12}" class="chart-label">{escape(bar.label)}</text>')
        parts.append(
            f'<rect x="0" y="{y + LABEL_SPACE}" width="{TRACK_PERCENT}%" height="14" rx="3" fill="#e8edf3"/>'
        )
        parts.append(
            f'<rect x="0" y="{y + LABEL_SPACE}" width="{filled:.2f}%" height="14" rx="3" '
            f'fill="{_colour(bar.value)}"><title>{escape(bar.label)}: {_percent(bar.value)}</title></rect>'
        )
        parts.append(
            f'<text x="{TRACK_PERCENT + 2}%" y="{y + LABEL_SPACE + 12}" class="chart-value">'
            f"{_percent(bar.value)} ({escape(bar.note)})</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
