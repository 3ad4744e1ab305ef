"""Alerts delivered for real on loopback: a webhook receiver (HTTP), apprise json://, and an SMTP server
(aiosmtpd), from findings in a real Postgres, at successive watchdog times."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from epifeeds.alerts.notify import process_alerts
from epifeeds.alerts.receiver import smtp_receiver, webhook_receiver
from epifeeds.alerts.routing import load_alert_config
from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.http_client import records_from_pages
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import parse_district_records
from epifeeds.landing.loader import Delivery, land_delivery
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.quality.completeness import check_district_completeness

pytestmark = pytest.mark.integration

DAY = date(2022, 3, 3)
T0 = datetime(2022, 3, 4, 3, 0, tzinfo=UTC)  # 11:00 Asia/Shanghai on D+1: past every deadline plus grace
JINYUAN, XIAODIAN, CITY = "140110", "140105", "140100"

# A manifest shaped like dbt_project/target/manifest.json, with a dashboard exposure on the mart.
MANIFEST = {
    "sources": {"source.epifeeds.landing.district_reports": {"name": "district_reports", "schema": "landing"}},
    "nodes": {
        "model.epifeeds.stg_districts__daily_reports": {
            "resource_type": "model", "schema": "staging", "name": "stg_districts__daily_reports",
        },
        "model.epifeeds.fct_district_daily": {
            "resource_type": "model", "schema": "marts", "name": "fct_district_daily",
        },
        "test.epifeeds.not_null_fct_district_daily_new_positives": {"resource_type": "test", "schema": "marts"},
    },
    "child_map": {
        "source.epifeeds.landing.district_reports": ["model.epifeeds.stg_districts__daily_reports"],
        "model.epifeeds.stg_districts__daily_reports": ["model.epifeeds.fct_district_daily"],
        "model.epifeeds.fct_district_daily": [
            "test.epifeeds.not_null_fct_district_daily_new_positives",
            "exposure.epifeeds.district_daily_situation",
        ],
    },
    "exposures": {
        "exposure.epifeeds.district_daily_situation": {
            "name": "district_daily_situation", "label": "District daily situation", "type": "dashboard",
            "url": "http://bi.example/district-daily",
            "depends_on": {"nodes": ["model.epifeeds.fct_district_daily"]},
        }
    },
}  # fmt: skip


def config(**env: str):
    base = {"EPIFEEDS_ALERT_RETRY_BACKOFF_SECONDS": "0.05", "EPIFEEDS_AIRFLOW_URL": "http://airflow.test"}
    return load_alert_config(env=base | env)


@pytest.fixture
def conn(warehouse_dsn, monkeypatch):
    monkeypatch.setattr("epifeeds.alerts.incidents.load_manifest", lambda: MANIFEST)
    with psycopg.connect(warehouse_dsn) as connection:
        ensure_landing_schema(connection)
        yield connection


def land_reports(conn, archive: str, districts: list[str], received_at: datetime) -> None:
    items = [
        {"district": name, "report_date": DAY.isoformat(), "new_positives": 3, "new_confirmed": 2,
         "new_asymptomatic": 1}
        for name in districts
    ]  # fmt: skip
    page = json.dumps({"page": 1, "next_page": None, "items": items}, ensure_ascii=False)
    payload = json.dumps({"feed": "district_reports", "pages": [page]}, ensure_ascii=False).encode()

    def parse(raw: bytes):
        return parse_district_records(
            DISTRICT_REPORTS, records_from_pages(raw), report_date=DAY, received_at=received_at,
            roster=load_district_roster(),
        )  # fmt: skip

    land_delivery(
        conn,
        DISTRICT_REPORTS,
        archive,
        Delivery("district_reports", "*", DAY, "t", payload, received_at),
        parse,
    )


def watchdog(conn, as_of: datetime, alert_config, run_id: str = "scheduled__test") -> dict:
    """What the feed_watchdog task does: C1 at as_of, then alerts."""
    check_district_completeness(conn, load_district_roster(), as_of, run_id, lookback_days=1)
    return process_alerts(conn, as_of, run_id=run_id, config=alert_config)


def add_finding(conn, key: str, rule: str, reporter: str, summary: str, details: dict, severity: str = "error",
                seen_at: datetime = T0) -> None:  # fmt: skip
    """A finding as another check (reconciliation, GX, dbt test) records it."""
    with conn.transaction():
        conn.execute(
            "insert into dq.findings (finding_key, rule, feed, reporter, report_date, severity, summary, details,"
            " first_seen_at, last_seen_at) values (%s, %s, 'district_reports', %s, %s, %s, %s, %s, %s, %s)",
            (key, rule, reporter, DAY, severity, summary, Jsonb(details), seen_at, seen_at),
        )


def resolve_findings(conn, rule: str, as_of: datetime) -> None:
    with conn.transaction():
        conn.execute(
            "update dq.findings set status = 'resolved', resolved_at = %s where rule = %s and status = 'open'",
            (as_of, rule),
        )


def everyone_but_jinyuan() -> list[str]:
    """Taiyuan's city bulletin and every district of it but 晋源区."""
    taiyuan = [d for d in load_district_roster().districts if CITY in (d.district_id, d.parent_district_id)]
    return [d.district_name for d in taiyuan if d.district_id != JINYUAN]


