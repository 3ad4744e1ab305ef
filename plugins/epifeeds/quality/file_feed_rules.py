"""Platform rules on the file-drop feeds (testing-site and isolation-hotel daily reports) and their
reconciliation with the district feed: V2 orderings, I3 hotel flow, I4 tube pooling, R2, R3, R4.

Every rule reads the latest `_version` of each landed report (what dbt and BI read), in SQL; every
result goes to dq.check_results (suite `file_feed_rules`, one check run per feed group) and dq.findings
is kept in step (`record_findings`): a failure opens or refreshes a finding whose `details` hold the
numbers involved, a check that now passes resolves it. Reporters and finding keys
(`rule:kind:feed:reporter:date`) name what the simulator's ground truth names:

| rule | reporter | finding key kind | severity |
| --- | --- | --- | --- |
| V2 `positive_tubes ≤ tubes_sent_to_lab ≤ tubes ≤ samples_collected` (the contract's `orderings`) | site_id | `ordering` (feed testing_site_reports) | error |
| V2 `rooms_occupied ≤ rooms_total` | hotel_id | `ordering` (feed hotel_reports) | error |
| I3 guests(d) = guests(d−1) + check_ins(d) − check_outs(d), consecutive days only, exact | hotel_id | `flow_identity` | error |
| I4 \\|tubes − ceil(samples / pool_size)\\| ≤ max(2 tubes, 10 %) | site_id | `tube_pooling` | error |
| R2 \\|Σ sites' samples − district samples_collected\\| ≤ 2 % of the district's figure | district_id | `samples_collected` | error |
| R3 transferred(d) ≤ check-ins(d) + check-ins(d+1) from that district, all hotels | district_id | `transfers_not_checked_in` (feed hotel_check_ins) | error |
| R3 check-ins(d) ≤ transferred(d−1) + transferred(d) | district_id | `check_ins_without_transfers` | error |
| R4 Σ positive tubes of the district's sites on d ≤ new_positives(d) + new_positives(d+1) | district_id | `positive_tubes` | error |

Row rules on sites (V2, I4) store one result per district file and day (how many rows were checked,
which failed with their numbers) and one finding per failing site row; a site's finding resolves when
its file's rows are checked again and it no longer fails. Reconciliations (R2–R4) are *not evaluable*
when a side is missing — no district report (C1's finding), no site file, the next day's hotel reports
or district report not in yet (the one-day lag): the result is stored as status 'pass', severity
'info', observed.evaluable = false with the reason, and no finding is opened or resolved.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from epifeeds.feeds.contracts import (
    DISTRICT_REPORTS,
    HOTEL_CHECK_INS,
    HOTEL_REPORTS,
    TESTING_SITE_REPORTS,
    FeedContract,
)
from epifeeds.quality.completeness import finding_key
from epifeeds.quality.findings import Finding, record_findings
from epifeeds.quality.plausibility import check_plausibility
from epifeeds.quality.results import CheckResult, status_counts, store_check_run

SUITE = "file_feed_rules"
SITES = TESTING_SITE_REPORTS.feed
HOTELS = HOTEL_REPORTS.feed
CHECK_INS = HOTEL_CHECK_INS.feed
FEED_GROUPS = (SITES, HOTELS)  # the site rules (V2, I4, R2, R4) and the hotel rules (V2, I3, R3)
SEVERITY = "error"

# I4: tubes may differ from ceil(samples / pool) by a tube or two (a spoiled tube redone, a last pool not
# filled) and by up to 10 % of the expected count on a big site; beyond that the pooling is off.
I4_MIN_TUBES = 2
I4_SHARE = 0.10
# R2: the district's samples_collected and its sites' sum may differ by 2 % of the district's figure.
R2_TOLERANCE = 0.02
# R3: every transferred person checks in on the day or the next (persons; 0 = none may be unaccounted).
R3_TOLERANCE = 0
# R4: positive tubes may not exceed the district's new positives of the day and the next (the lab lag).
R4_TOLERANCE = 0

Checked = list[tuple[CheckResult, Finding | None]]


# --------------------------------------------------------------------------------------------- helpers


def ordering_pairs(contract: FeedContract) -> list[tuple[str, str]]:
    """Every (lower, higher) pair each ordering chain implies: a ≤ b ≤ c gives (a, b), (a, c), (b, c).

    Comparing every pair whose two values are present is the chain with blanks skipped (a blank
    positive_tubes, pending lab results, still leaves tubes ≤ samples to check)."""
    return [
        (chain[i], chain[j])
        for chain in contract.orderings
        for i in range(len(chain))
        for j in range(i + 1, len(chain))
    ]


def ordering_violations_sql(contract: FeedContract, alias: str = "") -> str:
    """A SQL text[] of the broken relations of a row, e.g. {'rooms_occupied > rooms_total'}; empty if none.
    `alias` qualifies the columns (a table alias in the query)."""
    q = f"{alias}." if alias else ""
    cases = ", ".join(f"case when {q}{a} > {q}{b} then '{a} > {b}' end" for a, b in ordering_pairs(contract))
    return f"array_remove(array[{cases}]::text[], null)"


def i4_allowed_difference(expected_tubes: int) -> int:
    """How far tubes may be from ceil(samples / pool) (I4)."""
    return max(I4_MIN_TUBES, -(-expected_tubes * int(I4_SHARE * 100) // 100))


def r2_allowed_difference(district_samples: int) -> float:
    return R2_TOLERANCE * district_samples


def _dates(report_dates: Iterable[date], *offsets: int) -> list[date]:
    return sorted({day + timedelta(days=o) for day in report_dates for o in (0, *offsets)})


def _not_evaluable(
    check: str, rule: str, feed: str, reporter: str, day: date, reason: str, numbers: dict, expected: dict
) -> tuple[CheckResult, None]:
    observed = {"evaluable": False, "reason": reason, **numbers}
    return CheckResult(check, rule, feed, reporter, day, observed, expected, "info", "pass"), None


def _checked(
    check: str,
    rule: str,
    feed: str,
    reporter: str,
    day: date,
    ok: bool,
    observed: dict,
    expected: dict,
    key: str,
    summary: str,
    details: dict,
) -> tuple[CheckResult, Finding]:
    result = CheckResult(
        check,
        rule,
        feed,
        reporter,
        day,
        observed,
        expected,
        "info" if ok else SEVERITY,
        "pass" if ok else "fail",
    )
    finding = Finding(key, feed, rule, reporter, day, SEVERITY, summary, details)
    return result, finding


def _rows(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _open_keys(
    conn: psycopg.Connection, rule: str, kind: str, feed: str, report_dates: list[date]
) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "select finding_key from dq.findings where rule = %s and feed = %s and finding_key like %s"
            " and report_date = any(%s) and status in ('open', 'silenced')",
            (rule, feed, f"{rule}:{kind}:{feed}:%", report_dates),
        ).fetchall()
    ]


def _resolving(
    conn: psycopg.Connection,
    rule: str,
    kind: str,
    feed: str,
    checked_files: set[tuple[str, date]],
    failing_keys: set[str],
    check: str,
) -> Checked:
    """Passing pairs for the open row findings of files checked now whose row no longer fails."""
    days = sorted({day for _, day in checked_files})
    pairs: Checked = []
    for key in _open_keys(conn, rule, kind, feed, days):
        if key in failing_keys:
            continue
        reporter, day = key.split(":")[3], date.fromisoformat(key.split(":")[4])
        result = CheckResult(check, rule, feed, reporter, day, {"resolved": True}, {}, "info", "pass")
        pairs.append((result, Finding(key, feed, rule, reporter, day, SEVERITY, "", {})))
    return pairs


# ------------------------------------------------------------------------------- site rows: V2 and I4

SITE_ROWS_SQL = f"""
with latest as (
    select
        site_id, district_id, report_date, pool_size, samples_collected, tubes, tubes_sent_to_lab,
        positive_tubes, _version
    from landing.testing_site_reports__current
    where report_date = any(%(dates)s)
),
judged as (
    select *,
        {ordering_violations_sql(TESTING_SITE_REPORTS)} as broken,
        case when pool_size > 0 then ceil(samples_collected::numeric / pool_size)::int end as expected_tubes
    from latest
),
flagged as (
    select *,
        expected_tubes is not null
            and abs(tubes - expected_tubes) > greatest(%(i4_min)s, ceil(expected_tubes * %(i4_share)s)) as is_i4_break
    from judged
)
select
    district_id,
    report_date,
    count(*) as rows_checked,
    count(expected_tubes) as rows_with_pool_size,
    coalesce(jsonb_agg(jsonb_build_object(
        'site_id', site_id, 'broken', broken, 'positive_tubes', positive_tubes,
        'tubes_sent_to_lab', tubes_sent_to_lab, 'tubes', tubes, 'samples_collected', samples_collected,
        'version', _version) order by site_id) filter (where cardinality(broken) > 0), '[]') as v2_failing,
    coalesce(jsonb_agg(jsonb_build_object(
        'site_id', site_id, 'samples_collected', samples_collected, 'pool_size', pool_size, 'tubes', tubes,
        'expected_tubes', expected_tubes, 'difference', tubes - expected_tubes,
        'allowed_difference', greatest(%(i4_min)s, ceil(expected_tubes * %(i4_share)s))::int,
        'version', _version) order by site_id) filter (where is_i4_break), '[]') as i4_failing
