"""A warehouse that a short simulated run filled, for the feed-health view's API and browser tests.

Three days of the `small` simulation with the default fault profile (晋源区 misses its 2022-03-03
report, 迎泽区 is late on 2022-03-01, ...), landed day by day at the times the DAGs' schedules would
run, through the same functions the DAG tasks call: the district API over real HTTP, the file drop,
the platform's rules, then the watchdog (C1, C2, alerts delivered to a local webhook, their links
pointing at `airflow_url`). The view reads only landing and dq, so the warehouse build (dbt) and the
GX validations are left out: they would add a minute or more and the view reads their results like
any other check's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg

from epifeeds.alerts.notify import process_alerts
from epifeeds.alerts.receiver import webhook_receiver
from epifeeds.alerts.routing import load_alert_config
from epifeeds.feeds.district_reports import ingest_district_reports
from epifeeds.feeds.hotels import ingest_hotel_reports
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.registries import ingest_registries
from epifeeds.feeds.testing_sites import ingest_testing_site_reports
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.orchestration import chain_for
from epifeeds.quality.completeness import check_district_completeness, check_file_feed_completeness
from epifeeds.quality.district_checks import check_district_feed
from epifeeds.quality.file_feed_rules import check_file_feed_rules
from epifeeds.quality.freshness import check_feed_freshness
from epifeeds.schedules import report_dates_through
from epifeeds.settings import Settings
from epifeeds.tasks import check_file_deliveries, rule_dates_for
from epifeeds_sim.generate import generate
from epifeeds_sim.ground_truth import GroundTruth
from epifeeds_sim.server import serve_in_background

FIRST_DAY = date(2022, 3, 1)
DAYS = 3
TOKEN = "feed-health-token"
FILE_LOOKBACK_DAYS = 3


@dataclass(frozen=True)
class FilledWarehouse:
    settings: Settings
    truth: GroundTruth
    report_dates: list[date]


def fill_warehouse(settings: Settings, work_dir: Path, airflow_url: str) -> FilledWarehouse:
    """Simulate, land, check, build and watch `DAYS` report dates into `settings.warehouse_dsn`."""
    sim_dir = work_dir / "sim"
    truth = generate(sim_dir, days=DAYS, seed=7, faults="default", scale="small")
    dsn, archive = settings.warehouse_dsn, str(work_dir / "archive")
    drop, registries = str(sim_dir / "file_drop"), str(sim_dir / "registries")
    report_dates = [FIRST_DAY + timedelta(days=n) for n in range(DAYS)]
    with psycopg.connect(dsn) as conn:
        ensure_landing_schema(conn)
    with serve_in_background(sim_dir, TOKEN) as api_url, webhook_receiver() as (webhook, _):
        alert_config = load_alert_config(
            env={"EPIFEEDS_ALERT_WEBHOOK_URL": webhook, "EPIFEEDS_AIRFLOW_URL": airflow_url}
        )
        for day in report_dates:
            at = dict(chain_for(day))
            run_id = f"feed_health_test__{day}"
            ingest_registries(dsn, archive, registries, day, at["ingest_registries"])
            pulled = report_dates_through(day, 2)
            ingest_district_reports(dsn, archive, api_url, TOKEN, pulled, at["ingest_district_reports"])
            with psycopg.connect(dsn) as conn:
                check_district_feed(conn, pulled, run_id, at["ingest_district_reports"])
            file_days = [day - timedelta(days=n) for n in range(FILE_LOOKBACK_DAYS, -1, -1)]
            deliveries = ingest_testing_site_reports(
                dsn, archive, drop, file_days, at["ingest_testing_sites"]
            )["deliveries"]
            deliveries += ingest_hotel_reports(dsn, archive, drop, file_days, at["ingest_isolation_hotels"])[
                "deliveries"
            ]
            with psycopg.connect(dsn) as conn:
                check_file_deliveries(conn, deliveries, run_id, at["ingest_isolation_hotels"])
                for group, dates in rule_dates_for(deliveries, at["ingest_isolation_hotels"]).items():
                    check_file_feed_rules(conn, dates, run_id, at["ingest_isolation_hotels"], feeds=[group])
            with psycopg.connect(dsn) as conn:
                check_district_completeness(conn, load_district_roster(), at["feed_watchdog"], run_id)
                check_file_feed_completeness(conn, at["feed_watchdog"], run_id)
                check_feed_freshness(conn, at["feed_watchdog"], run_id)
                process_alerts(conn, at["feed_watchdog"], run_id=run_id, config=alert_config)
    return FilledWarehouse(settings, truth, report_dates)
