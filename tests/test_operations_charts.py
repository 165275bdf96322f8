"""The operations page's inline SVG charts, read back as XML: one dot per day, the alert band and
edges where the configured threshold puts them, bars to one scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pipelines.operations_charts import alert_band, health_chart, politeness_chart
from pipelines.operations_page import operations_page

SVG = "{http://www.w3.org/2000/svg}"


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def _points(element: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, pair.split(","))) for pair in element.get("points").split()]


def _day(day: int, words: float, baseline: float | None, alerts: tuple[str, ...] = ()) -> dict:
    return {"day": f"2026-03-{day:02d}", "median_body_words": words, "undated_share": 0.1,
            "baseline": {"median_body_words": baseline, "undated_share": 0.1} if baseline else {},
            "alerts": [{"metric": metric, "message": f"{metric} moved"} for metric in alerts]}


def test_a_health_chart_has_one_dot_per_day_and_its_alert_edge_at_baseline_times_one_minus_threshold():
    # Baseline 100, threshold 0.5: the lower alert edge is 50 words; day 5 sits exactly on it.
    days = [_day(1, 110, None), _day(2, 90, None), _day(3, 100, 100), _day(4, 105, 100), _day(5, 50, 100),
            _day(6, 20, 100, alerts=("median_body_words",))]
    svg = _svg(health_chart(days, "median_body_words", 0.5))
    circles = svg.findall(f"{SVG}circle")
    assert len(circles) == len(days)
    assert len(_points(svg.find(f"{SVG}polyline[@class='value']"))) == len(days)
    assert [c.get("class") for c in circles] == ["ok"] * 5 + ["alert"]
    low = _points(svg.find(f"{SVG}polyline[@class='threshold low']"))
    high = _points(svg.find(f"{SVG}polyline[@class='threshold high']"))
    assert len(low) == len(high) == 4  # only days with a baseline are judged
    on_the_edge = float(circles[4].get("cy"))
    assert {y for _, y in low} == {on_the_edge}
    assert all(y < on_the_edge for _, y in high)  # 150 words: higher up
    assert float(circles[5].get("cy")) > on_the_edge  # 20 words: below the edge, where the alert fired
    assert "2026-03-06: 20, no alert from 50 to 150" in circles[5].find(f"{SVG}title").text


def test_a_sources_first_day_is_one_dot_in_the_middle_without_a_band():
    svg = _svg(health_chart([_day(1, 80, None)], "median_body_words", 0.5))
    (circle,) = svg.findall(f"{SVG}circle")
    assert float(circle.get("cx")) == float(svg.get("width")) / 2
    assert svg.find(f"{SVG}polygon") is None and "no baseline yet" in circle.find(f"{SVG}title").text


def test_share_metrics_are_judged_in_points_and_their_band_stays_within_zero_and_one():
    assert alert_band("undated_share", 0.1, 0.3) == (0.0, pytest.approx(0.4))
    assert alert_band("median_body_words", 200, 0.25) == (150, 250)
    days = [_day(n, 100, 100) for n in range(1, 4)]
    svg = _svg(health_chart(days, "undated_share", 0.3))
    assert "10%, no alert from 0% to 40%" in svg.find(f"{SVG}circle/{SVG}title").text


def test_politeness_bars_share_one_scale_and_the_304_segment_is_its_share_of_the_requests():
    hosts = [{"host": "127.0.0.1:8001", "requests": 10, "not_modified": 4, "not_modified_share": 0.4,
              "robots_blocked": 5, "errors": 0},
             {"host": "news.example.org", "requests": 5, "not_modified": 0, "not_modified_share": 0.0,
              "robots_blocked": 0, "errors": 2}]
    svg = _svg(politeness_chart(hosts))
    rows = {g.get("data-host"): {r.get("class"): float(r.get("width")) for r in g.findall(f"{SVG}rect")}
            for g in svg.findall(f"{SVG}g")}
    busy, quiet = rows["127.0.0.1:8001"], rows["news.example.org"]
    assert busy["requests"] == pytest.approx(2 * quiet["requests"])
    assert busy["not-modified"] == pytest.approx(0.4 * busy["requests"])
    assert busy["blocked"] == pytest.approx(quiet["requests"]) and quiet["errors"] == pytest.approx(0.4 * quiet["requests"])
    assert politeness_chart([]) == ""


def test_the_page_draws_every_configured_metric_per_source_and_escapes_what_it_shows():
    status = {"generated_at": "2026-03-06T10:00:00+00:00", "index_prefix": "news-", "feeds": [], "runs": [],
              "health": [{**_day(n, 100, 100 if n > 2 else None), "source": "feed:<harbour>", "articles": 4}
                         for n in range(1, 6)],
              "health_thresholds": {"median_body_words": 0.5, "undated_share": 0.3},
              "revisions": [{"doc_id": "d1", "title": "Ferry <b>fares</b>", "url": "http://127.0.0.1/a?x=1&y=2",
                             "source": "feed:harbour", "revision_count": 2, "headline_changed": True,
                             "changes": {"title": True, "body": False, "entities_added": ["Porto"], "entities_removed": []}}],
              "politeness_days": 7, "politeness": []}
    page = operations_page(status)
    assert page.count('<svg class="chart health"') == 2 and page.count("<circle") == 2 * 5
    assert "feed:&lt;harbour&gt;" in page and "Ferry &lt;b&gt;fares&lt;/b&gt;" in page and "<b>fares" not in page
    assert 'href="http://127.0.0.1/a?x=1&amp;y=2"' in page and "+Porto" in page and "headline rewritten" in page
