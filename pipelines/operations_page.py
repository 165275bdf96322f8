"""The operations page as one self-contained HTML document (``operations_status`` in, HTML out).

The Airflow plugin serves it at ``/newsflow/`` and Airflow's UI embeds it under *Browse*; it
takes Airflow 3's look (its Inter type, gray and brand palette, cards) and follows the UI's
light or dark mode. Styles and charts are inline: nothing is loaded from elsewhere.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipelines.health import RELATIVE_METRICS
from pipelines.operations_charts import format_value, health_chart, politeness_chart

METRIC_LABELS = {
    "median_body_words": "median body words",
    "undated_share": "undated",
    "boilerplate_share": "boilerplate lines removed",
    "entities_per_1000_words": "entities per 1,000 words",
    "other_language_share": "other language",
    "deadletter_rate": "dead letters",
}

# Airflow 3's palette (its Chakra theme's gray, brand, red, green, orange), light then dark.
STYLE = """
:root{color-scheme:light;--bg:oklch(0.985 0.004 253);--panel:#fff;--fg:oklch(0.18 0.03 251);
--muted:oklch(0.45 0.055 251);--border:oklch(0.915 0.01 253);--head:oklch(0.955 0.006 253);
--brand:oklch(0.575 0.08 257.759);--brand-soft:oklch(0.923 0.023 255.082);--ok:oklch(0.6 0.15 150);
--ok-soft:oklch(0.95 0.05 155);--alert:oklch(0.58 0.21 27);--alert-soft:oklch(0.94 0.04 18);
--warn:oklch(0.7 0.17 55);--band:oklch(0.6 0.15 150 / .12)}
:root.dark{color-scheme:dark;--bg:oklch(0.11 0.025 251);--panel:oklch(0.18 0.03 251);--fg:oklch(0.955 0.006 253);
--muted:oklch(0.75 0.025 252);--border:oklch(0.28 0.035 251);--head:oklch(0.28 0.035 251);
--brand:oklch(0.705 0.066 256.378);--brand-soft:oklch(0.324 0.072 260.329);--ok-soft:oklch(0.3 0.06 155);
--alert-soft:oklch(0.32 0.08 20);--band:oklch(0.6 0.15 150 / .2)}
*{box-sizing:border-box}
body{margin:0;padding:1.25rem 1.5rem;background:var(--bg);color:var(--fg);
font:14px/1.5 Inter,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{font-size:1.5rem;font-weight:600;margin:0 0 .25rem}
h2{font-size:1.125rem;font-weight:600;margin:1.75rem 0 .75rem}
h3{font-size:.95rem;font-weight:600;margin:0 0 .5rem;display:flex;gap:.5rem;align-items:center}
a{color:var(--brand)}code{font-size:.8rem}.muted{color:var(--muted)}
.card{background:var(--panel);border:1px solid var(--border);border-radius:.5rem;padding:1rem;
box-shadow:0 1px 2px oklch(0 0 0 / .05)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1rem}
.stats{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1rem}
.stat{background:var(--panel);border:1px solid var(--border);border-radius:.5rem;padding:.6rem 1rem;min-width:9rem}
.stat b{display:block;font-size:1.4rem;font-weight:600}.stat span{color:var(--muted);font-size:.8rem}
.metrics{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:.25rem 1rem}
.metric{font-size:.78rem;color:var(--muted)}.metric b{color:var(--fg);font-weight:600}
.badge{font-size:.7rem;font-weight:600;padding:.05rem .5rem;border-radius:1rem;background:var(--ok-soft);color:var(--ok)}
.badge.alert{background:var(--alert-soft);color:var(--alert)}.badge.brand{background:var(--brand-soft);color:var(--brand)}
ul.alerts{margin:.5rem 0 0;padding-left:1.1rem;color:var(--alert);font-size:.78rem}
.table{overflow-x:auto;padding:0}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid var(--border);padding:.45rem .75rem;text-align:left;font-size:.8rem;vertical-align:top}
th{background:var(--head);font-weight:600;white-space:nowrap}tr:last-child td{border-bottom:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{display:block;overflow:visible}
svg .value{fill:none;stroke:var(--brand);stroke-width:1.75}
svg .band{fill:var(--band);stroke:none}
svg .threshold{fill:none;stroke:var(--alert);stroke-width:1;stroke-dasharray:4 3}
svg circle.ok{fill:var(--brand)}svg circle.alert{fill:var(--alert)}
svg text{fill:var(--fg);font-size:12px}svg text.figures{fill:var(--muted)}
svg .requests{fill:var(--brand)}svg .not-modified{fill:var(--ok)}svg .blocked{fill:var(--warn)}svg .errors{fill:var(--alert)}
.legend{display:flex;gap:1rem;flex-wrap:wrap;font-size:.75rem;color:var(--muted);margin:.5rem 0}
.swatch{display:inline-block;width:.7rem;height:.7rem;border-radius:2px;margin-right:.3rem;vertical-align:-1px}
"""

# Inside Airflow's UI the page is an iframe of the same origin: follow the UI's colour mode
# (Chakra puts "dark" on <html>), live; opened on its own, follow the system's.
COLOR_MODE_SCRIPT = """
(function(){var root=document.documentElement;function apply(){var dark;
try{dark=window.parent!==window&&window.parent.document.documentElement.classList.contains("dark");}catch(e){dark=null;}
if(dark===null||window.parent===window){dark=window.matchMedia("(prefers-color-scheme: dark)").matches;}
root.classList.toggle("dark",dark);}
apply();try{new MutationObserver(apply).observe(window.parent.document.documentElement,{attributes:true});}catch(e){}})();
"""


def _cell(value: Any) -> str:
    return "" if value is None else escape(str(value))


def _table(rows: list[dict[str, Any]], columns: dict[str, str], empty: str, *, numeric: tuple[str, ...] = (),
           raw: tuple[str, ...] = ()) -> str:
    """``columns`` maps a row key to its heading; ``raw`` keys hold HTML this module built; no rows
    and no ``empty`` text: nothing."""
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>' if empty else ""
    head = "".join(f"<th>{escape(title)}</th>" for title in columns.values())
    body = "".join(
        "<tr>" + "".join(
            f'<td{" class=num" if key in numeric else ""}>{row.get(key, "") if key in raw else _cell(row.get(key))}</td>'
            for key in columns) + "</tr>"
        for row in rows
    )
    return f'<div class="card table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _health_card(source: str, days: list[dict[str, Any]], thresholds: dict[str, float]) -> str:
    latest = days[-1]
    state = '<span class="badge alert">ALERT</span>' if latest["alerts"] else '<span class="badge">ok</span>'
    charts = "".join(
        f'<div class="metric">{escape(METRIC_LABELS.get(metric, metric))} · <b>{format_value(metric, latest[metric])}</b>'
        f" (alert beyond {threshold:.0%}{' of baseline' if metric in RELATIVE_METRICS else ' points'})"
        f"{health_chart(days, metric, threshold)}</div>"
        for metric, threshold in thresholds.items()
    )
    alerts = "".join(f"<li>{escape(alert['message'])}</li>" for alert in latest["alerts"])
    return (f'<section class="card" data-source="{escape(source)}"><h3>{escape(source)} {state}</h3>'
            f'<p class="metric">{len(days)} days, latest {escape(latest["day"])}: {latest["articles"]} articles</p>'
            f'<div class="metrics">{charts}</div>{f"<ul class=alerts>{alerts}</ul>" if alerts else ""}</section>')


def _health_section(status: dict[str, Any]) -> str:
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in status["health"]:
        by_source.setdefault(row["source"], []).append(row)
    if not by_source:
        return '<p class="muted">No extraction health yet: it is computed after each enrichment run.</p>'
    legend = ('<div class="legend"><span><i class="swatch" style="background:var(--brand)"></i>value per day</span>'
              '<span><i class="swatch" style="background:var(--band)"></i>no alert (baseline ± threshold)</span>'
              '<span><i class="swatch" style="background:var(--alert)"></i>alert threshold, alerting day</span></div>')
    cards = "".join(_health_card(source, days, status["health_thresholds"]) for source, days in sorted(by_source.items()))
    return f'{legend}<div class="cards">{cards}</div>'


def _revision_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for article in status["revisions"]:
        changes = article.get("changes") or {}
        badges = [f'<span class="badge brand">{part}</span>' for part in ("title", "body") if changes.get(part)]
        if article.get("headline_changed"):
            badges.append('<span class="badge alert">headline rewritten</span>')
        entities = [*(f"+{e}" for e in changes.get("entities_added", [])), *(f"-{e}" for e in changes.get("entities_removed", []))]
        title = escape(article.get("title") or article["doc_id"])
        url = article.get("url")
        rows.append({**article,
                     "article": f'<a href="{escape(url)}" target="_blank" rel="noopener">{title}</a>' if url else title,
                     "changed": " ".join(badges), "entities": ", ".join(entities),
                     "id": f"<code>{escape(article['doc_id'])}</code>"})
    return rows


def _politeness_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**host, "304 share": f"{host['not_modified_share']:.0%}", "blocked URLs": ", ".join(host["blocked_urls"][:3]),
             "waits": f"{host['retry_after_responses']} × Retry-After ({host['retry_after_s']:g} s asked), "
                      f"{host['waited_s']:g} s waited"}
            for host in status["politeness"]]


def _stats(status: dict[str, Any]) -> str:
    latest: dict[str, dict[str, Any]] = {}
    for row in status["health"]:
        latest[row["source"]] = row
    tiles = [
        (sum(1 for row in latest.values() if row["alerts"]), "sources alerting", f"of {len(latest)} with health"),
        (sum(1 for feed in status["feeds"] if not feed["healthy"]), "feeds/sitemaps failing", f"of {len(status['feeds'])}"),
        (len(status["revisions"]), "revised articles", "latest"),
        (sum(host["requests"] for host in status["politeness"]), "requests",
         f"to {len(status['politeness'])} hosts, {status['politeness_days']} days"),
    ]
    return '<div class="stats">' + "".join(
        f'<div class="stat"><b>{value}</b><span>{escape(label)} · {escape(note)}</span></div>' for value, label, note in tiles
    ) + "</div>"


def operations_page(status: dict[str, Any]) -> str:
    """The page for ``pipelines.operations.operations_status``'s answer."""
    feeds = [{**feed, "health": "ok" if feed["healthy"] else "FAILING"} for feed in status["feeds"]]
    hosts = _politeness_rows(status)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>newsflow operations</title>
<script>{COLOR_MODE_SCRIPT}</script><style>{STYLE}</style></head>
<body><h1>newsflow operations</h1>
<p class="muted">Index prefix <code>{escape(status["index_prefix"])}</code> · as of {escape(status["generated_at"])} ·
JSON: <a href="api/status">api/status</a></p>
{_stats(status)}
<h2>Extraction health per source</h2>
{_health_section(status)}
<h2>Politeness per host (last {status["politeness_days"]} days)</h2>
<div class="card">
<div class="legend"><span><i class="swatch" style="background:var(--brand)"></i>requests</span>
<span><i class="swatch" style="background:var(--ok)"></i>of which 304 Not Modified</span>
<span><i class="swatch" style="background:var(--warn)"></i>blocked by robots.txt</span>
<span><i class="swatch" style="background:var(--alert)"></i>errors</span></div>
{politeness_chart(status["politeness"]) or '<p class="muted">No page, feed or sitemap has been fetched yet.</p>'}
</div>
{_table(hosts, {"host": "host", "requests": "requests", "bytes": "bytes", "304 share": "304 share", "waits": "Retry-After and waits",
                "robots_allowed": "robots allowed", "robots_blocked": "robots blocked", "errors": "errors",
                "crawl_delay_s": "crawl delay (s)", "blocked URLs": "blocked URLs", "last_seen": "last seen"},
        "", numeric=("requests", "bytes", "robots_allowed", "robots_blocked", "errors", "crawl_delay_s"))}
<h2>Latest revised articles</h2>
<p class="muted">Word-level diffs: <code>newsflow revisions DOC_ID</code>.</p>
{_table(_revision_rows(status), {"last_changed_at": "last changed", "source": "source", "article": "article",
                                 "revision_count": "revisions", "changed": "what changed", "entities": "entities",
                                 "first_seen_at": "first seen", "id": "doc id"},
        "No article has changed since it was first seen.", numeric=("revision_count",), raw=("article", "changed", "id"))}
<h2>Source health (feeds, sitemaps)</h2>
{_table(feeds, {"kind": "kind", "name": "name", "health": "health", "last_outcome": "last outcome",
                "last_success": "last success", "consecutive_failures": "failures in a row", "next_poll": "next poll",
                "next_poll_reason": "why then", "last_error": "last error"},
        "No feed or sitemap has been polled yet.", numeric=("consecutive_failures",))}
<h2>Documents per run</h2>
{_table(status["runs"], {"stage": "stage", "dag_id": "DAG", "run_id": "run", "documents": "documents", "last": "last"},
        "No documents yet.", numeric=("documents",))}
</body></html>"""
