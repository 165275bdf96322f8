"""Small inline SVG charts for the operations page, drawn on the server: no script, no CDN.

- ``health_chart``: one health metric of one source per day, with the band its baseline allows
  (the configured threshold either side) and the alert edges dashed; a day's dot is red when that
  metric alerted on it.
- ``politeness_chart``: per host, requests (the 304 share as an inner segment), pages robots.txt
  blocked and errors, as horizontal bars to one scale.

Colours come from CSS classes, so the page's light and dark themes apply to the charts too.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from pipelines.health import RELATIVE_METRICS

HEALTH_WIDTH, HEALTH_HEIGHT, HEALTH_PAD = 240, 64, 4
BAR_LABEL_WIDTH, BAR_WIDTH, BAR_ROW_HEIGHT = 200, 360, 34


def alert_band(metric: str, baseline: float, threshold: float) -> tuple[float, float]:
    """The values a metric may take without an alert (``pipelines.health``'s rule): a fraction of
    the baseline either side for relative metrics, percentage points for shares (kept in 0–1)."""
    if metric in RELATIVE_METRICS:
        return baseline * (1 - threshold), baseline * (1 + threshold)
    return max(baseline - threshold, 0.0), min(baseline + threshold, 1.0)


def format_value(metric: str, value: float) -> str:
    return f"{value:.3g}" if metric in RELATIVE_METRICS else f"{value:.0%}"


def _points(coordinates: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)


def health_chart(days: Sequence[dict[str, Any]], metric: str, threshold: float) -> str:
    """``days`` are a source's stored health days, oldest first (``pipelines.health.recent_health``)."""
    values = [float(day[metric]) for day in days]
    bands = [alert_band(metric, day["baseline"][metric], threshold) if day.get("baseline") else None for day in days]
    top = max([*values, *(high for band in bands if band for high in band), 1e-9]) * 1.1
    inner_w, inner_h = HEALTH_WIDTH - 2 * HEALTH_PAD, HEALTH_HEIGHT - 2 * HEALTH_PAD
    step = inner_w / max(len(days) - 1, 1)

    def x(i: int) -> float:
        return HEALTH_PAD + i * step if len(days) > 1 else HEALTH_WIDTH / 2  # a first day stands in the middle

    def y(value: float) -> float:
        return HEALTH_PAD + inner_h - value / top * inner_h

    judged = [(i, band) for i, band in enumerate(bands) if band]
    parts = []
    if judged:
        upper = [(x(i), y(band[1])) for i, band in judged]
        lower = [(x(i), y(band[0])) for i, band in judged]
        parts += [f'<polygon class="band" points="{_points(upper + lower[::-1])}"/>',
                  f'<polyline class="threshold low" points="{_points(lower)}"/>',
                  f'<polyline class="threshold high" points="{_points(upper)}"/>']
    parts.append(f'<polyline class="value" points="{_points([(x(i), y(v)) for i, v in enumerate(values)])}"/>')
    for i, (day, value, band) in enumerate(zip(days, values, bands, strict=True)):
        alerted = any(alert["metric"] == metric for alert in day.get("alerts") or [])
        allowed = (f", no alert from {format_value(metric, band[0])} to {format_value(metric, band[1])}"
                   if band else ", no baseline yet")
        parts.append(f'<circle class="{"alert" if alerted else "ok"}" cx="{x(i):.1f}" cy="{y(value):.1f}" r="2.5">'
                     f'<title>{escape(day["day"])}: {format_value(metric, value)}{allowed}</title></circle>')
    return (f'<svg class="chart health" data-metric="{escape(metric)}" viewBox="0 0 {HEALTH_WIDTH} {HEALTH_HEIGHT}" '
            f'width="{HEALTH_WIDTH}" height="{HEALTH_HEIGHT}" role="img" '
            f'aria-label="{escape(metric)} per day against its alert band">{"".join(parts)}</svg>')


def politeness_chart(hosts: Sequence[dict[str, Any]]) -> str:
    """``hosts`` as ``ElasticsearchPoliteness.by_host`` returns them."""
    if not hosts:
        return ""
    scale = max(max(h["requests"], h["robots_blocked"], h["errors"]) for h in hosts) or 1

    def width(count: float) -> float:
        return BAR_WIDTH * count / scale

    rows = []
    for number, host in enumerate(hosts):
        top = number * BAR_ROW_HEIGHT
        requests, not_modified = host["requests"], host["not_modified"]
        rows.append(
            f'<g class="host" data-host="{escape(host["host"])}">'
            f'<text class="label" x="0" y="{top + 16}">{escape(host["host"])}</text>'
            f'<rect class="requests" x="{BAR_LABEL_WIDTH}" y="{top + 4}" width="{width(requests):.1f}" height="12">'
            f"<title>{requests} requests</title></rect>"
            f'<rect class="not-modified" x="{BAR_LABEL_WIDTH}" y="{top + 4}" width="{width(not_modified):.1f}" '
            f'height="12"><title>{not_modified} answered 304 Not Modified</title></rect>'
            f'<rect class="blocked" x="{BAR_LABEL_WIDTH}" y="{top + 18}" width="{width(host["robots_blocked"]):.1f}" '
            f'height="5"><title>{host["robots_blocked"]} pages blocked by robots.txt</title></rect>'
            f'<rect class="errors" x="{BAR_LABEL_WIDTH}" y="{top + 24}" width="{width(host["errors"]):.1f}" '
            f'height="5"><title>{host["errors"]} errors</title></rect>'
            f'<text class="figures" x="{BAR_LABEL_WIDTH + BAR_WIDTH + 8}" y="{top + 16}">{requests} req · '
            f'{host["not_modified_share"]:.0%} 304 · {host["robots_blocked"]} blocked · {host["errors"]} errors</text></g>'
        )
    total_width = BAR_LABEL_WIDTH + BAR_WIDTH + 260
    height = BAR_ROW_HEIGHT * len(hosts)
    return (f'<svg class="chart politeness" viewBox="0 0 {total_width} {height}" width="{total_width}" '
            f'height="{height}" role="img" aria-label="requests, 304s, robots.txt blocks and errors per host">'
            f'{"".join(rows)}</svg>')
