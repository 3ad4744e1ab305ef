"""Charts drawn on the server as inline SVG: nothing for the browser to fetch, no JavaScript."""

from __future__ import annotations

from html import escape
from typing import Any

STATUS_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "silenced": "#6a1b9a", "not_evaluable": "#9e9e9e"}


def _fmt(value: float) -> str:
    return f"{value:.2%}" if abs(value) < 1 and value != 0 and not float(value).is_integer() else f"{value:g}"


def band_chart(points: list[dict[str, Any]], *, width: int = 420, height: int = 140) -> str:
    """A series of daily differences with its tolerance band shaded; failing days in red.

    Each point: report_date, value (None = not evaluable), band_low (None = unbounded), band_high, status.
    """
    left, right, top, bottom = 56, 10, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p["value"] for p in points if p["value"] is not None]
    bounds = [b for p in points for b in (p["band_low"], p["band_high"]) if b is not None]
    lowest, highest = min(values + bounds + [0]), max(values + bounds + [0])
    if highest == lowest:
        lowest, highest = lowest - 1, highest + 1
    pad = (highest - lowest) * 0.1
    lowest, highest = lowest - pad, highest + pad

    def y(value: float) -> float:
        return top + plot_h * (highest - value) / (highest - lowest)

    def x(index: int) -> float:
        return left + (plot_w * (index + 0.5) / max(len(points), 1))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="band-chart" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ddd"/>',
    ]
    step = plot_w / max(len(points), 1)
    parts += _band_rects(points, x, y, step, lowest, highest)
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#888" stroke-dasharray="3 3"/>'
    )
    for value in (highest - pad, lowest + pad):
        parts.append(
            f'<text x="{left - 4}" y="{y(value) + 4:.1f}" font-size="10" text-anchor="end">{_fmt(value)}</text>'
        )
    line = [f"{x(i):.1f},{y(p['value']):.1f}" for i, p in enumerate(points) if p["value"] is not None]
    if len(line) > 1:
        parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="#546e7a" stroke-width="1.5"/>')
    for index, point in enumerate(points):
        parts += _point_marks(point, x(index), y, height, top)
    parts.append("</svg>")
    return "".join(parts)


def _band_rects(points: list[dict[str, Any]], x, y, step: float, lowest: float, highest: float) -> list[str]:
    """Each day's tolerance band as a shaded strip (none where the band has no upper bound)."""
    rects = []
    for index, point in enumerate(points):
        high = point["band_high"]
        if high is None:
            continue
        low = point["band_low"] if point["band_low"] is not None else lowest
        band_top, band_bottom = y(min(high, highest)), y(max(low, lowest))
        if band_bottom - band_top < 4:  # a zero tolerance is a line: draw it as a visible strip
            band_top, band_bottom = (band_top + band_bottom) / 2 - 2, (band_top + band_bottom) / 2 + 2
        rects.append(
            f'<rect class="tolerance-band" x="{x(index) - step / 2:.1f}" y="{band_top:.1f}" width="{step:.1f}"'
            f' height="{band_bottom - band_top:.1f}" fill="#a5d6a7" opacity="0.9"/>'
        )
    return rects


def _point_marks(point: dict[str, Any], at_x: float, y, height: int, top: int) -> list[str]:
    """A day's date label and its value: a dot coloured by its status, or "n/a" when not evaluable."""
    marks = [
        f'<text x="{at_x:.1f}" y="{height - 8}" font-size="10" text-anchor="middle">{escape(point["report_date"][5:])}</text>'
    ]
    if point["value"] is None:
        marks.append(
            f'<text x="{at_x:.1f}" y="{top + 14}" font-size="10" text-anchor="middle" fill="#9e9e9e">'
            f"n/a<title>{escape(point['report_date'])}: not evaluable</title></text>"
        )
        return marks
    colour = STATUS_COLOURS.get(point["status"], "#000")
    band = f"[{'' if point['band_low'] is None else _fmt(point['band_low'])}, {_fmt(point['band_high'])}]"
    marks.append(
        f'<circle class="point point-{escape(point["status"])}" cx="{at_x:.1f}" cy="{y(point["value"]):.1f}"'
        f' r="4" fill="{colour}"><title>{escape(point["report_date"])}: {_fmt(point["value"])}'
        f" ({escape(point['status'])}; tolerance {band})</title></circle>"
    )
    return marks
