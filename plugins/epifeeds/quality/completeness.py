"""Rule C1: every active reporter delivered by its deadline. Absent data fires no event, so this is
run on a clock (the feed_watchdog DAG) against the roster and the reporting calendar.

The calendar is per jurisdiction (city): a district follows its city's rows, and a reporter is expected
only for report dates inside its jurisdiction's active range (Beijing's published bulletins end on
2022-05-11; Taiyuan's feed is open-ended)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import SEEDS_DIR, District, DistrictRoster
from epifeeds.quality.exceptions import apply_exceptions
from epifeeds.quality.results import CheckResult, store_check_run
from epifeeds.settings import REPORT_TIMEZONE


@dataclass(frozen=True)
class Deadline:
    feed: str
    jurisdiction_id: str  # the city whose reporters this applies to
    reporter_level: str
    active_from: date  # the first report date this feed is expected for
    days_after: int
    local_time: time
    grace: timedelta
    active_to: date | None = None  # the last report date expected (inclusive); None = open-ended

    def is_active(self, report_date: date) -> bool:
        return self.active_from <= report_date and (self.active_to is None or report_date <= self.active_to)

    def due_at(self, report_date: date) -> datetime:
        local = datetime.combine(report_date + timedelta(days=self.days_after), self.local_time)
        return local.replace(tzinfo=ZoneInfo(REPORT_TIMEZONE))

    def alert_at(self, report_date: date) -> datetime:
        return self.due_at(report_date) + self.grace


CalendarKey = tuple[str, str, str]  # (feed, jurisdiction_id, reporter_level)


def load_reporting_calendar() -> dict[CalendarKey, Deadline]:
    with (SEEDS_DIR / "reporting_calendar.csv").open(encoding="utf-8", newline="") as handle:
        return {
            (row["feed"], row["jurisdiction_id"], row["reporter_level"]): Deadline(
                feed=row["feed"],
                jurisdiction_id=row["jurisdiction_id"],
                reporter_level=row["reporter_level"],
                active_from=date.fromisoformat(row["active_from"]),
                active_to=date.fromisoformat(row["active_to"]) if row["active_to"].strip() else None,
                days_after=int(row["deadline_days_after_report_date"]),
                local_time=time.fromisoformat(row["deadline_local_time"]),
                grace=timedelta(minutes=int(row["grace_minutes"])),
            )
            for row in csv.DictReader(handle)
        }


def feed_expected_on(feed: str, report_date: date) -> bool:
    """Whether any jurisdiction expects this feed for the day (the calendar's active ranges)."""
    return any(d.feed == feed and d.is_active(report_date) for d in load_reporting_calendar().values())


def deadline_for(
    calendar: dict[CalendarKey, Deadline], feed: str, roster: DistrictRoster, district: District
) -> Deadline:
    """The calendar row a reporter follows: its city's row for its level."""
    jurisdiction_id = roster.jurisdiction_of(district.district_id)
    try:
        return calendar[(feed, jurisdiction_id, district.district_level)]
    except KeyError:
        raise LookupError(
            f"{district.district_name} ({district.district_id}) is on the roster but reporting_calendar.csv has no"
            f" row for feed {feed!r}, jurisdiction {jurisdiction_id}, level {district.district_level!r}: add one"
            " (with active_from/active_to) to dbt_project/seeds/reporting_calendar.csv"
        ) from None


# When a reporter first delivered its report for a day. Timeliness is judged by when the agency
# submitted, not by when our pull happened to run. A report that arrived but was rejected (a bad value)
# was still delivered, when the row says it was submitted: its fault is V1's finding, not a missing or
# late report.
FIRST_DELIVERY_SQL = """
select min(delivered_at) from (
    select coalesce(r.submitted_at, b.received_at) as delivered_at
    from landing.district_reports as r
    join landing.batches as b on b.batch_id = r._batch_id
    where r.district_id = %(reporter)s and r.report_date = %(day)s and b.received_at <= %(as_of)s
    union all
    select case
        when j.raw_values ->> 'submitted_at' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}' then (j.raw_values ->> 'submitted_at')::timestamptz
        else b.received_at
    end
    from landing.rejects as j
    join landing.batches as b on b.batch_id = j.batch_id
    where j.reporter_id = %(reporter)s and j.claimed_report_date = %(day)s and j.report_date = %(day)s
        and b.received_at <= %(as_of)s
) as deliveries
"""


def report_dates_due(as_of: datetime, deadline: Deadline, lookback_days: int) -> list[date]:
    """Report dates whose deadline plus grace has passed at `as_of` and on which the reporter's
    jurisdiction is active, newest `lookback_days` of them."""
    local_today = as_of.astimezone(ZoneInfo(REPORT_TIMEZONE)).date()
    candidates = [local_today - timedelta(days=n) for n in range(lookback_days + deadline.days_after, -1, -1)]
    due = [day for day in candidates if deadline.alert_at(day) <= as_of and deadline.is_active(day)]
    return due[-lookback_days:]


def check_district_completeness(
    conn: psycopg.Connection, roster: DistrictRoster, as_of: datetime, run_id: str, lookback_days: int = 3
) -> list[CheckResult]:
    """C1 for the district feed: one result per reporter and due report date (only dates on which the
    reporter's jurisdiction is active); findings opened or resolved."""
    calendar = load_reporting_calendar()
    results: list[CheckResult] = []
    for district in roster.districts:
        deadline = deadline_for(calendar, DISTRICT_REPORTS.feed, roster, district)
        for report_date in report_dates_due(as_of, deadline, lookback_days):
            first_received = conn.execute(
                FIRST_DELIVERY_SQL, {"reporter": district.district_id, "day": report_date, "as_of": as_of}
            ).fetchone()[0]
            reporter = f"{district.district_name} ({district.district_id})"
            due_at = deadline.due_at(report_date)
            if first_received is None:
                status, severity = "fail", "error"
                summary = (
                    f"{reporter} did not deliver its district report for {report_date}: due {due_at:%Y-%m-%d %H:%M %Z},"
                    f" nothing received by {as_of.astimezone(due_at.tzinfo):%Y-%m-%d %H:%M %Z}"
                )
            elif first_received > due_at:
                status, severity = "fail", "warn"
                summary = f"{reporter} delivered its district report for {report_date} late: received {first_received.astimezone(due_at.tzinfo):%Y-%m-%d %H:%M}, due {due_at:%H:%M %Z}"
            else:
                status, severity, summary = "pass", "info", ""
            result = CheckResult(
                check_name="report_delivered_by_deadline",
                rule="C1",
                feed=DISTRICT_REPORTS.feed,
                reporter=district.district_id,
                report_date=report_date,
                observed={"first_received_at": first_received.isoformat() if first_received else None},
                expected={
                    "due_at": due_at.isoformat(),
                    "alert_after": deadline.alert_at(report_date).isoformat(),
                },
                severity=severity,
                status=status,
            )
            results.append(result)
            _record_finding(conn, result, summary, as_of)
    apply_exceptions(conn)
    store_check_run(
        conn,
        suite="completeness",
        feed=DISTRICT_REPORTS.feed,
        report_date=None,
        run_id=run_id,
        results=results,
    )
    return results


def finding_key(rule: str, kind: str, feed: str, reporter: str, report_date: date) -> str:
    return f"{rule}:{kind}:{feed}:{reporter}:{report_date}"


def _record_finding(conn: psycopg.Connection, result: CheckResult, summary: str, as_of: datetime) -> None:
    """Open (or keep open) the finding for a failed check; resolve the 'missing' one once data is there."""
    missing_key = finding_key("C1", "missing", result.feed, result.reporter, result.report_date)
    with conn.transaction():
        if result.status == "fail":
            kind = "missing" if result.severity == "error" else "late"
            conn.execute(
                """
                insert into dq.findings (finding_key, rule, feed, reporter, report_date, severity, summary, details,
                                         status, first_seen_at, last_seen_at)
                values (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s)
                on conflict (finding_key) do update
                    set last_seen_at = greatest(dq.findings.last_seen_at, excluded.last_seen_at),
                        summary = excluded.summary, details = excluded.details
                """,
                (
                    finding_key("C1", kind, result.feed, result.reporter, result.report_date),
                    result.rule,
                    result.feed,
                    result.reporter,
                    result.report_date,
                    result.severity,
                    summary,
                    Jsonb({"observed": result.observed, "expected": result.expected}),
                    as_of,
                    as_of,
                ),
            )
        if result.status == "pass" or result.severity == "warn":
            conn.execute(
                "update dq.findings set status = 'resolved', resolved_at = %s"
                " where finding_key = %s and status = 'open'",
                (as_of, missing_key),
            )
