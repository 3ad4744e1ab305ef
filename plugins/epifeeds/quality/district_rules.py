"""Platform checks on the district feed that GX cannot express per row: rules V2 and R1.

Both read the latest version of each report in landing.district_reports (what dbt and BI read), write
every result to dq.check_results (suite `district_rules`) and keep dq.findings in step: a failure opens
(or refreshes) a finding whose `details` hold the numbers involved; a check that now passes resolves it.

- V2 positives identity, per reporter and day (districts and city rows alike):
  new_positives = new_confirmed + new_asymptomatic. Severity error.
- R1 city reconciliation, per city, day and count measure: the sum over the city's districts (roster:
  districts.csv, parent_district_id) equals the city row, within `tolerance` (0 by default). Severity
  error. A district without a report that day counts as
  absent from the sum: the break is real, and the alerts group it under that district's missing
  report (one root cause, one alert). R1 is *not evaluable* when the city row is missing or when one
  side does not publish the measure: the result is stored as status 'pass', severity
  'info', with observed.evaluable = false and the reason, and no finding is opened or resolved (the
  missing report is C1's finding; one root cause, one alert). A measure nobody published is skipped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import psycopg

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import District, DistrictRoster, load_district_roster
from epifeeds.quality.completeness import finding_key
from epifeeds.quality.findings import Finding, record_findings
from epifeeds.quality.results import CheckResult, status_counts, store_check_run

SUITE = "district_rules"
FEED = DISTRICT_REPORTS.feed
V2_SEVERITY = "error"
R1_SEVERITY = "error"
V2_CHECK = "positives_equal_confirmed_plus_asymptomatic"
R1_CHECK = "city_equals_sum_of_districts"
POSITIVES_IDENTITY = ("new_positives", "new_confirmed", "new_asymptomatic")
R1_MEASURES = tuple(DISTRICT_REPORTS.count_columns)

LATEST_REPORTS_SQL = f"""
select
    district_id, report_date, _version, _batch_id, {", ".join(R1_MEASURES)}