from flagged
group by district_id, report_date
order by report_date, district_id
"""


def check_site_rows(conn: psycopg.Connection, report_dates: list[date]) -> Checked:
    """V2 orderings and I4 pooling on every site row of the dates: one result per district file and rule,
    one finding per failing site row."""
    groups = _rows(conn, SITE_ROWS_SQL, {"dates": report_dates, "i4_min": I4_MIN_TUBES, "i4_share": I4_SHARE})
    checked: Checked = []
    files = {(g["district_id"], g["report_date"]) for g in groups}
    rules = (
        ("V2", "ordering", "site_orderings", "v2_failing", "rows_checked"),
        ("I4", "tube_pooling", "tubes_match_samples_over_pool_size", "i4_failing", "rows_with_pool_size"),
    )
    for rule, kind, check, column, counted in rules:
        failing_keys: set[str] = set()
        for group in groups:
            district_id, day, failing = group["district_id"], group["report_date"], group[column]
            expected = (
                {"orderings": [" ≤ ".join(chain) for chain in TESTING_SITE_REPORTS.orderings]}
                if rule == "V2"
                else {
                    "tubes": "ceil(samples_collected / pool_size)",
                    "allowed_difference": f"max({I4_MIN_TUBES}, {I4_SHARE:.0%})",
                }
            )
            observed = {"rows_checked": group[counted], "failing_sites": [row["site_id"] for row in failing]}
            checked.append(
                (
                    CheckResult(
                        check,
                        rule,
                        SITES,
                        district_id,
                        day,
                        observed,
                        expected,
                        SEVERITY if failing else "info",
                        "fail" if failing else "pass",
                    ),
                    None,
                )
            )
            for row in failing:
                key = finding_key(rule, kind, SITES, row["site_id"], day)
                failing_keys.add(key)
                checked.append(
                    (
                        _row_result(rule, check, row, day, expected),
                        _site_finding(rule, key, row, district_id, day),
                    )
                )
        checked += _resolving(conn, rule, kind, SITES, files, failing_keys, check)
    return checked


def _row_result(rule: str, check: str, row: dict, day: date, expected: dict) -> CheckResult:
    return CheckResult(check, rule, SITES, row["site_id"], day, row, expected, SEVERITY, "fail")


def _site_finding(rule: str, key: str, row: dict, district_id: str, day: date) -> Finding:
    site = row["site_id"]
    if rule == "V2":
        summary = (
            f"testing site {site} ({district_id}) {day}: {', '.join(row['broken'])} (positive tubes "
            f"{row['positive_tubes']}, sent to lab {row['tubes_sent_to_lab']}, tubes {row['tubes']}, samples "
            f"{row['samples_collected']}); ask the district office which figure is wrong"
        )
    else:
        summary = (
            f"testing site {site} ({district_id}) {day}: {row['tubes']} tubes for {row['samples_collected']} samples"
            f" pooled {row['pool_size']}-in-1, expected about {row['expected_tubes']} (±{row['allowed_difference']});"
            " check the pooling mode and the tube count"
        )
    details = {"district_id": district_id, "delivery_reporter": district_id, **row}  # alerts: once per file
    return Finding(key, SITES, rule, site, day, SEVERITY, summary, details)


# ----------------------------------------------------------------------------- hotel rows: V2 and I3

HOTEL_ROWS_SQL = f"""
with latest as (
    select
        hotel_id, district_id, report_date, rooms_total, rooms_occupied, guests, check_ins, check_outs, _version
    from landing.hotel_reports__current
    where report_date = any(%(window)s)
)
select
    today.hotel_id, today.district_id, today.report_date, today.rooms_total, today.rooms_occupied,
    {ordering_violations_sql(HOTEL_REPORTS, "today")} as broken,
    today.guests, today.check_ins, today.check_outs, today._version as version,
    yesterday.guests as previous_guests, yesterday._version as previous_version,
    yesterday.guests + today.check_ins - today.check_outs as expected_guests
