"""Rule S1: each file delivery's header against its contract, from what the parser saw of it.

The parser never judges: it reports the columns it matched, the labels it did not know and the contract
columns the header lacks (`feeds.records.HeaderReport`, kept in the ledger, `landing.batches.header`).
Each run judges the newest landed delivery of every reporter and report date it covers, so a run cleared
or retried after a failed try judges what that try landed. Here:

- an unknown label next to a missing contract column is **drift** (error): the file's measure would
  land empty. The finding names the likely match (the missing column whose spellings are closest to
  the unknown label, e.g. 阳性结果管数 for positive_tubes, spelled 阳性管数) and how to accept the
  spelling: one more alias in `plugins/epifeeds/feeds/contracts.py`;
- a missing optional measure (a count column) with no unknown label beside it is a **warning**: the
  measure is blank for the whole file, not "pending";
- a missing required column never gets here: the file is quarantined (C3 `quarantined`, with the reason).

Findings are keyed on the delivery's reporter and report date (`S1:drift:<feed>:<reporter>:<date>`,
`S1:missing_optional:...`); a later delivery whose header is clean resolves them.
"""

from __future__ import annotations

from datetime import date, datetime
from difflib import SequenceMatcher
from typing import Any

import psycopg
from psycopg.rows import dict_row

from epifeeds.feeds.contracts import CONTRACTS, FeedContract
from epifeeds.feeds.names import normalise_label
from epifeeds.quality.findings import Finding, judged, record_run
from epifeeds.quality.results import CheckResult

SUITE = "schema_drift"
LIKELY_MATCH_RATIO = 0.5  # how alike an unknown label and a column's spelling must be to be named


def likely_match(label: str, contract: FeedContract, candidates: list[str]) -> tuple[str, str] | None:
    """(column, its closest spelling) among the missing `candidates` most like `label`, or None."""
    best: tuple[float, str, str] | None = None
    text = normalise_label(label)
    for name in candidates:
        column = contract.column(name)
        for spelling in (column.name, *column.aliases):
            ratio = SequenceMatcher(None, text, normalise_label(spelling)).ratio()
            if best is None or ratio > best[0]:
                best = (ratio, name, spelling)
    return (best[1], best[2]) if best and best[0] >= LIKELY_MATCH_RATIO else None


def _judge(contract: FeedContract, header: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The S1 problems of one header, by finding kind: {'drift': {...}, 'missing_optional': {...}}."""
    missing = [*header.get("missing_required", []), *header.get("missing_optional", [])]
    matches: dict[str, dict[str, str]] = {}
    for label in header.get("unknown", []):
        found = likely_match(label, contract, [m for m in missing if m not in matches])
        if found:
            matches[found[0]] = {"unknown_label": label, "expected_spelling": found[1]}
    problems: dict[str, dict[str, Any]] = {}
    if matches:
        problems["drift"] = {"columns": sorted(matches), "likely_matches": matches}
    measures = set(header.get("measures", []))
    silent = [c for c in header.get("missing_optional", []) if c in measures and c not in matches]
    if silent:
        problems["missing_optional"] = {"columns": silent}
    return problems


def _summary(kind: str, feed: str, reporter: str, day: date, problem: dict[str, Any]) -> str:
    if kind == "drift":
        pairs = "; ".join(
            f"column {m['unknown_label']!r} is not in the contract and {column} (spelled "
            f"{m['expected_spelling']!r}) is missing: likely the same"
            for column, m in problem["likely_matches"].items()
        )
        return (
            f"{feed} from {reporter} for {day}: header drift — {pairs}. The file landed with "
            f"{', '.join(problem['columns'])} empty (not pending). If the spelling is right, add it to the "
            "column's aliases in plugins/epifeeds/feeds/contracts.py and the file is read again; otherwise "
            "ask the sender for the standard header"
        )
    return (
        f"{feed} from {reporter} for {day}: the header has no column for {', '.join(problem['columns'])}; "
        "the file landed with that measure blank for every row (not pending). Ask the sender whether "
        "the column was dropped from the export"
    )


def check_delivery(delivery: dict[str, Any]) -> list[tuple[CheckResult, Finding]]:
    """S1 results and findings (failing or passing) for one delivery record with a header report."""
    contract = CONTRACTS[delivery["feed"]]
    header = delivery["header"]
    reporter, day = delivery["reporter"], date.fromisoformat(delivery["report_date"])
    problems = _judge(contract, header)
    checked = []
    for kind, severity in (("drift", "error"), ("missing_optional", "warn")):
        problem = problems.get(kind)
        details = {
            **(problem or {}),
            "unknown": header.get("unknown", []),
            "matched": header.get("matched", {}),
            "batch_id": delivery.get("batch_id"),
            "delivery_reporter": reporter,
            "source_uri": delivery.get("source_uri"),
        }
        checked.append(
            judged(
                f"header_matches_contract({kind})", "S1", contract.feed, reporter, day,
                failed=bool(problem), severity=severity, kind=kind,
                summary=_summary(kind, contract.feed, reporter, day, problem) if problem else "",
                details=details, observed=details, expected={"columns": [c.name for c in contract.columns]},
            )
        )  # fmt: skip
    return checked


# The newest landed delivery of each reporter and report date (in delivery order), with its header report.
NEWEST_DELIVERIES = """
select distinct on (reporter, report_date) batch_id, feed, reporter, report_date, source_uri, header
from landing.batches
where feed = %s and report_date = any(%s) and status = 'landed'
order by reporter, report_date, received_at desc, batch_id desc
"""


def check_headers(
    conn: psycopg.Connection, feed: str, report_dates: list[date], run_id: str, as_of: datetime
) -> list[CheckResult]:
    """S1 on the newest landed delivery of every reporter of `feed` on `report_dates` that has a header
    report; results stored, findings kept in step."""
    with conn.cursor(row_factory=dict_row) as cursor:
        newest = cursor.execute(NEWEST_DELIVERIES, (feed, report_dates)).fetchall()
    deliveries = [{**d, "report_date": d["report_date"].isoformat()} for d in newest if d["header"]]
    checked = [pair for d in deliveries for pair in check_delivery(d)]
    if not checked:
        return []
    return record_run(conn, SUITE, checked[0][0].feed, run_id, checked, as_of)
