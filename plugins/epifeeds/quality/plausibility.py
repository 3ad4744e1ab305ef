"""Plausibility rules P1–P3: figures that pass every identity and ordering but cannot be true.

The bands follow the COVID Tracking Project's data-quality checks (they flagged, state by state,
positivity beyond plausible levels, deaths out of proportion to cases, and day-over-day jumps of an
order of magnitude) and are kept wide on purpose: a clean simulation raises no P finding (tested).

| rule | check | band and its reason |
| --- | --- | --- |
| P1 | a hotel's guests against its registered capacity and its occupied rooms | guests ≤ capacity; guests ≤ rooms occupied × 2 (`GUESTS_PER_ROOM`): an isolation room holds one person, a family room two — the registry's capacity is counted that way |
| P2 | a district file's test positivity: Σ positive tubes / Σ tubes sent to lab (tubes where not sent) | ≤ 20 % (`MAX_POSITIVITY`) once ≥ 50 tubes: mass screening runs far below 1 %; the CTP treated a jurisdiction's positivity above 20 % as a sign of a reporting error. Deaths / confirmed ≤ 15 % (`MAX_CASE_FATALITY`) where a feed publishes deaths |
| P3 | a district's steady measures (home isolation, grid workers, volunteers) and its samples collected against their recent trend | steady measures within 1/5 × and 5 × (`TREND_FACTOR`) the median of the same weekday over the past 4 weeks (≥ 3 known), else of the past 7 days (all known), only with a median ≥ 100; samples, which jump 10–15 × on a city-wide testing round, at most 5 × the highest of the past 14 days (a typo's extra digit) |

Positive tubes ≤ tubes on each row is V2's ordering and stays there. P1 and P2 run with the file
rules (`quality/file_feed_rules.py`), P3 with the district rules; results go to dq.check_results
(suite `plausibility`) and failures to dq.findings (`P1:capacity:hotel_reports:<hotel>:<date>`, ...).
"""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta

import psycopg

from epifeeds.quality.findings import Checked, Finding, judged, record_run, rows_of
from epifeeds.quality.results import CheckResult

SUITE = "plausibility"
GUESTS_PER_ROOM = 2
MAX_POSITIVITY = 0.20
MIN_TUBES_FOR_POSITIVITY = 50
MAX_CASE_FATALITY = 0.15
TREND_FACTOR = 5.0
TREND_MIN_MEDIAN = 100
TREND_WEEKS = 4
TREND_MIN_SAME_WEEKDAYS = 3
TREND_MEASURES = ("home_isolation", "grid_workers_on_duty", "volunteers")  # steady levels, weekday-seasonal
ROUND_MEASURES = ("samples_collected",)  # jumps 10-15 × on mass-testing days: judged against recent highs
ROUND_DAYS = 14