def plant_downstream_failures(conn) -> None:
    """What a missing 晋源区 report makes fail downstream: R1 on the city row for three measures, a GX
    row-count check and a dbt test on the mart. Plus an unrelated R2 break in 小店区 on two measures."""
    for measure, city, districts in (
        ("new_positives", 40, 37),
        ("new_confirmed", 30, 28),
        ("new_asymptomatic", 10, 9),
    ):
        add_finding(
            conn, f"R1:{measure}:district_reports:{CITY}:{DAY}", "R1", CITY,
            f"太原市 {measure} {city} ≠ sum of districts {districts}",
            {"measure": measure, "city_value": city, "district_sum": districts, "difference": city - districts},
        )  # fmt: skip
    add_finding(
        conn, f"V1:row_count:district_reports:{JINYUAN}:{DAY}", "V1", JINYUAN, "no row for 晋源区", {}
    )
    add_finding(
        conn, f"dbt:not_null:district_reports:{CITY}:{DAY}", "dbt", CITY, "mart test failed",
        {"dbt_node": "test.epifeeds.not_null_fct_district_daily_new_positives", "failures": 1},
    )  # fmt: skip
    for measure, district, sites in (("samples_collected", 120000, 98000), ("positive_tubes", 12, 9)):
        add_finding(
            conn, f"R2:{measure}:district_reports:{XIAODIAN}:{DAY}", "R2", XIAODIAN,
            f"小店区 {measure} {district} vs testing sites {sites}",
            {"measure": measure, "district_value": district, "sites_sum": sites},
        )  # fmt: skip


def messages_for(received, reporter: str) -> list[dict]:
    return [m for m in received.messages if m["reporter"] == reporter]


