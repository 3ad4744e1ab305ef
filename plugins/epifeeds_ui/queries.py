"""What the feed-health view reads of deliveries and alerts, returning plain dicts (JSON-ready): the roster
heatmap and the alerts. (The checks' results over time are read in `checks.py`; how, in `reads.py`.)

The view reads what the platform wrote: C1 completeness results (`dq.check_results`), the landing
tables (versions = revisions), `landing.rejects` and quarantined batches, `dq.findings`, `dq.alerts`
with what each absorbed (`dq.alert_findings`) and its delivery attempts (`dq.notifications`), and the
reconciliation results (R1, R2, R3) with the numbers they were judged on. Tables and columns that a
newer or older platform version lacks are read as empty, so the view never breaks on a schema change.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import psycopg

from epifeeds_ui.reads import connect, describe, exists, has_column, reporter_directory, reporter_names

# A cell's status, most important first: the first that applies names the cell.
STATUSES = ("silenced", "missing", "rejected", "late", "revised", "on_time", "not_due")
STATUS_LABELS = {
    "silenced": "silenced by an exception",
    "missing": "missing",
    "rejected": "rejected rows or file",
    "late": "late",
    "revised": "revised",
    "on_time": "on time",
    "not_due": "received, not yet judged",
}
DEFAULT_DAYS = 14

# (feed, landing table, reporter column): where a reporter's versions of a report are kept.
VERSIONED_FEEDS = (
    ("district_reports", "landing.district_reports", "district_id"),
    ("testing_site_reports", "landing.testing_site_reports", "district_id"),
    ("hotel_reports", "landing.hotel_reports", "hotel_id"),
)


# --- (a) the roster heatmap ----------------------------------------------------------------------------------

_LATEST_C1 = """
select distinct on (feed, reporter, report_date)
    feed, reporter, report_date, status, severity, observed, expected
from dq.check_results
where rule = 'C1' and reporter is not null and report_date is not null
    and (%(from)s::date is null or report_date >= %(from)s) and (%(to)s::date is null or report_date <= %(to)s)
order by feed, reporter, report_date, check_result_id desc
"""


def _report_date_window(
    conn: psycopg.Connection, date_from: date | None, date_to: date | None
) -> tuple[date | None, date | None]:
    if date_to is None:
        date_to = conn.execute(
            "select max(report_date) as last from dq.check_results where rule = 'C1'"
        ).fetchone()["last"]
    if date_from is None and date_to is not None:
        date_from = date_to - timedelta(days=DEFAULT_DAYS - 1)
    return date_from, date_to


def _cell_flags(conn: psycopg.Connection, date_from: date, date_to: date) -> dict[tuple, set[str]]:
    """(feed, reporter, day) -> the flags besides C1's verdict: revised, rejected, silenced."""
    flags: dict[tuple, set[str]] = {}
    window = {"from": date_from, "to": date_to}
    for feed, table, column in VERSIONED_FEEDS:
        if not exists(conn, table):
            continue
        for row in conn.execute(
            f"select {column} as reporter, report_date from {table}"
            " where report_date between %(from)s and %(to)s group by 1, 2 having max(_version) > 1",
            window,
        ):
            flags.setdefault((feed, row["reporter"], row["report_date"]), set()).add("revised")
    if exists(conn, "landing.rejects"):
        reporter = "case when reporter = '*' then coalesce(reporter_id, reporter) else reporter end"
        if not has_column(conn, "landing", "rejects", "reporter_id"):
            reporter = "reporter"
        for row in conn.execute(
            f"select feed, {reporter} as reporter, report_date from landing.rejects"
            " where report_date between %(from)s and %(to)s group by 1, 2, 3",
            window,
        ):
            flags.setdefault((row["feed"], row["reporter"], row["report_date"]), set()).add("rejected")
    for row in conn.execute(
        "select feed, reporter, report_date from landing.batches"
        " where status = 'quarantined' and report_date between %(from)s and %(to)s",
        window,
    ):
        flags.setdefault((row["feed"], row["reporter"], row["report_date"]), set()).add("rejected")
    for row in conn.execute(
        "select feed, reporter, report_date from dq.findings"
        " where status = 'silenced' and report_date between %(from)s and %(to)s",
        window,
    ):
        flags.setdefault((row["feed"], row["reporter"], row["report_date"]), set()).add("silenced")
    return flags


def _cell(c1: dict | None, flags: set[str]) -> dict[str, Any]:
    verdicts = set(flags)
    if c1 is not None:
        if c1["status"] == "silenced":
            verdicts.add("silenced")
        elif c1["status"] == "fail":
            verdicts.add("missing" if c1["severity"] in ("error", "critical") else "late")
        else:
            verdicts.add("on_time")
    else:
        verdicts.add("not_due")
    status = next(s for s in STATUSES if s in verdicts)
    observed = (c1 or {}).get("observed") or {}
    expected = (c1 or {}).get("expected") or {}
    return {
        "status": status,
        "flags": [s for s in STATUSES if s in verdicts and s != status],
        "first_received_at": observed.get("first_received_at"),
        "due_at": expected.get("due_at"),
    }