from latest as today
left join latest as yesterday
    on yesterday.hotel_id = today.hotel_id and yesterday.report_date = today.report_date - 1
where today.report_date = any(%(dates)s)
order by today.report_date, today.hotel_id
"""


def check_hotel_rows(conn: psycopg.Connection, report_dates: list[date]) -> Checked:
    """V2 (rooms) and I3 (guest flow) per hotel and day; I3 only where the day before was reported too."""
    rows = _rows(conn, HOTEL_ROWS_SQL, {"dates": report_dates, "window": _dates(report_dates, -1)})
    checked: Checked = []
    orderings = [" ≤ ".join(chain) for chain in HOTEL_REPORTS.orderings]
    for row in rows:
        hotel_id, day = row["hotel_id"], row["report_date"]
        rooms = {k: row[k] for k in ("rooms_occupied", "rooms_total")}
        checked.append(
            _checked(
                "hotel_orderings",
                "V2",
                HOTELS,
                hotel_id,
                day,
                not row["broken"],
                {**rooms, "broken": row["broken"]},
                {"orderings": orderings},
                finding_key("V2", "ordering", HOTELS, hotel_id, day),
                f"isolation hotel {hotel_id} ({row['district_id']}) {day}: {', '.join(row['broken'])} "
                f"({row['rooms_occupied']} rooms occupied of {row['rooms_total']}); ask the hotel to correct its report",
                {
                    "district_id": row["district_id"],
                    **rooms,
                    "excess_rooms": row["rooms_occupied"] - row["rooms_total"],
                    "broken": row["broken"],
                    "version": row["version"],
                },
            )
        )
        if row["previous_guests"] is None:
            continue  # no report the day before: C1's finding, not this hotel's arithmetic
        flow = {
            k: row[k]
            for k in (
                "guests",
                "previous_guests",
                "check_ins",
                "check_outs",
                "expected_guests",
                "version",
                "previous_version",
            )
        }
        difference = row["guests"] - row["expected_guests"]
        checked.append(
            _checked(
                "guests_follow_check_ins_and_outs",
                "I3",
                HOTELS,
                hotel_id,
                day,
                difference == 0,
                flow,
                {"identity": "guests(d) = guests(d-1) + check_ins(d) - check_outs(d)", "tolerance": 0},
                finding_key("I3", "flow_identity", HOTELS, hotel_id, day),
                f"isolation hotel {hotel_id} ({row['district_id']}) {day}: {row['guests']} guests, but "
                f"{row['previous_guests']} the day before + {row['check_ins']} check-ins − {row['check_outs']} "
                f"check-outs = {row['expected_guests']} (difference {difference:+d}); a wrong count today also "
                "breaks tomorrow's identity",
                {
                    "district_id": row["district_id"],
                    "previous_date": str(day - timedelta(days=1)),
                    **flow,
                    "difference": difference,
                },
            )
        )
    return checked


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
    rows = _rows(
        conn, SITES_VS_DISTRICT_SQL, {"dates": report_dates, "window": _dates(report_dates, 1), "feed": SITES}
    )
    return [pair for row in rows for pair in (_r2(row), _r4(row))]


def _r2(row: dict) -> tuple[CheckResult, Finding | None]:
    district_id, day = row["district_id"], row["report_date"]
    numbers = {
        "site_samples": row["site_samples"],
        "site_rows": row["site_rows"],
        "district_samples": row["district_samples"],
        "latest_file_status": row["latest_file_status"],
    }
    expected = {"tolerance": R2_TOLERANCE, "of": "the district's samples_collected"}
    check = "district_samples_match_its_sites"
    if not row["has_district_report"]:
        return _not_evaluable(
            check, "R2", SITES, district_id, day, "no district report for the day", numbers, expected
        )
    if row["district_samples"] is None:
        reason = "the district report does not publish samples_collected"
        return _not_evaluable(check, "R2", SITES, district_id, day, reason, numbers, expected)
    difference = row["site_samples"] - row["district_samples"]
    allowed = r2_allowed_difference(row["district_samples"])
    share = difference / row["district_samples"] if row["district_samples"] else None
    details = {
        **numbers,
        "difference": difference,
        "difference_share": round(share, 4) if share is not None else None,
        "allowed_difference": allowed,
        "tolerance": R2_TOLERANCE,
        "district_version": row["district_version"],
    }
    return _checked(
        check,
        "R2",
        SITES,
        district_id,
        day,
        abs(difference) <= allowed,
        {"evaluable": True, **details},
        expected | {"district_samples": row["district_samples"]},
        finding_key("R2", "samples_collected", SITES, district_id, day),
        f"district {district_id} {day}: reports {row['district_samples']} samples collected, its {row['site_rows']} "
        f"testing-site rows add up to {row['site_samples']} ({difference:+d}"
        + (f", {share:+.1%}" if share is not None else "")
        + f"; tolerance ±{R2_TOLERANCE:.0%})"
        + (
            ""
            if row["latest_file_status"] == "landed"
            else f"; the site file was {row['latest_file_status']}"
        ),
        details,
    )


def _r4(row: dict) -> tuple[CheckResult, Finding | None]:
    district_id, day = row["district_id"], row["report_date"]
    positives, today, tomorrow = row["positive_tubes"], row["new_positives"], row["next_new_positives"]
    numbers = {
        "site_positive_tubes": positives,
        "sites_without_lab_results": row["sites_without_lab_results"],
        "district_new_positives": today,
        "district_new_positives_next_day": tomorrow,
    }
    expected = {"at_most": "new_positives(d) + new_positives(d+1)", "tolerance": R4_TOLERANCE}
    check = "site_positives_within_district_cases"
    if not row["has_district_report"] or today is None:
        return _not_evaluable(
            check, "R4", SITES, district_id, day, "no district report for the day", numbers, expected
        )
    if positives > today + R4_TOLERANCE and not row["has_next_district_report"]:
        reason = "more positive tubes than the day's new positives; waiting for the next day's district report (lab lag)"
        return _not_evaluable(check, "R4", SITES, district_id, day, reason, numbers, expected)
    window = today + (tomorrow or 0)
    excess = positives - window
    details = {**numbers, "window_new_positives": window, "excess": excess, "tolerance": R4_TOLERANCE}
    return _checked(
        check,
        "R4",
        SITES,
        district_id,
        day,
        excess <= R4_TOLERANCE,
        {"evaluable": True, **details},
        expected,
        finding_key("R4", "positive_tubes", SITES, district_id, day),
        f"district {district_id} {day}: its testing sites report {positives} positive tubes, but the district reports "
        f"{today} new positives that day and {tomorrow or 0} the next ({window} within the lab lag, {excess} short);"
        " a positive tube not followed by a case needs a look",
        details,
    )


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
    rows = _rows(conn, TRANSFERS_SQL, {"dates": report_dates, "window": _dates(report_dates, -1, 1)})
    return [pair for row in rows for pair in (_r3_shortfall(row), _r3_excess(row))]


def _r3_shortfall(row: dict) -> tuple[CheckResult, Finding | None]:
    district_id, day = row["district_id"], row["report_date"]
    numbers = {
        "transferred_to_isolation": row["transferred"],
        "check_ins": row["check_ins"],
        "next_day_check_ins": row["next_check_ins"],
        "hotels_reporting": row["hotels_reporting"],
        "next_day_hotels_reporting": row["next_hotels_reporting"],
    }
    expected = {
        "at_least": "transferred_to_isolation(d)",
        "of": "check_ins(d) + check_ins(d+1)",
        "tolerance": R3_TOLERANCE,
    }
    check = "transfers_checked_in_by_next_day"
    reason = None
    if not row["has_district_report"] or row["transferred"] is None:
        reason = "no district report (or no transferred_to_isolation) for the day"
    elif row["check_ins"] is None:
        reason = "no hotel reported check-ins for the day"
    elif row["next_check_ins"] is None:
        reason = "the next day's hotel reports are not in yet (check-ins lag up to a day)"
    if reason:
        return _not_evaluable(check, "R3", CHECK_INS, district_id, day, reason, numbers, expected)
    arrived = row["check_ins"] + row["next_check_ins"]
    shortfall = row["transferred"] - arrived
    details = {
        **numbers,
        "checked_in_by_next_day": arrived,
        "shortfall": shortfall,
        "tolerance": R3_TOLERANCE,
        "district_version": row["district_version"],
    }
    return _checked(
        check,
        "R3",
        CHECK_INS,
        district_id,
        day,
        shortfall <= R3_TOLERANCE,
        {"evaluable": True, **details},
        expected,
        finding_key("R3", "transfers_not_checked_in", CHECK_INS, district_id, day),
        f"district {district_id} {day}: transferred {row['transferred']} close contacts to centralised isolation, "
        f"but hotels report only {arrived} check-ins from the district that day and the next ({row['check_ins']} + "
        f"{row['next_check_ins']}); {shortfall} unaccounted for",
        details,
    )


def _r3_excess(row: dict) -> tuple[CheckResult, Finding | None]:
    district_id, day = row["district_id"], row["report_date"]
    numbers = {
        "check_ins": row["check_ins"],
        "transferred_to_isolation": row["transferred"],
        "previous_day_transferred_to_isolation": row["previous_transferred"],
        "hotels_reporting": row["hotels_reporting"],
    }
    expected = {
        "at_most": "transferred_to_isolation(d-1) + transferred_to_isolation(d)",
        "of": "check_ins(d)",
        "tolerance": R3_TOLERANCE,
    }
    check = "check_ins_come_from_transfers"
    reason = None
    if row["check_ins"] is None:
        reason = "no hotel reported check-ins for the day"
    elif not (row["has_district_report"] and row["has_previous_district_report"]):
        reason = "no district report for the day or the day before"
    elif row["transferred"] is None or row["previous_transferred"] is None:
        reason = "the district does not publish transferred_to_isolation"
    if reason:
        return _not_evaluable(check, "R3", CHECK_INS, district_id, day, reason, numbers, expected)
    window = row["previous_transferred"] + row["transferred"]
    excess = row["check_ins"] - window
    details = {**numbers, "transferred_in_window": window, "excess": excess, "tolerance": R3_TOLERANCE}
    return _checked(
        check,
        "R3",
        CHECK_INS,
        district_id,
        day,
        excess <= R3_TOLERANCE,
        {"evaluable": True, **details},
        expected,
        finding_key("R3", "check_ins_without_transfers", CHECK_INS, district_id, day),
        f"district {district_id} {day}: hotels report {row['check_ins']} check-ins from the district, more than the "
        f"{window} it transferred that day and the day before ({excess} more)",
        details,
    )


# ----------------------------------------------------------------------------------------- running

RULES_OF = {
    SITES: (check_site_rows, check_sites_against_districts),
    HOTELS: (check_hotel_rows, check_transfers_against_check_ins),
}


def dates_affected(feed: str, report_dates: Iterable[date]) -> list[date]:
    """The report dates whose rules read a feed's data of these dates: a hotel's day d also enters I3 of
    d+1 and R3 of d−1; a site day only its own."""
    if feed in (HOTELS, CHECK_INS):
        return _dates(report_dates, -1, 1)
    if (
        feed == DISTRICT_REPORTS.feed
    ):  # R4 of d−1 reads the district's new positives of d; R3 of d+1 its transfers
        return _dates(report_dates, -1, 1)
    return _dates(report_dates)


def check_file_feed_rules(
    conn: psycopg.Connection,
    report_dates: Iterable[date],
    run_id: str,
    as_of: datetime | None = None,
    feeds: Iterable[str] = FEED_GROUPS,
) -> list[CheckResult]:
    """The site rules (V2, I4, R2, R4) and/or the hotel rules (V2, I3, R3) on the given report dates:
    every result stored (one check run per feed group), findings opened, refreshed or resolved.

    `as_of` stamps the findings; pass the run's data-interval time from a DAG task (default: now)."""
    as_of = as_of or datetime.now(UTC)
    dates = sorted(set(report_dates))
    results: list[CheckResult] = []
    if not dates:
        return results
    for feed in [f for f in FEED_GROUPS if f in set(feeds)]:
        checked: Checked = [pair for rule in RULES_OF[feed] for pair in rule(conn, dates)]
        opened, resolved = record_findings(conn, checked, as_of)
        group = [result for result, _ in checked if not (result.observed or {}).get("resolved")]
        store_check_run(
            conn,
            suite=SUITE,
            feed=feed,
            report_date=dates[0] if len(dates) == 1 else None,
            run_id=run_id,
            results=group,
            statistics={
                "report_dates": [d.isoformat() for d in dates],
                "results": status_counts(group),
                "findings_opened_or_refreshed": opened,
                "findings_resolved": resolved,
                "tolerances": {
                    "I4": [I4_MIN_TUBES, I4_SHARE],
                    "R2": R2_TOLERANCE,
                    "R3": R3_TOLERANCE,
                    "R4": R4_TOLERANCE,
                },
            },
        )
        results += group
        results += check_plausibility(conn, feed, dates, run_id, as_of)  # P1 (hotels), P2 (sites)
    return results