def test_one_alert_for_a_missing_district_however_many_checks_fail_then_quiet_then_resolved(conn, tmp_path):
    land_reports(conn, str(tmp_path), everyone_but_jinyuan(), received_at=T0 - timedelta(hours=3))
    with webhook_receiver() as (url, received):
        # Errors get reminders only when the policy asks for them (by default: critical only).
        alerts = config(
            EPIFEEDS_ALERT_WEBHOOK_URL=url,
            EPIFEEDS_ALERT_SUPPRESSION_MINUTES="360",
            EPIFEEDS_ALERT_REMIND_SEVERITIES="error critical",
        )
        check_district_completeness(conn, load_district_roster(), T0, "scheduled__t0", lookback_days=1)
        plant_downstream_failures(conn)
        process_alerts(conn, T0, run_id="scheduled__t0", config=alerts)

        [jinyuan] = messages_for(received, JINYUAN)
        [xiaodian] = messages_for(received, XIAODIAN)
        assert len(received.messages) == 2  # nothing for the city row, the GX check or the dbt test
        assert (
            jinyuan["kind"] == "open" and jinyuan["rule"] == "C1" and jinyuan["report_date"] == "2022-03-03"
        )
        assert "晋源区: district_reports for 2022-03-03 is missing" in jinyuan["title"]
        body = jinyuan["body"]
        assert "Since: 2022-03-04 11:00 CST" in body
        assert "Explained by this root cause: 5 more failing check(s)" in body
        assert "city_value 40; difference 3; district_sum 37" in body
        assert "marts: marts.fct_district_daily" in body and "dashboard District daily situation" in body
        assert (
            "Feed health: http://airflow.test/epifeeds/feed-health?feed=district_reports&reporter=140110"
            in body
        )
        assert "Airflow run: http://airflow.test/dags/feed_watchdog/runs/scheduled__t0" in body
        assert {f["rule"] for f in jinyuan["findings"]} == {"C1", "R1", "V1", "dbt"}
        assert xiaodian["rule"] == "R2" and "(2 checks)" in xiaodian["title"]

        # An hour later, still missing: inside the suppression interval nothing is repeated.
        watchdog(conn, T0 + timedelta(hours=1), alerts)
        assert len(received.messages) == 2
        # Past the interval, one reminder per incident.
        watchdog(conn, T0 + timedelta(hours=6), alerts)
        assert sorted(m["kind"] for m in received.messages[2:]) == ["reminder", "reminder"]

        # The late report lands; the reconciliation re-runs clean.
        land_reports(conn, str(tmp_path), ["晋源区"], received_at=T0 + timedelta(hours=7))
        resolve_findings(conn, "R1", T0 + timedelta(hours=8))
        resolve_findings(conn, "V1", T0 + timedelta(hours=8))
        resolve_findings(conn, "dbt", T0 + timedelta(hours=8))
        watchdog(conn, T0 + timedelta(hours=8), alerts)

    [resolution] = received.messages[4:]
    assert resolution["kind"] == "resolved" and resolution["reporter"] == JINYUAN
    assert resolution["title"] == "[RESOLVED] 晋源区: district_reports for 2022-03-03 has arrived"
    assert "after 8 h" in resolution["body"]
    states = conn.execute("select reporter, rule, status from dq.alerts order by reporter").fetchall()
    assert states == [(XIAODIAN, "R2", "open"), (JINYUAN, "C1", "resolved")]


def test_a_check_that_still_fails_after_the_report_arrives_becomes_its_own_alert(conn, tmp_path):
    land_reports(conn, str(tmp_path), everyone_but_jinyuan(), received_at=T0 - timedelta(hours=3))
    with webhook_receiver() as (url, received):
        alerts = config(EPIFEEDS_ALERT_WEBHOOK_URL=url)
        check_district_completeness(conn, load_district_roster(), T0, "t0", lookback_days=1)
        add_finding(
            conn, f"R1:new_positives:district_reports:{CITY}:{DAY}", "R1", CITY, "太原市 new_positives 40 ≠ 37",
            {"city_value": 40, "district_sum": 37},
        )  # fmt: skip
        process_alerts(conn, T0, run_id="t0", config=alerts)
        land_reports(conn, str(tmp_path), ["晋源区"], received_at=T0 + timedelta(hours=1))
        watchdog(conn, T0 + timedelta(hours=2), alerts)

    assert [(m["kind"], m["rule"], m["reporter"]) for m in received.messages] == [
        ("open", "C1", JINYUAN),
        ("resolved", "C1", JINYUAN),
        ("open", "R1", CITY),  # the city still does not add up: now that is the problem to chase
    ]


def test_a_receiver_answering_500_first_gets_the_alert_on_retry_and_both_attempts_are_recorded(
    conn, tmp_path
):
    land_reports(conn, str(tmp_path), everyone_but_jinyuan(), received_at=T0 - timedelta(hours=3))
    with webhook_receiver(fail_first=1) as (url, received):
        outcome = watchdog(conn, T0, config(EPIFEEDS_ALERT_WEBHOOK_URL=url))
    attempts = conn.execute(
        "select kind, attempt, is_delivered, response from dq.notifications order by notification_id"
    ).fetchall()
    assert [m["kind"] for m in received.messages] == ["open"]
    assert attempts == [("open", 1, False, "HTTP 500"), ("open", 2, True, "HTTP 204")]
    assert outcome["undelivered"] == 0


