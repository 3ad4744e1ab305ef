"""The feed-health pages: plain HTML with inline CSS and server-rendered SVG, nothing fetched from elsewhere."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from epifeeds_ui.charts import band_chart

CELL_TEXT = {
    "on_time": "✓",
    "late": "late",
    "missing": "missing",
    "revised": "rev",
    "rejected": "rej",
    "silenced": "sil",
    "not_due": "…",
}
STYLE = """
body{font-family:system-ui,-apple-system,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:16px;color:#222}
nav a{margin-right:14px}nav a.here{font-weight:bold;text-decoration:none;color:#222}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 6px;font-size:13px}
th{background:#f3f3f3;text-align:left}td.cell{text-align:center;min-width:52px}td.cell a{color:inherit;text-decoration:none;display:block}
.status-on_time,.status-pass{background:#e8f5e9}.status-late{background:#fff3e0}.status-missing,.status-fail{background:#ef9a9a;font-weight:bold}
.status-revised{background:#e3f2fd}.status-rejected{background:#ffcc80}.status-silenced{background:#e1bee7}
.status-not_due,.status-not_evaluable{background:#f5f5f5;color:#777}td.today{outline:3px solid #1565c0}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #ddd;font-size:12px}
section.alert{border:1px solid #ccc;border-left:6px solid #c62828;padding:6px 12px;margin:10px 0}
section.alert.resolved{border-left-color:#2e7d32}pre{white-space:pre-wrap;font-size:12px;background:#fafafa;padding:6px}
form.filters label{margin-right:10px}.charts{display:flex;flex-wrap:wrap;gap:14px}.chart{border:1px solid #eee;padding:4px}
.chart h4{margin:2px 0;font-size:13px}.numbers{font-size:11px;color:#555}
"""
PAGES = (
    ("", "Roster"),
    ("/alerts", "Alerts"),
    ("/reconciliation", "Reconciliation"),
    ("/freshness", "Freshness"),
)


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def shell(base: str, here: str, title: str, body: str) -> str:
    links = "".join(
        f'<a href="{base}{path}"{" class=here" if path == here else ""}>{name}</a>' for path, name in PAGES
    )
    return (
        f'<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{escape(title)} · feed health</title>'
        f"<style>{STYLE}</style></head><body><nav>{links}</nav><h1>{escape(title)}</h1>{body}</body></html>"
    )


def reporter_url(base: str, feed: str, reporter: str, report_date: str | None = None) -> str:
    query = f"?{urlencode({'report_date': report_date})}#d{report_date}" if report_date else ""
    return f"{base}/reporters/{quote(feed, safe='')}/{quote(reporter, safe='')}{query}"


def _select(name: str, options: list[tuple[str, str]], chosen: str | None) -> str:
    items = ['<option value="">all</option>'] + [
        f'<option value="{escape(value)}"{" selected" if value == chosen else ""}>{escape(label)}</option>'
        for value, label in options
    ]
    return f'<label>{name} <select name="{name}">{"".join(items)}</select></label>'


def heatmap_page(base: str, data: dict[str, Any], chosen: dict[str, str | None]) -> str:
    form = (
        '<form class="filters" method="get">'
        + _select("city", [(c, f"{n} ({c})") for c, n in data["cities"]], chosen.get("city"))
        + _select("feed", [(f, f) for f in data["feeds"]], chosen.get("feed"))
        + _select("district", [(d, f"{n} ({d})") for d, n in data["districts"]], chosen.get("district"))
        + f'<label>from <input type="date" name="from" value="{_text(chosen.get("from"))}"></label>'
        + f'<label>to <input type="date" name="to" value="{_text(chosen.get("to"))}"></label>'
        + '<button type="submit">filter</button></form>'
    )
    legend = (
        '<p class="legend">'
        + "".join(
            f'<span class="status-{s}">{"" if CELL_TEXT[s] == label else CELL_TEXT[s] + " "}{escape(label)}:'
            f" {data['counts'].get(s, 0)}</span>"
            for s, label in data["statuses"].items()
        )
        + "</p>"
    )
    if not data["rows"]:
        return shell(base, "", "Roster: who reported, when", form + "<p>No completeness results yet.</p>")
    dates = data["report_dates"]
    head = (
        "<tr><th>feed</th><th>reporter</th><th>district</th>"
        + "".join(f"<th>{d}</th>" for d in dates)
        + "</tr>"
    )
    body = []
    for row in data["rows"]:
        cells = []
        for day in dates:
            cell = row["cells"].get(day)
            if cell is None:
                cells.append('<td class="cell"></td>')
                continue
            tip = data["statuses"][cell["status"]] + "".join(
                f", {data['statuses'][f]}" for f in cell["flags"]
            )
            if cell["first_received_at"]:
                tip += f"; received {cell['first_received_at']}"
            if cell["due_at"]:
                tip += f"; due {cell['due_at']}"
            cells.append(
                f'<td class="cell status-{cell["status"]}" data-feed="{escape(row["feed"])}"'
                f' data-reporter="{escape(row["reporter"])}" data-date="{day}" data-status="{cell["status"]}"'
                f' title="{escape(tip)}"><a href="{reporter_url(base, row["feed"], row["reporter"], day)}">'
                f"{CELL_TEXT[cell['status']]}</a></td>"
            )
        name = f'<a href="{reporter_url(base, row["feed"], row["reporter"])}">{_text(row["name"])}</a>'
        body.append(
            f"<tr><td>{escape(row['feed'])}</td><td>{name} <small>{escape(row['reporter'])}</small></td>"
            f"<td>{_text(row['district_name'])}</td>{''.join(cells)}</tr>"
        )
    table = f'<table class="heatmap">{head}{"".join(body)}</table>'
    return shell(base, "", "Roster: who reported, when", form + legend + table)


def _findings_table(findings: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr class="status-{escape(f["status"])}"><td>{"root cause" if f.get("is_root_cause") else "absorbed"}</td>'
        f"<td>{escape(f['rule'])}</td><td>{_text(f['reporter'])}</td><td>{_text(f['report_date'])}</td>"
        f"<td>{escape(f['status'])}</td><td>{_text(f['summary'])}</td></tr>"
        for f in findings
    )
    return f"<table><tr><th></th><th>rule</th><th>reporter</th><th>date</th><th>status</th><th>summary</th></tr>{rows}</table>"


def _alert_section(base: str, alert: dict[str, Any]) -> str:
    notices = "".join(
        f"<tr><td>{escape(n['kind'])}</td><td>{escape(n['channel'])}</td><td>{_text(n['attempted_at'])}</td>"
        f"<td>{'delivered' if n['is_delivered'] else 'not delivered'}</td><td>{_text(n['response'])}</td></tr>"
        for n in alert["notifications"]
    )
    resolution = (
        f"resolved {_text(alert['resolved_at'])}"
        + (
            f", resolution notice sent {_text(alert['resolution_notified_at'])}"
            if alert["resolution_notified_at"]
            else ""
        )
        if alert["resolved_at"]
        else "open"
    )
    link = reporter_url(base, alert["feed"], alert["reporter"], str(alert["report_date"]))
    return (
        f'<section class="alert {escape(alert["status"])}" data-alert-id="{alert["alert_id"]}"'
        f' data-reporter="{escape(alert["reporter"])}" data-date="{alert["report_date"]}">'
        f"<h3>{escape(alert['title'])}</h3>"
        f"<p>{escape(alert['severity'])} · {escape(alert['feed'])} · "
        f'<a href="{link}">{_text(alert["reporter_name"])} ({escape(alert["reporter"])}) on {alert["report_date"]}</a>'
        f" · opened {_text(alert['opened_at'])} · {resolution} · notified {alert['notify_count']}×</p>"
        f"<details><summary>message</summary><pre>{_text(alert['body'])}</pre></details>"
        f"<h4>What it absorbed ({len(alert['absorbed_findings'])} findings)</h4>{_findings_table(alert['absorbed_findings'])}"
        f"<h4>Notifications</h4><table><tr><th>kind</th><th>channel</th><th>attempted</th><th>outcome</th>"
        f"<th>response</th></tr>{notices}</table></section>"
    )


def alerts_page(base: str, data: dict[str, Any]) -> str:
    body = f"<h2>Open ({len(data['open'])})</h2>" + "".join(_alert_section(base, a) for a in data["open"])
    body += f"<h2>Resolved in the last {data['recent_days']} days ({len(data['recent'])})</h2>"
    body += "".join(_alert_section(base, a) for a in data["recent"])
    return shell(base, "/alerts", "Alerts", body)


def reconciliation_page(base: str, data: dict[str, Any], chosen: dict[str, str | None]) -> str:
    form = (
        '<form class="filters" method="get">'
        + _select(
            "rule",
            [
                ("R1", "R1 districts vs city"),
                ("R2", "R2 district vs its sites"),
                ("R3", "R3 transfers vs hotel check-ins"),
            ],
            chosen.get("rule"),
        )
        + f'<label>district <input name="district" value="{_text(chosen.get("district"))}"></label>'
        + '<button type="submit">filter</button></form>'
        + "<p>Each chart: the difference per report date; the green band is the tolerance, red points broke it.</p>"
    )
    charts = []
    for series in data["series"]:
        measure = f" · {escape(series['measure'])}" if series["measure"] else ""
        failing = sum(p["status"] == "fail" for p in series["points"])
        charts.append(
            f'<div class="chart" data-rule="{series["rule"]}" data-reporter="{escape(series["reporter"])}">'
            f"<h4>{series['rule']} {_text(series['reporter_name'])}{measure} ({failing} failing)</h4>"
            f'<div class="numbers">{escape(series["title"])}</div>{band_chart(series["points"])}</div>'
        )
    return shell(
        base,
        "/reconciliation",
        "Reconciliation over time",
        form + f'<div class="charts">{"".join(charts)}</div>',
    )


def freshness_page(base: str, data: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr data-feed="{escape(f["feed"])}"><td>{escape(f["feed"])}</td><td>{_text(f["last_delivery_at"])}</td>'
        f'<td class="status-{_text(f["watchdog_status"])}">{_text(f["watchdog_age_hours"])} h '
        f"({_text(f['watchdog_status'])}, {_text(f['watchdog_checked_for'])})</td>"
        f"<td>{_text(f['age_hours_now'])} h</td><td>{f['warn_after_hours']:g} h</td><td>{f['error_after_hours']:g} h</td></tr>"
        for f in data["feeds"]
    )
    table = (
        "<table><tr><th>feed</th><th>last successful delivery</th><th>age at the last watchdog run (C2)</th>"
        f"<th>age now</th><th>warn after</th><th>error after</th></tr>{rows}</table>"
    )
    return shell(base, "/freshness", "Freshness per feed against its SLA", table)


def _numbers(check: dict[str, Any]) -> str:
    shown = {"observed": check["observed"], "expected": check["expected"]}
    return escape(json.dumps(shown, ensure_ascii=False, default=str))[:600]


def reporter_page(base: str, data: dict[str, Any], report_date: str | None) -> str:
    dates = sorted({str(c["report_date"]) for c in data["checks"] if c["report_date"]})
    by_check: dict[tuple, dict[str, dict]] = {}
    for check in data["checks"]:
        by_check.setdefault((check["feed"], check["rule"], check["check_name"]), {})[
            str(check["report_date"])
        ] = check
    head = (
        "<tr><th>feed</th><th>rule</th><th>check</th>"
        + "".join(f'<th id="d{d}"{" class=today" if d == report_date else ""}>{d}</th>' for d in dates)
        + "</tr>"
    )
    rows = []
    for (feed, rule, name), per_day in by_check.items():
        cells = []
        for day in dates:
            check = per_day.get(day)
            if check is None:
                cells.append("<td></td>")
                continue
            observed = check["observed"] if isinstance(check["observed"], dict) else {}
            status = "not_evaluable" if observed.get("evaluable") is False else check["status"]
            today = " today" if day == report_date else ""
            cells.append(
                f'<td class="cell status-{status}{today}" data-rule="{rule}" data-date="{day}" data-status="{status}"'
                f' title="{_numbers(check)}">{escape(status)}</td>'
            )
        rows.append(
            f"<tr><td>{escape(feed)}</td><td>{escape(rule)}</td><td>{escape(name)}</td>{''.join(cells)}</tr>"
        )
    judged = "".join(
        f'<tr class="status-{escape(c["status"])}"><td>{c["report_date"]}</td><td>{escape(c["rule"])}</td>'
        f"<td>{escape(c['check_name'])}</td><td>{escape(c['status'])}</td><td><code>{_numbers(c)}</code></td></tr>"
        for c in data["checks"]
        if c["status"] != "pass" or str(c["report_date"]) == report_date
    )
    findings = "".join(
        f'<tr class="status-{escape(f["status"])}"><td>{f["report_date"]}</td><td>{escape(f["rule"])}</td>'
        f"<td>{escape(f['status'])}</td><td>{escape(f['summary'])}</td></tr>"
        for f in data["findings"]
    )
    where = ", ".join(x for x in (data.get("district_name"), data.get("city_name")) if x)
    body = (
        f"<p>{escape(data['feed'])} · {escape(data['reporter'])}{' · ' + escape(where) if where else ''}"
        + (f" · showing {escape(report_date)}" if report_date else "")
        + "</p><p>Hover a cell for the numbers it was judged on.</p>"
        + f'<table class="history">{head}{"".join(rows)}</table>'
        + "<h2>The numbers: every failed or silenced check"
        + (f", and every check on {escape(report_date)}" if report_date else "")
        + f"</h2><table><tr><th>date</th><th>rule</th><th>check</th><th>status</th><th>observed / expected</th></tr>{judged}</table>"
        + f"<h2>Findings ({len(data['findings'])})</h2><table><tr><th>date</th><th>rule</th><th>status</th>"
        + f"<th>summary</th></tr>{findings}</table>"
    )
    return shell(base, "/reporter", f"{data['name']}: check history", body)