from landing.district_reports__current
where report_date = any(%s)
order by district_id, report_date
"""


def latest_reports(
    conn: psycopg.Connection, report_dates: list[date]
) -> dict[tuple[str, date], dict[str, Any]]:
    """The latest version of every district (and city) report on the given dates, by (district_id, date)."""
    cursor = conn.execute(LATEST_REPORTS_SQL, (list(report_dates),))
    names = [column.name for column in cursor.description]
    return {(row[0], row[1]): dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def check_positives_identity(
    reports: dict[tuple[str, date], dict[str, Any]], roster: DistrictRoster
) -> list[tuple[CheckResult, Finding | None]]:
    """V2 for every report: one result each, and a finding for each that does not add up."""
    checked = []
    for (district_id, report_date), report in sorted(
        reports.items(), key=lambda item: (item[0][1], item[0][0])
    ):
        positives, confirmed, asymptomatic = (report[m] for m in POSITIVES_IDENTITY)
        numbers = {"new_positives": positives, "new_confirmed": confirmed, "new_asymptomatic": asymptomatic}
        if None in numbers.values():
            continue  # the three are required by the contract; a partial row has nothing to compare
        expected = confirmed + asymptomatic
        is_consistent = positives == expected
        result = CheckResult(
            check_name=V2_CHECK,
            rule="V2",
            feed=FEED,
            reporter=district_id,
            report_date=report_date,
            observed=numbers,
            expected={
                "new_positives": expected,
                "identity": "new_positives = new_confirmed + new_asymptomatic",
            },
            severity=V2_SEVERITY if not is_consistent else "info",
            status="pass" if is_consistent else "fail",
        )
        name = roster.by_id(district_id).district_name
        finding = Finding(
            key=finding_key("V2", "positives_identity", FEED, district_id, report_date),
            feed=FEED,
            rule="V2",
            reporter=district_id,
            report_date=report_date,
            severity=V2_SEVERITY,
            summary=(
                f"{name} ({district_id}) {report_date}: new_positives {positives} ≠ new_confirmed {confirmed}"
                f" + new_asymptomatic {asymptomatic} (= {expected}); ask the reporter which figure is wrong"
            ),
            details={
                "district_id": district_id,
                "district_name": name,
                **numbers,
                "expected_new_positives": expected,
                "difference": positives - expected,
                "version": report["_version"],
                "batch_id": report["_batch_id"],
            },
        )
        checked.append((result, finding))
    return checked


def check_city_reconciliation(
    reports: dict[tuple[str, date], dict[str, Any]],
    roster: DistrictRoster,
    report_dates: list[date],
    tolerance: int = 0,
) -> list[tuple[CheckResult, Finding | None]]:
    """R1 per city, day and measure; the finding is None when R1 is not evaluable (nothing to open or resolve)."""
    checked = []
    for report_date in sorted(set(report_dates)):
        for city in roster.cities:
            districts = roster.districts_of(city.district_id)
            city_report = reports.get((city.district_id, report_date))
            district_reports = {d.district_id: reports.get((d.district_id, report_date)) for d in districts}
            if city_report is None and not any(district_reports.values()):
                continue  # nothing from this city that day: C1's business
            missing = [d for d in districts if district_reports[d.district_id] is None]
            for measure in R1_MEASURES:
                city_figure = city_report[measure] if city_report else None
                values = {
                    d.district_id: (district_reports[d.district_id] or {}).get(measure) for d in districts
                }
                if city_figure is None and all(v is None for v in values.values()):
                    continue  # nobody publishes this measure: nothing to reconcile
                per_district = [
                    {
                        "district_id": d.district_id,
                        "district_name": d.district_name,
                        "value": values[d.district_id],
                    }
                    for d in districts
                ]
                reason = _not_evaluable_reason(city_report, city_figure, missing, per_district, measure)
                result, finding = _reconciliation_result(
                    city, report_date, measure, city_figure, per_district, reason, missing, tolerance
                )
                checked.append((result, finding))
    return checked


def _not_evaluable_reason(
    city_report: dict | None,
    city_figure: int | None,
    missing: list[District],
    per_district: list[dict],
    measure: str,
) -> str | None:
    if city_report is None:
        return "no city bulletin row for the day"
    if city_figure is None:
        return f"the city bulletin does not publish {measure}"
    missing_ids = {d.district_id for d in missing}
    unpublished = [
        d["district_name"] for d in per_district if d["value"] is None and d["district_id"] not in missing_ids
    ]
    if unpublished:
        return f"districts that do not publish {measure}: " + ", ".join(unpublished)
    return None


def _reconciliation_result(
    city: District,
    report_date: date,
    measure: str,
    city_figure: int | None,
    per_district: list[dict],
    reason: str | None,
    missing: list[District],
    tolerance: int,
) -> tuple[CheckResult, Finding | None]:
    check_name = f"{R1_CHECK}({measure})"
    if reason is not None:
        result = CheckResult(
            check_name=check_name,
            rule="R1",
            feed=FEED,
            reporter=city.district_id,
            report_date=report_date,
            observed={
                "evaluable": False,
                "reason": reason,
                "missing_districts": [d.district_id for d in missing],
                "districts": per_district,
            },
            expected={"city_figure": city_figure, "tolerance": tolerance},
            severity="info",
            status="pass",
        )
        return result, None
    district_sum = sum(d["value"] for d in per_district if d["value"] is not None)
    difference = district_sum - city_figure
    is_reconciled = abs(difference) <= tolerance
    result = CheckResult(
        check_name=check_name,
        rule="R1",
        feed=FEED,
        reporter=city.district_id,
        report_date=report_date,
        observed={
            "evaluable": True,
            "district_sum": district_sum,
            "districts": per_district,
            "missing_districts": [d.district_id for d in missing],
        },
        expected={"city_figure": city_figure, "tolerance": tolerance},
        severity="info" if is_reconciled else R1_SEVERITY,
        status="pass" if is_reconciled else "fail",
    )
    contributors = ", ".join(f"{d['district_name']} {d['value']}" for d in per_district if d["value"])
    finding = Finding(
        key=finding_key("R1", measure, FEED, city.district_id, report_date),
        feed=FEED,
        rule="R1",
        reporter=city.district_id,
        report_date=report_date,
        severity=R1_SEVERITY,
        summary=(
            f"{city.district_name} ({city.district_id}) {report_date}: the city bulletin's {measure} is {city_figure}"
            f" but its districts sum to {district_sum} ({contributors or 'all 0'}); difference {difference:+d},"
            f" tolerance {tolerance}"
            + (f"; no report from {', '.join(d.district_name for d in missing)}" if missing else "")
        ),
        details={
            "city_id": city.district_id,
            "city_name": city.district_name,
            "measure": measure,
            "city_figure": city_figure,
            "district_sum": district_sum,
            "difference": difference,
            "tolerance": tolerance,
            "districts": per_district,
            "missing_districts": [d.district_id for d in missing],
        },
    )
    return result, finding


def check_district_rules(
    conn: psycopg.Connection,
    report_dates: list[date],
    run_id: str,
    *,
    roster: DistrictRoster | None = None,
    tolerance: int = 0,
    as_of: datetime | None = None,
) -> list[CheckResult]:
    """V2 and R1 over the latest reports of the given dates: every result stored, findings kept in step.

    `as_of` stamps the findings (first/last seen, resolved); pass the run's data-interval time from a
    DAG task, it defaults to the wall clock for a command-line run.
    """
    roster = roster or load_district_roster()
    as_of = as_of or datetime.now(UTC)
    dates = sorted(set(report_dates))
    reports = latest_reports(conn, dates)
    checked = check_positives_identity(reports, roster) + check_city_reconciliation(
        reports, roster, dates, tolerance
    )
    results = [result for result, _ in checked]
    opened, resolved = record_findings(conn, checked, as_of)
    store_check_run(
        conn,
        suite=SUITE,
        feed=FEED,
        report_date=dates[0] if len(dates) == 1 else None,
        run_id=run_id,
        results=results,
        statistics={
            "report_dates": [d.isoformat() for d in dates],
            "results": status_counts(results),
            "findings_opened_or_refreshed": opened,
            "findings_resolved": resolved,
            "tolerance": tolerance,
        },
    )
    return results
