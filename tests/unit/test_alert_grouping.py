"""Findings grouped into incidents by root cause; what a message says about them."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest

from epifeeds.alerts.airflow_failures import AlertFailureNotifier, failure_message
from epifeeds.alerts.incidents import Finding, group_findings, numbers_of
from epifeeds.alerts.lineage import impact_of_feed, is_downstream_of_feed
from epifeeds.alerts.routing import load_alert_config
from epifeeds.feeds.names import load_district_roster

pytestmark = pytest.mark.unit

DAY = date(2022, 3, 3)
SEEN = datetime(2022, 3, 4, 3, tzinfo=UTC)
JINYUAN, XIAODIAN, CITY = "140110", "140105", "140100"
MANIFEST = {
    "sources": {"source.epifeeds.landing.district_reports": {"name": "district_reports", "schema": "landing"}},
    "nodes": {
        "model.epifeeds.stg": {"resource_type": "model", "schema": "staging", "name": "stg"},
        "model.epifeeds.fct_district_daily": {"resource_type": "model", "schema": "marts", "name": "fct_district_daily"},
        "model.epifeeds.dim_district": {"resource_type": "model", "schema": "marts", "name": "dim_district"},
        "test.epifeeds.mart_test": {"resource_type": "test", "schema": "marts"},
        "test.epifeeds.seed_test": {"resource_type": "test", "schema": "marts"},
    },
    "child_map": {
        "source.epifeeds.landing.district_reports": ["model.epifeeds.stg"],
        "model.epifeeds.stg": ["model.epifeeds.fct_district_daily"],
        "model.epifeeds.fct_district_daily": ["test.epifeeds.mart_test"],
        "model.epifeeds.dim_district": ["test.epifeeds.seed_test"],
    },
}  # fmt: skip

_ids = iter(range(1, 1000))


def finding(
    rule: str, kind: str, reporter: str, severity: str = "error", day: date = DAY, **details
) -> Finding:
    key = f"{rule}:{kind}:district_reports:{reporter}:{day}"
    return Finding(key, "district_reports", rule, reporter, day, severity, f"{rule} {kind}", details,
                   "open", next(_ids), SEEN)  # fmt: skip


def incidents_of(*findings: Finding, manifest: dict | None = MANIFEST) -> dict[str, list[str]]:
    grouped = group_findings(list(findings), load_district_roster(), manifest)
    return {key: sorted(m.finding_key for m in incident.members) for key, incident in grouped.items()}


def test_a_missing_district_explains_the_city_reconciliation_and_its_own_checks_but_not_other_districts():
    missing = finding("C1", "missing", JINYUAN)
    r1 = [finding("R1", measure, CITY) for measure in ("new_positives", "new_confirmed")]
    own_v1 = finding("V1", "row_count", JINYUAN)
    other_v1 = finding("V1", "row_count", XIAODIAN)
    other_day = finding("R1", "new_positives", CITY, day=date(2022, 3, 2))
    grouped = incidents_of(missing, *r1, own_v1, other_v1, other_day)
    assert grouped == {
        f"C1:district_reports:{JINYUAN}:{DAY}": sorted(f.finding_key for f in (missing, *r1, own_v1)),
        f"V1:district_reports:{XIAODIAN}:{DAY}": [other_v1.finding_key],
        f"R1:district_reports:{CITY}:2022-03-02": [other_day.finding_key],
    }


def test_a_reconciliation_break_is_one_incident_per_district_and_day_whatever_the_number_of_measures():
    breaks = [finding("R2", m, XIAODIAN) for m in ("samples_collected", "positive_tubes", "tubes")]
    assert list(incidents_of(*breaks)) == [f"R2:district_reports:{XIAODIAN}:{DAY}"]


def test_a_dbt_test_is_explained_only_if_the_manifest_says_it_reads_the_missing_feed():
    missing = finding("C1", "missing", JINYUAN)
    on_mart = finding("dbt", "mart_test", CITY, dbt_node="test.epifeeds.mart_test")
    on_seed = finding("dbt", "seed_test", CITY, dbt_node="test.epifeeds.seed_test")
    assert incidents_of(missing, on_mart, on_seed) == {
        f"C1:district_reports:{JINYUAN}:{DAY}": sorted([missing.finding_key, on_mart.finding_key]),
        f"dbt:district_reports:{CITY}:{DAY}": [on_seed.finding_key],
    }
    # Without a manifest nothing can be attributed by lineage: each test failure stands on its own.
    assert len(incidents_of(missing, on_mart, on_seed, manifest=None)) == 2


def test_warnings_alone_raise_no_alert_but_a_critical_member_makes_the_incident_critical():
    late = finding("C1", "late", JINYUAN, severity="warn")
    assert incidents_of(late) == {}
    missing = finding("C1", "missing", XIAODIAN)
    critical_gx = finding("V1", "row_count", XIAODIAN, severity="critical")
    [incident] = group_findings([missing, critical_gx], load_district_roster(), MANIFEST).values()
    assert incident.severity == "critical" and incident.lead is missing


def test_affected_marts_and_dashboards_come_from_the_manifest_and_its_absence_is_said():
    impact = impact_of_feed("district_reports", MANIFEST)
    assert impact.marts == ("marts.fct_district_daily",)  # dim_district does not read the feed
    assert impact.describe() == "marts: marts.fct_district_daily; dashboards: none declared as dbt exposures"
    assert "run `epifeeds setup`" in impact_of_feed("district_reports", None).describe()
    assert is_downstream_of_feed(MANIFEST, "test.epifeeds.mart_test", "district_reports")
    assert not is_downstream_of_feed(MANIFEST, "test.epifeeds.seed_test", "district_reports")


def test_the_numbers_of_a_finding_are_listed_readably_with_local_times():
    details = {"observed": {"first_received_at": None}, "expected": {"due_at": "2022-03-04T01:00:00+00:00"}}
    assert numbers_of(details) == "first_received_at none; due_at 2022-03-04 09:00 CST"
    assert numbers_of({"measure": "new_positives", "city_value": 40, "district_sum": 37}) == (
        "measure new_positives; city_value 40; district_sum 37"
    )


class FakeTaskInstance:
    dag_id, task_id, run_id, try_number, map_index = "feed_watchdog", "check", "scheduled__2022-03-04", 3, -1
    log_url = "http://airflow.test/dags/feed_watchdog/runs/scheduled__2022-03-04/tasks/check?try_number=3"


def test_an_airflow_failure_message_names_dag_task_run_try_and_log():
    message = failure_message(
        {"ti": FakeTaskInstance(), "exception": ValueError("boom")}, "http://airflow.test"
    )
    assert (
        message.title == "[FAILED] DAG feed_watchdog task check failed for run scheduled__2022-03-04 (try 3)"
    )
    assert "Error: ValueError: boom" in message.body and f"Log: {FakeTaskInstance.log_url}" in message.body
    assert message.payload["kind"] == "failure" and message.payload["feed"] == "airflow"


def test_the_failure_notifier_without_any_channel_only_warns_in_the_task_log(capsys, caplog):
    notifier = AlertFailureNotifier(config=load_alert_config(env={}))
    with caplog.at_level(logging.WARNING):
        notifier({"ti": FakeTaskInstance(), "exception": ValueError("boom")})  # does not raise
    logged = capsys.readouterr().out + caplog.text  # Airflow's structlog writes to stdout
    assert "No alert channel configured" in logged and "feed_watchdog task check failed" in logged
