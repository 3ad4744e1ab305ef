"""Rules on a district report's history: I2 cumulatives never decrease, I5 increments match
cumulatives, H1 a revision that moves a published figure by more than a threshold.

All read the latest version of each report (what dbt and BI read) except H1, which compares the
latest version with the one before it. Day-to-day rules compare consecutive report dates only: a
missing day is C1's finding, and comparing across it would blame the wrong report.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import DistrictRoster, load_district_roster
from epifeeds.quality.district_rules import latest_reports
from epifeeds.quality.findings import Checked, judged, record_run, rows_of
from epifeeds.quality.results import CheckResult

SUITE = "district_history"
FEED = DISTRICT_REPORTS.feed
# Each cumulative measure and the daily increment it must grow by (I2, I5).
CUMULATIVE_OF = {"cumulative_confirmed": "new_confirmed", "cumulative_positives": "new_positives"}
# H1: a revision is a finding when a figure moves by more than this share of its earlier value.
REVISION_THRESHOLD = float(os.environ.get("EPIFEEDS_REVISION_THRESHOLD_PCT", "1")) / 100


def cumulative_problems(yesterday: dict[str, Any], today: dict[str, Any]) -> tuple[dict, dict]:
    """(I2 decreases, I5 mismatches) by cumulative measure between two consecutive reports."""
    decreases, mismatches = {}, {}
    for cumulative, increment in CUMULATIVE_OF.items():
        before, after, new = yesterday[cumulative], today[cumulative], today[increment]
        if before is None or after is None:
            continue
        if after < before:
            decreases[cumulative] = {"previous": before, "current": after}
        if new is not None and after - before != new:
            mismatches[cumulative] = {
                "previous": before,
                "current": after,
                increment: new,
                "difference": after - before - new,
            }
    return decreases, mismatches


def cumulative_checks(
    decreases: dict, mismatches: dict, increment: str
) -> tuple[tuple[str, str, dict, str], ...]:
    """I2's and I5's (rule, check, problems, what went wrong) for one reporter and day; `increment` names
    the daily figure the cumulative should have grown by."""
    return (
        ("I2", "cumulative_never_decreases", decreases, "decreased"),
        ("I5", "increment_matches_cumulative", mismatches, f"grew by a different amount than {increment}"),
    )


def cumulative_summary(name: str, reporter: str, day: date, problems: dict, what: str, ask: str) -> str:
    listed = "; ".join(f"{m}: {v}" for m, v in problems.items())
    return (
        f"{name} ({reporter}) {day}: {', '.join(problems) or 'cumulatives'} {what} ({listed}); unless a registered"
        f" exception says the definition changed, {ask}"
    )


def check_cumulatives(reports: dict[tuple[str, date], dict[str, Any]], roster: DistrictRoster) -> Checked:
    """I2 and I5 for every report that has the previous day's report to compare with."""
    checked: Checked = []
    for (reporter, day), today in sorted(reports.items()):
        yesterday = reports.get((reporter, day - timedelta(days=1)))
        if yesterday is None:
            continue
        name = roster.by_id(reporter).district_name
        for rule, check, problems, what in cumulative_checks(
            *cumulative_problems(yesterday, today), "the day's new cases"
        ):
            summary = cumulative_summary(
                name, reporter, day, problems, what, "ask the reporter to correct the figure"
            )
            checked.append(
                judged(
                    check, rule, FEED, reporter, day,
                    failed=bool(problems), severity="error", kind=check, summary=summary,
                    details={"district_id": reporter, "district_name": name, "measures": problems},
                    observed=problems, expected={"compared_with": str(day - timedelta(days=1))},
                )
            )  # fmt: skip
    return checked


def latest_revisions(conn: psycopg.Connection, report_dates: list[date]) -> list[tuple[dict, dict]]:
    """(previous version, latest version) of every report on the dates that has been revised."""
    columns = ", ".join(c.name for c in DISTRICT_REPORTS.columns)
    rows = rows_of(
        conn,
        f"""
        select {columns}, _version, _loaded_at from (
            select *, rank() over (partition by district_id, report_date order by _version desc) as recency
            from landing.district_reports where report_date = any(%s)
        ) as versions
        where recency <= 2 and (district_id, report_date) in (
            select district_id, report_date from landing.district_reports
            where report_date = any(%s) group by 1, 2 having count(*) > 1
        )
        order by district_id, report_date, _version
        """,
        (report_dates, report_dates),
    )
    return list(zip(rows[0::2], rows[1::2], strict=True))


def check_revisions(conn: psycopg.Connection, report_dates: list[date], roster: DistrictRoster) -> Checked:
    """H1: the latest revision of a report against the version it replaced, with before and after kept."""
    checked: Checked = []
    for before, after in latest_revisions(conn, report_dates):
        reporter, day = after["district_id"], after["report_date"]
        changes = {
            measure: {"before": before[measure], "after": after[measure]}
            for measure in DISTRICT_REPORTS.count_columns
            if before[measure] != after[measure]
            and (
                before[measure] in (None, 0)
                or after[measure] is None
                or abs(after[measure] - before[measure]) > REVISION_THRESHOLD * abs(before[measure])
            )
        }
        name = roster.by_id(reporter).district_name
        summary = (
            f"{name} ({reporter}) revised its {day} report (version {before['_version']} → {after['_version']}): "
            + "; ".join(f"{m} {v['before']} → {v['after']}" for m, v in changes.items())
        )
        details = {
            "district_id": reporter,
            "district_name": name,
            "versions": [before["_version"], after["_version"]],
            "revised_at": after["_loaded_at"].isoformat(),
            "changes": changes,
        }
        checked.append(
            judged(
                "revision_within_threshold", "H1", FEED, reporter, day,
                failed=bool(changes), severity="warn", kind="revision", summary=summary, details=details,
                observed=changes, expected={"threshold_pct": REVISION_THRESHOLD * 100},
            )
        )  # fmt: skip
    return checked


def check_district_history(
    conn: psycopg.Connection, report_dates: list[date], run_id: str, as_of: datetime
) -> list[CheckResult]:
    """I2, I5 and H1 over the given report dates (and the day before each, for comparison)."""
    roster = load_district_roster()
    dates = sorted(set(report_dates))
    with_previous = sorted(set(dates) | {d - timedelta(days=1) for d in dates})
    reports = {k: v for k, v in latest_reports(conn, with_previous).items()}
    checked = [(r, f) for r, f in check_cumulatives(reports, roster) if r.report_date in dates]
    checked += check_revisions(conn, dates, roster)
    statistics = {"report_dates": [d.isoformat() for d in dates]}
    return record_run(conn, SUITE, FEED, run_id, checked, as_of, statistics=statistics)
