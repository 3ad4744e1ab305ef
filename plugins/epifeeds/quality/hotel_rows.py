"""Row rules on isolation-hotel reports, per hotel and day on the latest version of every report: V2
`rooms_occupied ≤ rooms_total` (the contract's ordering) and I3 the guest flow,
guests(d) = guests(d−1) + check_ins(d) − check_outs(d), exact, on consecutive days only (a day not
reported is C1's finding, not this hotel's arithmetic)."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg

from epifeeds.feeds.contracts import HOTEL_REPORTS
from epifeeds.quality.file_feed_bounds import (
    SEVERITY,
    ordering_violations_sql,
    orderings_expected,
    report_window,
)
from epifeeds.quality.findings import Checked, Finding, judged, rows_of
from epifeeds.quality.results import CheckResult

HOTELS = HOTEL_REPORTS.feed
FLOW_COLUMNS = (
    "guests",
    "previous_guests",
    "check_ins",
    "check_outs",
    "expected_guests",
    "version",
    "previous_version",
)

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
    rows = rows_of(conn, HOTEL_ROWS_SQL, {"dates": report_dates, "window": report_window(report_dates, -1)})
    checked: Checked = []
    for row in rows:
        checked.append(_rooms_within_total(row))
        if row["previous_guests"] is not None:
            checked.append(_guests_follow_flow(row))
    return checked


def _rooms_within_total(row: dict) -> tuple[CheckResult, Finding]:
    hotel_id, district_id, day = row["hotel_id"], row["district_id"], row["report_date"]
    rooms = {k: row[k] for k in ("rooms_occupied", "rooms_total")}
    return judged(
        "hotel_orderings", "V2", HOTELS, hotel_id, day,
        failed=bool(row["broken"]), severity=SEVERITY, kind="ordering",
        summary=f"isolation hotel {hotel_id} ({district_id}) {day}: {', '.join(row['broken'])} "
        f"({row['rooms_occupied']} rooms occupied of {row['rooms_total']}); ask the hotel to correct its report",
        details={
            "district_id": district_id,
            **rooms,
            "excess_rooms": row["rooms_occupied"] - row["rooms_total"],
            "broken": row["broken"],
            "version": row["version"],
        },
        observed={**rooms, "broken": row["broken"]},
        expected=orderings_expected(HOTEL_REPORTS),
    )  # fmt: skip


def _guests_follow_flow(row: dict) -> tuple[CheckResult, Finding]:
    hotel_id, district_id, day = row["hotel_id"], row["district_id"], row["report_date"]
    flow = {k: row[k] for k in FLOW_COLUMNS}
    difference = row["guests"] - row["expected_guests"]
    return judged(
        "guests_follow_check_ins_and_outs", "I3", HOTELS, hotel_id, day,
        failed=difference != 0, severity=SEVERITY, kind="flow_identity",
        summary=f"isolation hotel {hotel_id} ({district_id}) {day}: {row['guests']} guests, but "
        f"{row['previous_guests']} the day before + {row['check_ins']} check-ins − {row['check_outs']} "
        f"check-outs = {row['expected_guests']} (difference {difference:+d}); a wrong count today also "
        "breaks tomorrow's identity",
        details={"district_id": district_id, "previous_date": str(day - timedelta(days=1)), **flow, "difference": difference},
        observed=flow,
        expected={"identity": "guests(d) = guests(d-1) + check_ins(d) - check_outs(d)", "tolerance": 0},
    )  # fmt: skip