def roster_heatmap(
    dsn: str,
    *,
    city: str | None = None,
    feed: str | None = None,
    district: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[str, Any]:
    """Reporter x report date, every cell's status (see STATUSES), filtered by city, feed and district."""
    with connect(dsn) as conn:
        empty = {"report_dates": [], "rows": [], "counts": {}, "feeds": [], "cities": [], "districts": []}
        if not exists(conn, "dq.check_results"):
            return empty | {"statuses": STATUS_LABELS}
        date_from, date_to = _report_date_window(conn, date_from, date_to)
        if date_to is None:
            return empty | {"statuses": STATUS_LABELS}
        c1 = {
            (r["feed"], r["reporter"], r["report_date"]): r
            for r in conn.execute(_LATEST_C1, {"from": date_from, "to": date_to})
        }
        flags = _cell_flags(conn, date_from, date_to)
        directory = reporter_directory(conn)
    report_dates = sorted({key[2] for key in c1} | {key[2] for key in flags})
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for key in sorted(set(c1) | set(flags)):
        row_feed, reporter, day = key
        if row_feed not in {f for f, _, _ in VERSIONED_FEEDS} or reporter in ("*", ""):
            continue
        who = describe(directory, reporter)
        row = rows.setdefault(
            (row_feed, reporter), {"feed": row_feed, "reporter": reporter, **who, "cells": {}}
        )
        row["cells"][day.isoformat()] = _cell(c1.get(key), flags.get(key, set()))
    all_rows = list(rows.values())
    chosen = [
        r
        for r in all_rows
        if (not feed or r["feed"] == feed)
        and (not city or city in (r["city_id"], r["city_name"]))
        and (not district or district in (r["district_id"], r["district_name"]))
    ]
    chosen.sort(
        key=lambda r: (
            r["feed"],
            r["city_id"],
            r["district_id"],
            r["reporter"] != r["district_id"],
            r["reporter"],
        )
    )
    counts = Counter(cell["status"] for r in chosen for cell in r["cells"].values())
    return {
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat(),
        "report_dates": [d.isoformat() for d in report_dates],
        "statuses": STATUS_LABELS,
        "counts": {s: counts[s] for s in STATUSES if counts[s]},
        "feeds": sorted({r["feed"] for r in all_rows}),
        "cities": sorted({(r["city_id"], r["city_name"]) for r in all_rows if r["city_id"]}),
        "districts": sorted(
            {(r["district_id"], r["district_name"]) for r in all_rows if r["district_id"] and r["city_id"]}
        ),
        "rows": chosen,
    }


# --- (b) alerts: open and recent, with what each absorbed, its notifications and its resolution ---------------


def _alerts_columns(conn: psycopg.Connection) -> str:
    optional = [
        c for c in ("details", "escalated_at", "first_seen_at") if has_column(conn, "dq", "alerts", c)
    ]
    return ", ".join(
        [
            "alert_id",
            "rule",
            "feed",
            "reporter",
            "report_date",
            "severity",
            "title",
            "body",
            "status",
            "opened_at",
            "last_notified_at",
            "notify_count",
            "resolved_at",
            "resolution_notified_at",
            *optional,
        ]
    )


def alerts(dsn: str, *, recent_days: int = 7) -> dict[str, Any]:
    """Open alerts, and those resolved within `recent_days` of the newest activity, newest first."""
    with connect(dsn) as conn:
        if not exists(conn, "dq.alerts"):
            return {"open": [], "recent": [], "recent_days": recent_days}
        listed = conn.execute(
            f"""
            with latest as (select max(greatest(opened_at, coalesce(resolved_at, opened_at))) as at from dq.alerts)
            select {_alerts_columns(conn)} from dq.alerts, latest
            where status = 'open' or resolved_at >= latest.at - make_interval(days => %s)
            order by status = 'open' desc, report_date desc, opened_at desc
            """,
            (recent_days,),
        ).fetchall()
        ids = [a["alert_id"] for a in listed]
        absorbed: dict[int, list[dict]] = {}
        if ids and exists(conn, "dq.alert_findings"):
            for row in conn.execute(
                "select af.alert_id, af.is_root_cause, f.rule, f.feed, f.reporter, f.report_date, f.severity,"
                " f.status, f.summary from dq.alert_findings as af join dq.findings as f using (finding_id)"
                " where af.alert_id = any(%s) order by af.alert_id, af.is_root_cause desc, f.report_date, f.rule",
                (ids,),
            ):
                absorbed.setdefault(row.pop("alert_id"), []).append(row)
        sent: dict[int, list[dict]] = {}
        if ids and exists(conn, "dq.notifications"):
            for row in conn.execute(
                "select alert_id, kind, channel, attempted_at, is_delivered, response from dq.notifications"
                " where alert_id = any(%s) order by alert_id, attempted_at, notification_id",
                (ids,),
            ):
                sent.setdefault(row.pop("alert_id"), []).append(row)
    directory_names = reporter_names(dsn)
    for alert in listed:
        alert["reporter_name"] = directory_names.get(alert["reporter"], alert["reporter"])
        alert["absorbed_findings"] = absorbed.get(alert["alert_id"], [])
        alert["notifications"] = sent.get(alert["alert_id"], [])
    return {
        "recent_days": recent_days,
        "open": [a for a in listed if a["status"] == "open"],
        "recent": [a for a in listed if a["status"] != "open"],
    }