def _pair(
    check: str,
    rule: str,
    kind: str,
    feed: str,
    reporter: str,
    day: date,
    problem: str,
    observed: dict,
    expected: dict,
    severity: str = "error",
) -> tuple[CheckResult, Finding]:
    """A plausibility check's pair: it fails when there is a `problem` (the finding's summary)."""
    return judged(
        check, rule, feed, reporter, day, failed=bool(problem), severity=severity, kind=kind, summary=problem,
        details=observed, observed=observed, expected=expected,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------- P1

HOTEL_CAPACITY_SQL = """
with reports as (
    select hotel_id, district_id, report_date, rooms_occupied, guests, _version
    from landing.hotel_reports__current
    where report_date = any(%(dates)s)
),
registry as (
    select hotel_id, capacity, rooms
    from landing.isolation_hotels__current
)
select reports.*, registry.capacity, registry.rooms as registered_rooms
from reports
left join registry using (hotel_id)
order by report_date, hotel_id
"""


def p1_problem(guests: int | None, rooms_occupied: int | None, capacity: int | None) -> str:
    """Why a hotel's guest count is implausible ('' when it is not)."""
    problems = []
    if guests is not None and capacity is not None and guests > capacity:
        problems.append(f"{guests} guests exceed the registered capacity of {capacity}")
    if guests is not None and rooms_occupied is not None and guests > rooms_occupied * GUESTS_PER_ROOM:
        problems.append(
            f"{guests} guests in {rooms_occupied} occupied rooms is more than {GUESTS_PER_ROOM} per room"
        )
    return "; ".join(problems)


def check_hotel_capacity(conn: psycopg.Connection, report_dates: list[date]) -> Checked:
    """P1 per hotel and day."""
    checked: Checked = []
    for row in rows_of(conn, HOTEL_CAPACITY_SQL, {"dates": report_dates}):
        hotel_id, day = row["hotel_id"], row["report_date"]
        problem = p1_problem(row["guests"], row["rooms_occupied"], row["capacity"])
        observed = {
            "district_id": row["district_id"],
            "guests": row["guests"],
            "rooms_occupied": row["rooms_occupied"],
            "capacity": row["capacity"],
            "guests_per_room_limit": GUESTS_PER_ROOM,
            "version": row["_version"],
        }
        summary = (
            f"isolation hotel {hotel_id} ({row['district_id']}) {day}: {problem}; ask the hotel which "
            "figure is wrong"
        )
        checked.append(
            _pair(
                "guests_within_capacity",
                "P1",
                "capacity",
                "hotel_reports",
                hotel_id,
                day,
                summary if problem else "",
                observed,
                {"guests_at_most": ["capacity", f"rooms_occupied × {GUESTS_PER_ROOM}"]},
            )  # fmt: skip
        )
    return checked


# ------------------------------------------------------------------------------------------- P2

POSITIVITY_SQL = """
with latest as (
    select
        site_id, district_id, report_date, positive_tubes, coalesce(tubes_sent_to_lab, tubes) as tested_tubes
    from landing.testing_site_reports__current
    where report_date = any(%(dates)s)
)
select district_id, report_date, sum(positive_tubes)::bigint as positive_tubes,
    sum(tested_tubes) filter (where positive_tubes is not null)::bigint as tested_tubes
from latest
group by district_id, report_date
order by report_date, district_id
"""


def p2_problem(positive: int | None, tested: int | None) -> str:
    if not positive or not tested or tested < MIN_TUBES_FOR_POSITIVITY:
        return ""
    share = positive / tested
    return (
        f"test positivity {share:.1%} ({positive} positive of {tested} tubes) is above {MAX_POSITIVITY:.0%}"
        if share > MAX_POSITIVITY
        else ""
    )


def case_fatality_problem(deaths: int | None, confirmed: int | None) -> str:
    """P2's deaths / confirmed band, for a feed that publishes deaths ('' when plausible or unknown)."""
    if deaths is None or not confirmed:
        return ""
    share = deaths / confirmed
    return (
        f"deaths are {share:.1%} of confirmed cases, above {MAX_CASE_FATALITY:.0%}"
        if share > MAX_CASE_FATALITY
        else ""
    )


def check_positivity(conn: psycopg.Connection, report_dates: list[date]) -> Checked:
    """P2 per district file and day (sites with lab results only)."""
    checked: Checked = []
    for row in rows_of(conn, POSITIVITY_SQL, {"dates": report_dates}):
        district_id, day = row["district_id"], row["report_date"]
        problem = p2_problem(row["positive_tubes"], row["tested_tubes"])
        observed = {
            "positive_tubes": row["positive_tubes"],
            "tested_tubes": row["tested_tubes"],
            "max_positivity": MAX_POSITIVITY,
            "district_id": district_id,
        }
        summary = (
            f"district {district_id} {day}: its testing sites' {problem}; check the positive-tube column"
        )
        checked.append(
            _pair(
                "positivity_within_band",
                "P2",
                "positivity",
                "testing_site_reports",
                district_id,
                day,
                summary if problem else "",
                observed,
                {"positivity_at_most": MAX_POSITIVITY},
            )  # fmt: skip
        )
    return checked


# ------------------------------------------------------------------------------------------- P3

TREND_SQL = f"""
select district_id, report_date, {", ".join((*TREND_MEASURES, *ROUND_MEASURES))}
from landing.district_reports__current
where report_date between %(first)s and %(last)s
order by district_id, report_date
"""


def trend_baseline(history: dict[date, int | None], day: date) -> tuple[float | None, str]:
    """(median the day is compared with, how it was taken); (None, why) when there is not enough history."""
    same_weekday = [history.get(day - timedelta(weeks=w)) for w in range(1, TREND_WEEKS + 1)]
    same_weekday = [v for v in same_weekday if v is not None]
    if len(same_weekday) >= TREND_MIN_SAME_WEEKDAYS:
        return statistics.median(same_weekday), f"median of the same weekday over {len(same_weekday)} weeks"
    week = [history.get(day - timedelta(days=n)) for n in range(1, 8)]
    if all(v is not None for v in week):
        return statistics.median(week), "median of the past 7 days"
    return None, "fewer than 7 prior days"


def round_baseline(history: dict[date, int | None], day: date) -> tuple[float | None, str]:
    """For a measure with testing rounds: the highest value of the past 14 days (7 at least known)."""
    known = [v for n in range(1, ROUND_DAYS + 1) if (v := history.get(day - timedelta(days=n))) is not None]
    if len(known) < 7:
        return None, "fewer than 7 prior days"
    return max(known), f"the highest of the past {ROUND_DAYS} days (testing rounds included)"


def p3_problem(
    value: int | None, baseline: float | None, measure: str = "value", *, lower: bool = True
) -> str:
    """Why a day's value is far outside its baseline ('' when within the band or not evaluable)."""
    if value is None or baseline is None or baseline < TREND_MIN_MEDIAN:
        return ""
    if value > TREND_FACTOR * baseline or (lower and value < baseline / TREND_FACTOR):
        return f"{measure} {value} is {value / baseline:.1f} × its baseline {baseline:g}"
    return ""


def _trend_problems(history: dict[str, dict[date, int | None]], day: date) -> tuple[list[str], dict]:
    problems, measures = [], {}
    for measure, values in history.items():
        is_round = measure in ROUND_MEASURES
        baseline, how = (round_baseline if is_round else trend_baseline)(values, day)
        if baseline is None or baseline < TREND_MIN_MEDIAN:
            continue
        measures[measure] = {"value": values.get(day), "baseline": baseline, "baseline_is": how}
        if problem := p3_problem(values.get(day), baseline, measure, lower=not is_round):
            problems.append(f"{problem} ({how})")
    return problems, measures


def check_trend(conn: psycopg.Connection, report_dates: list[date]) -> Checked:
    """P3 per district and day: one result over the trend measures that have enough history."""
    if not report_dates:
        return []
    window = {"first": min(report_dates) - timedelta(weeks=TREND_WEEKS), "last": max(report_dates)}
    history: dict[str, dict[str, dict[date, int | None]]] = {}
    for row in rows_of(conn, TREND_SQL, window):
        for measure in (*TREND_MEASURES, *ROUND_MEASURES):
            history.setdefault(row["district_id"], {}).setdefault(measure, {})[row["report_date"]] = row[
                measure
            ]
    checked: Checked = []
    wanted = set(report_dates)
    for district_id, by_measure in sorted(history.items()):
        for day in sorted({d for values in by_measure.values() for d in values} & wanted):
            problems, measures = _trend_problems(by_measure, day)
            if not measures:
                continue  # not evaluable: no result, no finding
            summary = f"district {district_id} {day}: " + "; ".join(problems) + "; a typing error?"
            checked.append(
                _pair(
                    "value_within_trend",
                    "P3",
                    "trend",
                    "district_reports",
                    district_id,
                    day,
                    summary if problems else "",
                    {"measures": measures},
                    {"factor": TREND_FACTOR},
                    severity="warn",
                )  # fmt: skip
            )
    return checked


RULES_OF = {
    "testing_site_reports": (check_positivity,),
    "hotel_reports": (check_hotel_capacity,),
    "district_reports": (check_trend,),
}


def check_plausibility(
    conn: psycopg.Connection, feed: str, report_dates: list[date], run_id: str, as_of: datetime
) -> list[CheckResult]:
    """The P rules on one feed's report dates; results stored (suite `plausibility`), findings in step."""
    checked: Checked = [
        pair for rule in RULES_OF.get(feed, ()) for pair in rule(conn, sorted(set(report_dates)))
    ]
    if not checked:
        return []
    return record_run(conn, SUITE, feed, run_id, checked, as_of)
