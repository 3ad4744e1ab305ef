"""The file feeds reconciled with the district feed, per district and day, on the latest versions:

- R2 `samples_collected`: |Σ sites' samples − the district's figure| ≤ 2 % of it (feed testing_site_reports);
- R4 `positive_tubes`: Σ positive tubes of the district's sites on d ≤ new_positives(d) + new_positives(d+1);
- R3 both ways (feed hotel_check_ins): `transfers_not_checked_in`, transferred(d) ≤ check-ins(d) +
  check-ins(d+1) from that district, all hotels; `check_ins_without_transfers`, check-ins(d) ≤
  transferred(d−1) + transferred(d).

A reconciliation is *not evaluable* when a side is missing (no district report, C1's finding; no site
file; the next day's reports not in yet, the one-day lag): stored as an info pass with
observed.evaluable = false and the reason, and no finding is opened or resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from epifeeds.feeds.contracts import HOTEL_CHECK_INS, TESTING_SITE_REPORTS
from epifeeds.quality.file_feed_bounds import (
    R2_TOLERANCE,
    R3_TOLERANCE,
    R4_TOLERANCE,
    SEVERITY,
    r2_allowed_difference,
    report_window,
)
from epifeeds.quality.findings import Checked, Finding, judged, not_evaluable, rows_of
from epifeeds.quality.results import CheckResult

SITES = TESTING_SITE_REPORTS.feed
CHECK_INS = HOTEL_CHECK_INS.feed
Pair = tuple[CheckResult, Finding | None]


@dataclass(frozen=True)
class Reconciliation:
    """One reconciliation check: its rule, the feed its findings name, its check name and finding kind,
    the numbers it reports (name in results → column of the query's row) and what it expects."""

    rule: str
    feed: str
    check: str
    kind: str
    numbers: dict[str, str]
    expected: dict[str, Any]

    def numbers_of(self, row: dict) -> dict[str, Any]:
        return {name: row[column] for name, column in self.numbers.items()}

    def unevaluable(self, row: dict, reason: str) -> Pair:
        return not_evaluable(
            self.check, self.rule, self.feed, row["district_id"], row["report_date"],
            reason=reason, observed=self.numbers_of(row), expected=self.expected,
        )  # fmt: skip

    def judged(
        self, row: dict, *, ok: bool, details: dict, summary: str, expected: dict | None = None
    ) -> Pair:
        return judged(
            self.check, self.rule, self.feed, row["district_id"], row["report_date"],
            failed=not ok, severity=SEVERITY, kind=self.kind, summary=summary, details=details,
            observed={"evaluable": True, **details}, expected=expected or self.expected,
        )  # fmt: skip


SAMPLES_MATCH = Reconciliation(
    "R2",
    SITES,
    "district_samples_match_its_sites",
    "samples_collected",
    {name: name for name in ("site_samples", "site_rows", "district_samples", "latest_file_status")},
    {"tolerance": R2_TOLERANCE, "of": "the district's samples_collected"},
)
POSITIVES_WITHIN_CASES = Reconciliation(
    "R4",
    SITES,
    "site_positives_within_district_cases",
    "positive_tubes",
    {
        "site_positive_tubes": "positive_tubes",
        "sites_without_lab_results": "sites_without_lab_results",
        "district_new_positives": "new_positives",
        "district_new_positives_next_day": "next_new_positives",
    },
    {"at_most": "new_positives(d) + new_positives(d+1)", "tolerance": R4_TOLERANCE},
)
TRANSFERS_CHECKED_IN = Reconciliation(
    "R3",
    CHECK_INS,
    "transfers_checked_in_by_next_day",
    "transfers_not_checked_in",
    {
        "transferred_to_isolation": "transferred",
        "check_ins": "check_ins",
        "next_day_check_ins": "next_check_ins",
        "hotels_reporting": "hotels_reporting",
        "next_day_hotels_reporting": "next_hotels_reporting",
    },
    {
        "at_least": "transferred_to_isolation(d)",
        "of": "check_ins(d) + check_ins(d+1)",
        "tolerance": R3_TOLERANCE,
    },
)
CHECK_INS_FROM_TRANSFERS = Reconciliation(
    "R3", CHECK_INS, "check_ins_come_from_transfers", "check_ins_without_transfers",
    {
        "check_ins": "check_ins",
        "transferred_to_isolation": "transferred",
        "previous_day_transferred_to_isolation": "previous_transferred",
        "hotels_reporting": "hotels_reporting",
    },
    {
        "at_most": "transferred_to_isolation(d-1) + transferred_to_isolation(d)",
        "of": "check_ins(d)",
        "tolerance": R3_TOLERANCE,
    },
)  # fmt: skip


# ----------------------------------------------------------- sites against their district: R2 and R4

SITES_VS_DISTRICT_SQL = """
with site_latest as (
    select site_id, district_id, report_date, samples_collected, positive_tubes
    from landing.testing_site_reports__current
    where report_date = any(%(dates)s)
),
sites as (
    select district_id, report_date, count(*) as site_rows, sum(samples_collected)::bigint as site_samples,
        sum(coalesce(positive_tubes, 0))::bigint as positive_tubes,
        count(*) filter (where positive_tubes is null) as sites_without_lab_results
    from site_latest
    group by district_id, report_date
),
deliveries as (
    select reporter as district_id, report_date, count(*) as files,
        (array_agg(status order by received_at desc, batch_id desc))[1] as latest_file_status
    from landing.batches
    where feed = %(feed)s and report_date = any(%(dates)s)
    group by reporter, report_date
),
districts as (
    select
        district_id, report_date, samples_collected, new_positives, _version
    from landing.district_reports__current
    where report_date = any(%(window)s)
)
select
    deliveries.district_id, deliveries.report_date, deliveries.files, deliveries.latest_file_status,
    coalesce(sites.site_rows, 0) as site_rows, coalesce(sites.site_samples, 0) as site_samples,
    coalesce(sites.positive_tubes, 0) as positive_tubes,
    coalesce(sites.sites_without_lab_results, 0) as sites_without_lab_results,
    today.district_id is not null as has_district_report, today.samples_collected as district_samples,
    today.new_positives, today._version as district_version,
    tomorrow.district_id is not null as has_next_district_report, tomorrow.new_positives as next_new_positives
from deliveries
left join sites using (district_id, report_date)
left join districts as today using (district_id, report_date)
left join districts as tomorrow
    on tomorrow.district_id = deliveries.district_id and tomorrow.report_date = deliveries.report_date + 1
order by deliveries.report_date, deliveries.district_id
"""


def check_sites_against_districts(conn: psycopg.Connection, report_dates: list[date]) -> Checked:
    """R2 and R4 for every district file delivered on the dates (an empty or cut-short file counts: its
    missing rows are what R2 is for)."""
    params = {"dates": report_dates, "window": report_window(report_dates, 1), "feed": SITES}
    rows = rows_of(conn, SITES_VS_DISTRICT_SQL, params)
    return [
        pair for row in rows for pair in (district_samples_match_sites(row), site_positives_within_cases(row))
    ]


def district_samples_match_sites(row: dict[str, Any]) -> Pair:
    """R2: the district's samples_collected against the sum over its sites' rows."""
    if not row["has_district_report"]:
        return SAMPLES_MATCH.unevaluable(row, "no district report for the day")
    if row["district_samples"] is None:
        return SAMPLES_MATCH.unevaluable(row, "the district report does not publish samples_collected")
    district_id, day, status = row["district_id"], row["report_date"], row["latest_file_status"]
    difference = row["site_samples"] - row["district_samples"]
    allowed = r2_allowed_difference(row["district_samples"])
    share = difference / row["district_samples"] if row["district_samples"] else None
    details = {
        **SAMPLES_MATCH.numbers_of(row),
        "difference": difference,
        "difference_share": round(share, 4) if share is not None else None,
        "allowed_difference": allowed,
        "tolerance": R2_TOLERANCE,
        "district_version": row["district_version"],
    }
    summary = (
        f"district {district_id} {day}: reports {row['district_samples']} samples collected, its {row['site_rows']} "
        f"testing-site rows add up to {row['site_samples']} ({difference:+d}"
        + (f", {share:+.1%}" if share is not None else "")
        + f"; tolerance ±{R2_TOLERANCE:.0%})"
        + ("" if status == "landed" else f"; the site file was {status}")
    )
    expected = SAMPLES_MATCH.expected | {"district_samples": row["district_samples"]}
    return SAMPLES_MATCH.judged(
        row, ok=abs(difference) <= allowed, details=details, summary=summary, expected=expected
    )


def site_positives_within_cases(row: dict[str, Any]) -> Pair:
    """R4: the sites' positive tubes against the district's new positives of the day and the next."""
    positives, today, tomorrow = row["positive_tubes"], row["new_positives"], row["next_new_positives"]
    if not row["has_district_report"] or today is None:
        return POSITIVES_WITHIN_CASES.unevaluable(row, "no district report for the day")
    if positives > today + R4_TOLERANCE and not row["has_next_district_report"]:
        reason = "more positive tubes than the day's new positives; waiting for the next day's district report (lab lag)"
        return POSITIVES_WITHIN_CASES.unevaluable(row, reason)
    window = today + (tomorrow or 0)
    excess = positives - window
    numbers = POSITIVES_WITHIN_CASES.numbers_of(row)
    details = {**numbers, "window_new_positives": window, "excess": excess, "tolerance": R4_TOLERANCE}
    summary = (
        f"district {row['district_id']} {row['report_date']}: its testing sites report {positives} positive tubes, "
        f"but the district reports {today} new positives that day and {tomorrow or 0} the next ({window} within "
        f"the lab lag, {excess} short); a positive tube not followed by a case needs a look"
    )
    return POSITIVES_WITHIN_CASES.judged(row, ok=excess <= R4_TOLERANCE, details=details, summary=summary)


# ---------------------------------------------------------- transfers against hotel check-ins: R3

TRANSFERS_SQL = """
with check_in_latest as (
    select
        hotel_id, report_date, source_district_id, check_ins
    from landing.hotel_check_ins__current
    where report_date = any(%(window)s)
),
check_ins as (
    select source_district_id as district_id, report_date, sum(check_ins)::int as check_ins,
        count(distinct hotel_id) as hotels_reporting
    from check_in_latest
    group by source_district_id, report_date
),
districts as (
    select district_id, report_date, transferred_to_isolation, _version
    from landing.district_reports__current
    where report_date = any(%(window)s)
),
candidates as (
    select district_id, report_date from check_ins where report_date = any(%(dates)s)
    union
    select district_id, report_date from districts
    where report_date = any(%(dates)s) and district_id in (select district_id from check_ins)
)
select
    c.district_id, c.report_date,
    today.district_id is not null as has_district_report, today.transferred_to_isolation as transferred,
    today._version as district_version,
    yesterday.district_id is not null as has_previous_district_report,
    yesterday.transferred_to_isolation as previous_transferred,
    ci_today.check_ins as check_ins, ci_today.hotels_reporting,
    ci_tomorrow.check_ins as next_check_ins, ci_tomorrow.hotels_reporting as next_hotels_reporting
from candidates as c
left join districts as today on today.district_id = c.district_id and today.report_date = c.report_date
left join districts as yesterday
    on yesterday.district_id = c.district_id and yesterday.report_date = c.report_date - 1
left join check_ins as ci_today on ci_today.district_id = c.district_id and ci_today.report_date = c.report_date
left join check_ins as ci_tomorrow
    on ci_tomorrow.district_id = c.district_id and ci_tomorrow.report_date = c.report_date + 1
order by c.report_date, c.district_id
"""


def check_transfers_against_check_ins(conn: psycopg.Connection, report_dates: list[date]) -> Checked:
    """R3 per district and day, both ways: the day's transfers all check in on d or d+1; the day's
    check-ins came from transfers of d−1 or d. Only districts whose hotels report check-ins by district."""
    rows = rows_of(conn, TRANSFERS_SQL, {"dates": report_dates, "window": report_window(report_dates, -1, 1)})
    return [pair for row in rows for pair in (transfers_checked_in(row), check_ins_from_transfers(row))]


def _why_transfers_unevaluable(row: dict[str, Any]) -> str | None:
    if not row["has_district_report"] or row["transferred"] is None:
        return "no district report (or no transferred_to_isolation) for the day"
    if row["check_ins"] is None:
        return "no hotel reported check-ins for the day"
    if row["next_check_ins"] is None:
        return "the next day's hotel reports are not in yet (check-ins lag up to a day)"
    return None


def transfers_checked_in(row: dict[str, Any]) -> Pair:
    """R3 one way: the district's transfers of d all check in at a hotel on d or d+1."""
    reason = _why_transfers_unevaluable(row)
    if reason:
        return TRANSFERS_CHECKED_IN.unevaluable(row, reason)
    arrived = row["check_ins"] + row["next_check_ins"]
    shortfall = row["transferred"] - arrived
    details = {
        **TRANSFERS_CHECKED_IN.numbers_of(row),
        "checked_in_by_next_day": arrived,
        "shortfall": shortfall,
        "tolerance": R3_TOLERANCE,
        "district_version": row["district_version"],
    }
    summary = (
        f"district {row['district_id']} {row['report_date']}: transferred {row['transferred']} close contacts to "
        f"centralised isolation, but hotels report only {arrived} check-ins from the district that day and the next "
        f"({row['check_ins']} + {row['next_check_ins']}); {shortfall} unaccounted for"
    )
    return TRANSFERS_CHECKED_IN.judged(row, ok=shortfall <= R3_TOLERANCE, details=details, summary=summary)


def _why_check_ins_unevaluable(row: dict[str, Any]) -> str | None:
    if row["check_ins"] is None:
        return "no hotel reported check-ins for the day"
    if not (row["has_district_report"] and row["has_previous_district_report"]):
        return "no district report for the day or the day before"
    if row["transferred"] is None or row["previous_transferred"] is None:
        return "the district does not publish transferred_to_isolation"
    return None


def check_ins_from_transfers(row: dict[str, Any]) -> Pair:
    """R3 the other way: the check-ins from the district on d came from its transfers of d−1 and d."""
    reason = _why_check_ins_unevaluable(row)
    if reason:
        return CHECK_INS_FROM_TRANSFERS.unevaluable(row, reason)
    window = row["previous_transferred"] + row["transferred"]
    excess = row["check_ins"] - window
    numbers = CHECK_INS_FROM_TRANSFERS.numbers_of(row)
    details = {**numbers, "transferred_in_window": window, "excess": excess, "tolerance": R3_TOLERANCE}
    summary = (
        f"district {row['district_id']} {row['report_date']}: hotels report {row['check_ins']} check-ins from the "
        f"district, more than the {window} it transferred that day and the day before ({excess} more)"
    )
    return CHECK_INS_FROM_TRANSFERS.judged(row, ok=excess <= R3_TOLERANCE, details=details, summary=summary)
