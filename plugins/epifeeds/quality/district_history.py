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
from epifeeds.quality.completeness import finding_key
from epifeeds.quality.district_rules import latest_reports
from epifeeds.quality.findings import Finding, record_findings
from epifeeds.quality.results import CheckResult, store_check_run

SUITE = "district_history"
FEED = DISTRICT_REPORTS.feed
# Each cumulative measure and the daily increment it must grow by (I2, I5).
CUMULATIVE_OF = {"cumulative_confirmed": "new_confirmed", "cumulative_positives": "new_positives"}
# H1: a revision is a finding when a figure moves by more than this share of its earlier value.
REVISION_THRESHOLD = float(os.environ.get("EPIFEEDS_REVISION_THRESHOLD_PCT", "1")) / 100

Checked = list[tuple[CheckResult, Finding | None]]


def _result(
    rule: str, check: str, reporter: str, day: date, ok: bool, observed: Any, expected: Any, severity: str
):
    return CheckResult(
        check,
        rule,
        FEED,
        reporter,
        day,
        observed,
        expected,
        severity if not ok else "info",
        "pass" if ok else "fail",
    )


def check_cumulatives(reports: dict[tuple[str, date], dict[str, Any]], roster: DistrictRoster) -> Checked:
    """I2 and I5 for every report that has the previous day's report to compare with."""
    checked: Checked = []
    for (reporter, day), today in sorted(reports.items()):
        yesterday = reports.get((reporter, day - timedelta(days=1)))
        if yesterday is None:
            continue
        name = roster.by_id(reporter).district_name
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
        for rule, check, problems, what in (
            ("I2", "cumulative_never_decreases", decreases, "decreased"),
            (
                "I5",
                "increment_matches_cumulative",
                mismatches,
                "grew by a different amount than the day's new cases",
            ),
        ):
            result = _result(
                rule,
                check,
                reporter,
                day,
                not problems,
                problems,
                {"compared_with": str(day - timedelta(days=1))},
                "error",
            )
            finding = Finding(
                key=finding_key(rule, check, FEED, reporter, day),
                feed=FEED,
                rule=rule,
                reporter=reporter,
                report_date=day,
                severity="error",
                summary=f"{name} ({reporter}) {day}: {', '.join(problems) or 'cumulatives'} {what} "
                f"({'; '.join(f'{m}: {v}' for m, v in problems.items())}); unless a registered exception says the "
                "definition changed, ask the reporter to correct the figure",
                details={"district_id": reporter, "district_name": name, "measures": problems},
            )
            checked.append((result, finding))
    return checked


def latest_revisions(conn: psycopg.Connection, report_dates: list[date]) -> list[tuple[dict, dict]]:
    """(previous version, latest version) of every report on the dates that has been revised."""
    columns = ", ".join(c.name for c in DISTRICT_REPORTS.columns)
    cursor = conn.execute(
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
    names = [c.name for c in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
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
        result = _result(
            "H1",
            "revision_within_threshold",
            reporter,
            day,
            not changes,
            changes,
            {"threshold_pct": REVISION_THRESHOLD * 100},
            "warn",
        )
        finding = Finding(
            key=finding_key("H1", "revision", FEED, reporter, day),
            feed=FEED,
            rule="H1",
            reporter=reporter,
            report_date=day,
            severity="warn",
            summary=f"{name} ({reporter}) revised its {day} report (version {before['_version']} → "
            f"{after['_version']}): "
            + "; ".join(f"{m} {v['before']} → {v['after']}" for m, v in changes.items()),
            details={
                "district_id": reporter,
                "district_name": name,
                "versions": [before["_version"], after["_version"]],
                "revised_at": after["_loaded_at"].isoformat(),
                "changes": changes,
            },
        )
        checked.append((result, finding))
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
    record_findings(conn, checked, as_of)
    results = [result for result, _ in checked]
    store_check_run(
        conn,
        suite=SUITE,
        feed=FEED,
        report_date=None,
        run_id=run_id,
        results=results,
        statistics={"report_dates": [d.isoformat() for d in dates]},
    )
    return results
