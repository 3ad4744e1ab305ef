"""Platform rules on the file-drop feeds (testing-site and isolation-hotel daily reports) and their
reconciliation with the district feed, run per feed group after each file ingest.

Every rule reads the latest `_version` of each landed report (the `landing.<feed>__current` views dbt
reads too), in SQL; every result goes to dq.check_results (suite `file_feed_rules`, one check run per feed
group) and dq.findings is kept in step (`record_findings`): a failure opens or refreshes a finding whose
`details` hold the numbers involved, a check that now passes resolves it. Reporters and finding keys
(`rule:kind:feed:reporter:date`) name what the simulator's ground truth names:

| rule | module | reporter | finding key kind | severity |
| --- | --- | --- | --- | --- |
| V2 `positive_tubes ≤ tubes_sent_to_lab ≤ tubes ≤ samples_collected` (the contract's `orderings`) | `site_rows` | site_id | `ordering` (feed testing_site_reports) | error |
| V2 `rooms_occupied ≤ rooms_total` | `hotel_rows` | hotel_id | `ordering` (feed hotel_reports) | error |
| I3 guests(d) = guests(d−1) + check_ins(d) − check_outs(d), consecutive days only, exact | `hotel_rows` | hotel_id | `flow_identity` | error |
| I4 \\|tubes − ceil(samples / pool_size)\\| ≤ max(2 tubes, 10 %) | `site_rows` | site_id | `tube_pooling` | error |
| R2 \\|Σ sites' samples − district samples_collected\\| ≤ 2 % of the district's figure | `reconciliations` | district_id | `samples_collected` | error |
| R3 transferred(d) ≤ check-ins(d) + check-ins(d+1) from that district, all hotels | `reconciliations` | district_id | `transfers_not_checked_in` (feed hotel_check_ins) | error |
| R3 check-ins(d) ≤ transferred(d−1) + transferred(d) | `reconciliations` | district_id | `check_ins_without_transfers` | error |
| R4 Σ positive tubes of the district's sites on d ≤ new_positives(d) + new_positives(d+1) | `reconciliations` | district_id | `positive_tubes` | error |

The tolerances live in `file_feed_bounds`; the plausibility rules P1 (hotels) and P2 (sites) run after
these, in the same group.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import psycopg

from epifeeds.feeds.contracts import DISTRICT_REPORTS, HOTEL_CHECK_INS
from epifeeds.quality.file_feed_bounds import (
    R2_TOLERANCE,
    TOLERANCES,
    i4_allowed_difference,
    ordering_pairs,
    ordering_violations_sql,
    r2_allowed_difference,
    report_window,
)
from epifeeds.quality.findings import record_run
from epifeeds.quality.hotel_rows import HOTELS, check_hotel_rows
from epifeeds.quality.plausibility import check_plausibility
from epifeeds.quality.reconciliations import check_sites_against_districts, check_transfers_against_check_ins
from epifeeds.quality.results import CheckResult
from epifeeds.quality.site_rows import SITES, check_site_rows

__all__ = [
    "FEED_GROUPS",
    "GROUP_OF",
    "HOTELS",
    "R2_TOLERANCE",
    "SITES",
    "check_file_feed_rules",
    "dates_affected",
    "i4_allowed_difference",
    "ordering_pairs",
    "ordering_violations_sql",
    "r2_allowed_difference",
]

SUITE = "file_feed_rules"
FEED_GROUPS = (SITES, HOTELS)  # the site rules (V2, I4, R2, R4) and the hotel rules (V2, I3, R3)
# The feed group whose rules read each landed report feed (check-ins come inside hotel reports).
GROUP_OF = {SITES: SITES, HOTELS: HOTELS, HOTEL_CHECK_INS.feed: HOTELS}
RULES_OF = {
    SITES: (check_site_rows, check_sites_against_districts),
    HOTELS: (check_hotel_rows, check_transfers_against_check_ins),
}
# Feeds whose day d is read by the rules of d−1 and d+1 too: a hotel's day enters I3 of d+1 and R3 of
# d−1; the district's, R4 of d−1 (its new positives) and R3 of d+1 (its transfers).
_READ_AROUND = (HOTELS, HOTEL_CHECK_INS.feed, DISTRICT_REPORTS.feed)


def dates_affected(feed: str, report_dates: Iterable[date]) -> list[date]:
    """The report dates whose rules read a feed's data of these dates (a site day: only its own)."""
    return report_window(report_dates, -1, 1) if feed in _READ_AROUND else report_window(report_dates)


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
        checked = [pair for rule in RULES_OF[feed] for pair in rule(conn, dates)]
        statistics = {"tolerances": TOLERANCES}
        results += record_run(conn, SUITE, feed, run_id, checked, as_of, dates=dates, statistics=statistics)
        results += check_plausibility(conn, feed, dates, run_id, as_of)  # P1 (hotels), P2 (sites)
    return results