def test_an_alert_no_channel_accepted_stays_pending_and_goes_out_next_run(conn, tmp_path):
    land_reports(conn, str(tmp_path), everyone_but_jinyuan(), received_at=T0 - timedelta(hours=3))
    with webhook_receiver(fail_first=3) as (url, received):
        alerts = config(EPIFEEDS_ALERT_WEBHOOK_URL=url, EPIFEEDS_ALERT_DELIVERY_ATTEMPTS="3")
        first = watchdog(conn, T0, alerts)
        assert received.messages == [] and first["undelivered"] == 1
        second = watchdog(
            conn, T0 + timedelta(hours=1), alerts
        )  # inside suppression: the same notice, retried
    assert [(m["kind"], m["reporter"]) for m in received.messages] == [("open", JINYUAN)]
    assert second["undelivered"] == 0 and second["queued"] == []
    recorded = conn.execute(
        "select attempted_at, count(*) filter (where is_delivered), count(*) from dq.notifications"
        " group by attempted_at order by attempted_at"
    ).fetchall()
    assert recorded == [(T0, 0, 3), (T0 + timedelta(hours=1), 1, 1)]


def test_critical_and_long_open_incidents_are_escalated_to_the_escalation_route(conn, tmp_path):
    land_reports(conn, str(tmp_path), everyone_but_jinyuan(), received_at=T0 - timedelta(hours=3))
    with webhook_receiver() as (team_url, team), webhook_receiver() as (duty_url, duty):
        alerts = config(
            EPIFEEDS_ALERT_WEBHOOK_URL=team_url,
            # apprise's JSON service, carrying the same fields as the plain webhook
            EPIFEEDS_ALERT_ESCALATION_ROUTE=duty_url.replace("http://", "json://"),
            EPIFEEDS_ALERT_ESCALATE_AFTER_HOURS="12",
        )
        add_finding(
            conn, f"H1:new_positives:district_reports:{XIAODIAN}:{DAY}", "H1", XIAODIAN,
            "小店区 revised new_positives for 2022-03-03 from 3 to 300", {"before": 3, "after": 300},
            severity="critical",
        )  # fmt: skip
        watchdog(conn, T0, alerts)
        assert sorted(m["reporter"] for m in team.messages) == [XIAODIAN, JINYUAN]
        assert [(m["kind"], m["reporter"], m["severity"]) for m in duty.messages] == [
            ("open", XIAODIAN, "critical")
        ]
        watchdog(conn, T0 + timedelta(hours=12), alerts)  # 晋源区 still missing after 12 h

    escalated = [m for m in duty.messages if m["kind"] == "escalated"]
    assert [(m["reporter"], m["is_escalated"]) for m in escalated] == [(JINYUAN, True)]
    assert (
        escalated[0]["title"].startswith("[ESCALATED ERROR] 晋源区") and "open 12 h" in escalated[0]["title"]
    )
    assert "escalated" in [m["kind"] for m in team.messages]  # the team sees the escalation too


def test_alerts_go_by_email_through_a_real_smtp_server(conn, tmp_path):
    land_reports(conn, str(tmp_path), everyone_but_jinyuan(), received_at=T0 - timedelta(hours=3))
    with smtp_receiver() as (host, port, mailbox):
        alerts = config(
            EPIFEEDS_ALERT_EMAIL_TO="duty@cdc.example, analyst@cdc.example",
            EPIFEEDS_SMTP_HOST=host,
            EPIFEEDS_SMTP_PORT=str(port),
            EPIFEEDS_SMTP_FROM="epifeeds@cdc.example",
        )
        watchdog(conn, T0, alerts)
    [mail] = mailbox.messages
    assert mailbox.recipients == [["duty@cdc.example", "analyst@cdc.example"]]
    assert mail["Subject"] == "[ERROR] 晋源区: district_reports for 2022-03-03 is missing"
    assert mail["X-Epifeeds-Reporter"] == JINYUAN
    assert "晋源区 (140110) did not deliver its district report for 2022-03-03" in mail.get_content()
    channel = conn.execute("select channel from dq.notifications where is_delivered").fetchone()[0]
    assert channel == f"email duty@cdc.example,analyst@cdc.example via 127.0.0.1:{port}"


def test_routes_send_a_feed_to_its_own_channel_only(conn, tmp_path):
    land_reports(conn, str(tmp_path), everyone_but_jinyuan(), received_at=T0 - timedelta(hours=3))
    with webhook_receiver() as (district_url, district_team), webhook_receiver() as (hotel_url, hotel_team):
        alerts = config(
            EPIFEEDS_ALERT_ROUTES=f"district_reports:error={district_url}; hotel_reports={hotel_url}"
        )
        watchdog(conn, T0, alerts)
    assert [m["reporter"] for m in district_team.messages] == [JINYUAN]
    assert hotel_team.messages == []
