"""Row rules on testing-site reports: V2 the contract's orderings
(`positive_tubes ≤ tubes_sent_to_lab ≤ tubes ≤ samples_collected`, blanks skipped) and I4 tube pooling
(|tubes − ceil(samples / pool_size)| ≤ max(2 tubes, 10 %)), on the latest version of every row.

One result per district file, day and rule (how many rows were checked, which failed), and one finding
per failing site row (reporter = the site, `details.delivery_reporter` = the district whose file it is,
so the alerts tell the file once). A site's finding resolves when its file's rows are checked again and
it no longer fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from epifeeds.feeds.contracts import TESTING_SITE_REPORTS
from epifeeds.quality.file_feed_bounds import (
    I4_MIN_TUBES,
    I4_SHARE,
    SEVERITY,
    ordering_violations_sql,
    orderings_expected,
)
from epifeeds.quality.findings import Checked, Finding, judged, rows_of
from epifeeds.quality.results import CheckResult

SITES = TESTING_SITE_REPORTS.feed

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


def _orderings_broken(row: dict, district_id: str, day: date) -> str:
    return (
        f"testing site {row['site_id']} ({district_id}) {day}: {', '.join(row['broken'])} (positive tubes "
        f"{row['positive_tubes']}, sent to lab {row['tubes_sent_to_lab']}, tubes {row['tubes']}, samples "
        f"{row['samples_collected']}); ask the district office which figure is wrong"
    )


def _pooling_off(row: dict, district_id: str, day: date) -> str:
    return (
        f"testing site {row['site_id']} ({district_id}) {day}: {row['tubes']} tubes for {row['samples_collected']} "
        f"samples pooled {row['pool_size']}-in-1, expected about {row['expected_tubes']} "
        f"(±{row['allowed_difference']}); check the pooling mode and the tube count"
    )


@dataclass(frozen=True)
class SiteRowRule:
    rule: str
    kind: str  # the finding key's kind
    check: str
    failing: str  # the query's column listing the failing rows of a file
    counted: str  # the query's column counting the rows the rule could judge
    expected: dict[str, Any]
    summary: Callable[[dict, str, date], str]


SITE_ROW_RULES = (
    SiteRowRule(
        "V2", "ordering", "site_orderings", "v2_failing", "rows_checked",
        orderings_expected(TESTING_SITE_REPORTS), _orderings_broken,
    ),
    SiteRowRule(
        "I4", "tube_pooling", "tubes_match_samples_over_pool_size", "i4_failing", "rows_with_pool_size",
        {"tubes": "ceil(samples_collected / pool_size)", "allowed_difference": f"max({I4_MIN_TUBES}, {I4_SHARE:.0%})"},
        _pooling_off,
    ),
)  # fmt: skip


def check_site_rows(conn: psycopg.Connection, report_dates: list[date]) -> Checked:
    """V2 orderings and I4 pooling on every site row of the dates: one result per district file and rule,
    one finding per failing site row."""
    files = rows_of(
        conn, SITE_ROWS_SQL, {"dates": report_dates, "i4_min": I4_MIN_TUBES, "i4_share": I4_SHARE}
    )
    return [pair for rule in SITE_ROW_RULES for pair in _judge_files(conn, rule, files)]


def _judge_files(conn: psycopg.Connection, rule: SiteRowRule, files: list[dict]) -> Checked:
    checked: Checked = []
    for file in files:
        district_id, day, failing = file["district_id"], file["report_date"], file[rule.failing]
        observed = {"rows_checked": file[rule.counted], "failing_sites": [row["site_id"] for row in failing]}
        status, severity = ("fail", SEVERITY) if failing else ("pass", "info")
        result = CheckResult(
            rule.check, rule.rule, SITES, district_id, day, observed, rule.expected, severity, status
        )
        checked.append((result, None))
        checked += [_failing_row(rule, row, district_id, day) for row in failing]
    failing_keys = {finding.key for _, finding in checked if finding is not None}
    days = sorted({file["report_date"] for file in files})
    return checked + _resolving(conn, rule, days, failing_keys)


def _failing_row(rule: SiteRowRule, row: dict, district_id: str, day: date) -> tuple[CheckResult, Finding]:
    return judged(
        rule.check, rule.rule, SITES, row["site_id"], day,
        failed=True, severity=SEVERITY, kind=rule.kind, summary=rule.summary(row, district_id, day),
        details={"district_id": district_id, "delivery_reporter": district_id, **row},  # alerts: once per file
        observed=row, expected=rule.expected,
    )  # fmt: skip


def _resolving(
    conn: psycopg.Connection, rule: SiteRowRule, days: list[date], failing_keys: set[str]
) -> Checked:
    """Passing pairs for the open row findings of the days checked now whose row no longer fails."""
    open_keys = conn.execute(
        "select finding_key from dq.findings where rule = %s and feed = %s and finding_key like %s"
        " and report_date = any(%s) and status in ('open', 'silenced')",
        (rule.rule, SITES, f"{rule.rule}:{rule.kind}:{SITES}:%", days),
    ).fetchall()
    pairs: Checked = []
    for (key,) in open_keys:
        if key in failing_keys:
            continue
        reporter, day = key.split(":")[3], date.fromisoformat(key.split(":")[4])
        pairs.append(
            judged(
                rule.check,
                rule.rule,
                SITES,
                reporter,
                day,
                failed=False,
                severity=SEVERITY,
                kind=rule.kind,
                summary="",
                details={},
                observed={"resolved": True},
                expected={},
            )  # fmt: skip
        )
    return pairs
