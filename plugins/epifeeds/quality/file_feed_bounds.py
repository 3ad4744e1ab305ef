"""What the file-feed rules allow, and which days they read: the tolerances of I4, R2, R3 and R4, the
contracts' orderings (V2) as SQL, and the window of report dates around the judged ones.

R2's tolerance is also dbt's (`dbt_project.yml` var `samples_tolerance_pct`, imported from
`quality/file_feed_rules.py`), held equal by `tests/unit/test_dbt_contract.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from epifeeds.feeds.contracts import FeedContract

SEVERITY = "error"  # every file-feed rule's failures

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
TOLERANCES = {"I4": [I4_MIN_TUBES, I4_SHARE], "R2": R2_TOLERANCE, "R3": R3_TOLERANCE, "R4": R4_TOLERANCE}


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


def orderings_expected(contract: FeedContract) -> dict[str, list[str]]:
    """V2's expected value as results store it: each chain written out, 'a ≤ b ≤ c'."""
    return {"orderings": [" ≤ ".join(chain) for chain in contract.orderings]}


def i4_allowed_difference(expected_tubes: int) -> int:
    """How far tubes may be from ceil(samples / pool) (I4)."""
    return max(I4_MIN_TUBES, -(-expected_tubes * int(I4_SHARE * 100) // 100))


def r2_allowed_difference(district_samples: int) -> float:
    return R2_TOLERANCE * district_samples


def report_window(report_dates: Iterable[date], *offsets: int) -> list[date]:
    """The report dates and the days at the given offsets from each (−1: the day before), sorted."""
    return sorted({day + timedelta(days=o) for day in report_dates for o in (0, *offsets)})
