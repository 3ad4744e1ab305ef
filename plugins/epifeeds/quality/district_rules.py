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
from epifeeds.quality.findings import Checked, Finding, judged, not_evaluable, record_run, rows_of
from epifeeds.quality.results import CheckResult

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
    rows = rows_of(conn, LATEST_REPORTS_SQL, (list(report_dates),))
    return {(row["district_id"], row["report_date"]): row for row in rows}


def check_positives_identity(
    reports: dict[tuple[str, date], dict[str, Any]], roster: DistrictRoster
) -> Checked:
    """V2 for every report: one result each, and a finding for each that does not add up."""
    checked: Checked = []
    for (district_id, report_date), report in sorted(
        reports.items(), key=lambda item: (item[0][1], item[0][0])
    ):
        positives, confirmed, asymptomatic = (report[m] for m in POSITIVES_IDENTITY)
        numbers = {"new_positives": positives, "new_confirmed": confirmed, "new_asymptomatic": asymptomatic}
        if None in numbers.values():
            continue  # the three are required by the contract; a partial row has nothing to compare
        expected = confirmed + asymptomatic
        name = roster.by_id(district_id).district_name
        summary = (
            f"{name} ({district_id}) {report_date}: new_positives {positives} ≠ new_confirmed {confirmed}"
            f" + new_asymptomatic {asymptomatic} (= {expected}); ask the reporter which figure is wrong"
        )
        details = {
            "district_id": district_id,
            "district_name": name,
            **numbers,
            "expected_new_positives": expected,
            "difference": positives - expected,
            "version": report["_version"],
            "batch_id": report["_batch_id"],
        }
        checked.append(
            judged(
                V2_CHECK, "V2", FEED, district_id, report_date,
                failed=positives != expected, severity=V2_SEVERITY, kind="positives_identity",
                summary=summary, details=details, observed=numbers,
                expected={"new_positives": expected, "identity": "new_positives = new_confirmed + new_asymptomatic"},
            )
        )  # fmt: skip
    return checked


def check_city_reconciliation(
    reports: dict[tuple[str, date], dict[str, Any]],
    roster: DistrictRoster,
    report_dates: list[date],
    tolerance: int = 0,
) -> Checked:
    """R1 per city, day and measure; the finding is None when R1 is not evaluable (nothing to open or resolve)."""
    checked: Checked = []
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
    missing_ids = [d.district_id for d in missing]
    expected = {"city_figure": city_figure, "tolerance": tolerance}
    if reason is not None:
        observed = {"missing_districts": missing_ids, "districts": per_district}
        return not_evaluable(
            check_name,
            "R1",
            FEED,
            city.district_id,
            report_date,
            reason=reason,
            observed=observed,
            expected=expected,
        )
    district_sum = sum(d["value"] for d in per_district if d["value"] is not None)
    difference = district_sum - city_figure
    contributors = ", ".join(f"{d['district_name']} {d['value']}" for d in per_district if d["value"])
    summary = (
        f"{city.district_name} ({city.district_id}) {report_date}: the city bulletin's {measure} is {city_figure}"
        f" but its districts sum to {district_sum} ({contributors or 'all 0'}); difference {difference:+d},"
        f" tolerance {tolerance}"
        + (f"; no report from {', '.join(d.district_name for d in missing)}" if missing else "")
    )
    details = {
        "city_id": city.district_id,
        "city_name": city.district_name,
        "measure": measure,
        "city_figure": city_figure,
        "district_sum": district_sum,
        "difference": difference,
        "tolerance": tolerance,
        "districts": per_district,
        "missing_districts": missing_ids,
    }
    observed = {
        "evaluable": True,
        "district_sum": district_sum,
        "districts": per_district,
        "missing_districts": missing_ids,
    }
    return judged(
        check_name, "R1", FEED, city.district_id, report_date,
        failed=abs(difference) > tolerance, severity=R1_SEVERITY, kind=measure,
        summary=summary, details=details, observed=observed, expected=expected,
    )  # fmt: skip


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
    return record_run(
        conn, SUITE, FEED, run_id, checked, as_of, dates=dates, statistics={"tolerance": tolerance}
    )
