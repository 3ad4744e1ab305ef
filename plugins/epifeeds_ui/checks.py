"""What the feed-health view reads of the checks' results: the reconciliations (R1, R2, R3) over time
with their tolerance band, each feed's freshness against its SLA (C2), and one reporter's check history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from epifeeds.quality.freshness import FRESHNESS
from epifeeds_ui.reads import connect, describe, exists, reporter_directory

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
    with connect(dsn) as conn:
        if not exists(conn, "dq.check_results"):
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
        who = describe(directory, reporter)
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
    with connect(dsn) as conn:
        if not exists(conn, "landing.batches"):
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
            if exists(conn, "dq.check_results")
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
    with connect(dsn) as conn:
        who = describe(reporter_directory(conn), reporter)
        if not exists(conn, "dq.check_results"):
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
