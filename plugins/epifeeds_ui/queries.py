"""Every read of the warehouse the feed-health view makes, in one place, returning plain dicts (JSON-ready).

The view reads what the platform wrote: C1 completeness results (`dq.check_results`), the landing
tables (versions = revisions), `landing.rejects` and quarantined batches, `dq.findings`, `dq.alerts`
with what each absorbed (`dq.alert_findings`) and its delivery attempts (`dq.notifications`), and the
reconciliation results (R1, R2, R3) with the numbers they were judged on. Tables and columns that a
newer or older platform version lacks are read as empty, so the view never breaks on a schema change.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from epifeeds.feeds.names import load_district_roster
from epifeeds.quality.freshness import FRESHNESS

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


def _connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, row_factory=dict_row, options="-c default_transaction_read_only=on")


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null as present", (relation,)).fetchone()["present"]


def _has_column(conn: psycopg.Connection, schema: str, table: str, column: str) -> bool:
    return bool(
        conn.execute(
            "select 1 from information_schema.columns where table_schema = %s and table_name = %s"
            " and column_name = %s",
            (schema, table, column),
        ).fetchone()
    )


# --- who reports: names, districts and cities ------------------------------------------------------------


def reporter_directory(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    """reporter id -> name, district and city, from the roster and the hotel registry."""
    roster = load_district_roster()
    directory: dict[str, dict[str, str]] = {}

    def place(district_id: str) -> dict[str, str]:
        try:
            district = roster.by_id(district_id)
        except (KeyError, LookupError):
            return {"district_id": district_id, "district_name": district_id, "city_id": "", "city_name": ""}
        city_id = roster.jurisdiction_of(district_id)
        return {
            "district_id": district_id,
            "district_name": district.district_name,
            "city_id": city_id,
            "city_name": roster.by_id(city_id).district_name,
        }

    for district in roster.districts:
        directory[district.district_id] = {"name": district.district_name, **place(district.district_id)}
    if _exists(conn, "landing.isolation_hotels__current"):
        for row in conn.execute(
            "select hotel_id, hotel_name, district_id from landing.isolation_hotels__current"
        ):
            directory[row["hotel_id"]] = {
                "name": row["hotel_name"] or row["hotel_id"],
                **place(row["district_id"]),
            }
    return directory


def _describe(directory: dict[str, dict[str, str]], reporter: str) -> dict[str, str]:
    known = directory.get(reporter)
    if known:
        return known
    return {"name": reporter, "district_id": "", "district_name": "", "city_id": "", "city_name": ""}


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
        if not _exists(conn, table):
            continue
        for row in conn.execute(
            f"select {column} as reporter, report_date from {table}"
            " where report_date between %(from)s and %(to)s group by 1, 2 having max(_version) > 1",
            window,
        ):
            flags.setdefault((feed, row["reporter"], row["report_date"]), set()).add("revised")
    if _exists(conn, "landing.rejects"):
        reporter = "case when reporter = '*' then coalesce(reporter_id, reporter) else reporter end"
        if not _has_column(conn, "landing", "rejects", "reporter_id"):
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
    with _connect(dsn) as conn:
        empty = {"report_dates": [], "rows": [], "counts": {}, "feeds": [], "cities": [], "districts": []}
        if not _exists(conn, "dq.check_results"):
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
        who = _describe(directory, reporter)
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
        c for c in ("details", "escalated_at", "first_seen_at") if _has_column(conn, "dq", "alerts", c)
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
    with _connect(dsn) as conn:
        if not _exists(conn, "dq.alerts"):
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
        if ids and _exists(conn, "dq.alert_findings"):
            for row in conn.execute(
                "select af.alert_id, af.is_root_cause, f.rule, f.feed, f.reporter, f.report_date, f.severity,"
                " f.status, f.summary from dq.alert_findings as af join dq.findings as f using (finding_id)"
                " where af.alert_id = any(%s) order by af.alert_id, af.is_root_cause desc, f.report_date, f.rule",
                (ids,),
            ):
                absorbed.setdefault(row.pop("alert_id"), []).append(row)
        sent: dict[int, list[dict]] = {}
        if ids and _exists(conn, "dq.notifications"):
            for row in conn.execute(
                "select alert_id, kind, channel, attempted_at, is_delivered, response from dq.notifications"
                " where alert_id = any(%s) order by alert_id, attempted_at, notification_id",
                (ids,),
            ):
                sent.setdefault(row.pop("alert_id"), []).append(row)
    directory_names = _names(dsn)
    for alert in listed:
        alert["reporter_name"] = directory_names.get(alert["reporter"], alert["reporter"])
        alert["absorbed_findings"] = absorbed.get(alert["alert_id"], [])
        alert["notifications"] = sent.get(alert["alert_id"], [])
    return {
        "recent_days": recent_days,
        "open": [a for a in listed if a["status"] == "open"],
        "recent": [a for a in listed if a["status"] != "open"],
    }


def _names(dsn: str) -> dict[str, str]:
    with _connect(dsn) as conn:
        return {reporter: who["name"] for reporter, who in reporter_directory(conn).items()}


# --- (c) reconciliation over time: R1, R2, R3 with their tolerance band -----------------------------------------

# (rule, check): what is plotted, how it is read from the check's numbers, and the band it must stay in.
RECONCILIATIONS = {
    ("R1", "city_equals_sum_of_districts"): {
        "title": "districts' sum minus the city bulletin",
        "value": lambda o, e: _minus(o.get("district_sum"), e.get("city_figure")),
        "band": lambda o, e: (-(e.get("tolerance") or 0), e.get("tolerance") or 0),
    },
    ("R2", "district_samples_match_its_sites"): {
        "title": "sites' samples minus the district's, share of the district's",
        "value": lambda o, e: _share(
            _minus(o.get("site_samples"), o.get("district_samples")), o.get("district_samples")
        ),
        "band": lambda o, e: (
            -(o.get("tolerance") or e.get("tolerance") or 0),
            o.get("tolerance") or e.get("tolerance") or 0,
        ),
    },
    ("R3", "check_ins_come_from_transfers"): {
        "title": "hotel check-ins beyond the district's transfers (that day and the day before)",
        "value": lambda o, e: o.get("excess"),
        "band": lambda o, e: (None, o.get("tolerance") or e.get("tolerance") or 0),
    },
    ("R3", "transfers_checked_in_by_next_day"): {
        "title": "transfers not checked in by the next day",
        "value": lambda o, e: o.get("shortfall"),
        "band": lambda o, e: (None, o.get("tolerance") or e.get("tolerance") or 0),
    },
}


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _share(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else round(part / whole, 5)


def reconciliation(dsn: str, *, district: str | None = None, rule: str | None = None) -> dict[str, Any]:
    """One series per (rule, check, reporter[, measure]) over report dates: value, band, verdict."""
    with _connect(dsn) as conn:
        if not _exists(conn, "dq.check_results"):
            return {"series": []}
        latest = conn.execute(
            """
            select distinct on (rule, check_name, reporter, report_date)
                rule, check_name, reporter, report_date, status, observed, expected
            from dq.check_results
            where rule in ('R1', 'R2', 'R3') and report_date is not null and (%(rule)s::text is null or rule = %(rule)s)
            order by rule, check_name, reporter, report_date, check_result_id desc
            """,
            {"rule": rule},
        ).fetchall()
        directory = reporter_directory(conn)
    series: dict[tuple, dict[str, Any]] = {}
    for result in latest:
        check, _, measure = result["check_name"].partition("(")
        spec = RECONCILIATIONS.get((result["rule"], check))
        reporter = result["reporter"] or ""
        who = _describe(directory, reporter)
        if spec is None or (district and district not in (reporter, who["name"], who["district_id"])):
            continue
        observed, expected = result["observed"] or {}, result["expected"] or {}
        evaluable = not (isinstance(observed, dict) and observed.get("evaluable") is False)
        low, high = spec["band"](observed, expected) if evaluable else (None, None)
        key = (result["rule"], check, reporter, measure.rstrip(")"))
        entry = series.setdefault(
            key,
            {
                "rule": key[0],
                "check": check,
                "reporter": reporter,
                "reporter_name": who["name"],
                "measure": key[3] or None,
                "title": spec["title"],
                "points": [],
            },
        )
        entry["points"].append(
            {
                "report_date": result["report_date"].isoformat(),
                "value": spec["value"](observed, expected) if evaluable else None,
                "band_low": low,
                "band_high": high,
                "status": result["status"] if evaluable else "not_evaluable",
                "observed": observed,
                "expected": expected,
            }
        )

    def failing_first(entry: dict[str, Any]) -> tuple:
        failing = sum(p["status"] == "fail" for p in entry["points"])
        return (entry["rule"], failing == 0, entry["reporter"], entry["check"], entry["measure"] or "")

    return {"series": sorted(series.values(), key=failing_first)}


# --- (d) freshness per feed against its SLA ---------------------------------------------------------------------


def freshness(dsn: str, now: datetime | None = None) -> dict[str, Any]:
    """Per feed: last successful delivery, its age at the latest watchdog run (C2) and now, and the SLA."""
    with _connect(dsn) as conn:
        if not _exists(conn, "landing.batches"):
            return {"feeds": []}
        last = {
            r["feed"]: r["at"]
            for r in conn.execute(
                "select feed, max(received_at) as at from landing.batches"
                " where status = 'landed' and rows_landed > 0 group by feed"
            )
        }
        checked = (
            {
                r["feed"]: r
                for r in conn.execute(
                    "select distinct on (feed) feed, status, severity, observed, checked_at, report_date"
                    " from dq.check_results where rule = 'C2' order by feed, check_result_id desc"
                )
            }
            if _exists(conn, "dq.check_results")
            else {}
        )
        now = now or conn.execute("select now() as now").fetchone()["now"]
    feeds = []
    for feed, sla in FRESHNESS.items():
        c2 = checked.get(feed)
        age_now = (now - last[feed]).total_seconds() / 3600 if feed in last else None
        feeds.append(
            {
                "feed": feed,
                "last_delivery_at": last.get(feed),
                "warn_after_hours": sla.warn_after.total_seconds() / 3600,
                "error_after_hours": sla.error_after.total_seconds() / 3600,
                "watchdog_status": c2["status"] if c2 else None,
                "watchdog_severity": c2["severity"] if c2 else None,
                "watchdog_age_hours": (c2["observed"] or {}).get("age_hours") if c2 else None,
                "watchdog_checked_for": c2["report_date"] if c2 else None,
                "age_hours_now": round(age_now, 1) if age_now is not None else None,
            }
        )
    return {"now": now, "feeds": feeds}


# --- (e) one reporter's check history ----------------------------------------------------------------------------


def reporter_history(dsn: str, feed: str, reporter: str) -> dict[str, Any]:
    """Every rule, every report date of one reporter: the latest outcome with its numbers, and its findings."""
    with _connect(dsn) as conn:
        who = _describe(reporter_directory(conn), reporter)
        if not _exists(conn, "dq.check_results"):
            return {"feed": feed, "reporter": reporter, **who, "checks": [], "findings": []}
        checks = conn.execute(
            """
            select distinct on (rule, check_name, feed, report_date)
                rule, check_name, feed, report_date, status, severity, observed, expected, checked_at, run_id
            from dq.check_results
            where reporter = %s
            order by rule, check_name, feed, report_date, check_result_id desc
            """,
            (reporter,),
        ).fetchall()
        findings = conn.execute(
            "select rule, feed, report_date, severity, status, summary, first_seen_at, last_seen_at, resolved_at"
            " from dq.findings where reporter = %s order by report_date desc, rule",
            (reporter,),
        ).fetchall()
    checks.sort(key=lambda c: (c["feed"] != feed, c["rule"], c["check_name"], c["report_date"] or date.min))
    return {"feed": feed, "reporter": reporter, **who, "checks": checks, "findings": findings}
