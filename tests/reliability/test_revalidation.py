"""Validation after a failed try: the slices a run changed are validated again when its validate task is
retried, when the run is cleared and run again, and when its ingest task failed at the end and is retried;
with GX, with the platform's file-feed rules and delivery checks, for the file feeds and the district API.

Driven through the task functions the DAGs call (`epifeeds.tasks`), on a real Postgres with real GX, with
the warehouse given as Airflow gives it (the `epifeeds_warehouse` connection, from the environment).
What a try must validate is read from landing, independently of the task: every report date the run
landed rows for. A fault is planted in the database to fail the first try: a trigger that refuses the
second GX result stored (the first slice is then validated, the second not), that refuses the rules'
results (GX has validated everything, the rules judged nothing), or that refuses one district's rows for
one day (the ingest quarantines it and fails at the end, after landing the others).
"""

from __future__ import annotations

import os

import psycopg
import pytest

from epifeeds import tasks
from epifeeds.feeds.contracts import DISTRICT_REPORTS, TESTING_SITE_REPORTS
from epifeeds.feeds.registries import ingest_registries
from epifeeds.landing.ingest_run import DeliveriesFailed
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.orchestration import run_time_for
from epifeeds.quality.suites import suite_name
from epifeeds.schedules import INGEST_DISTRICT_REPORTS_CRON, INGEST_TESTING_SITES_CRON, cron_local_time
from epifeeds_sim.server import serve_in_background
from tests.reliability.conftest import AFTER_ALL_ARRIVALS, DATES

pytestmark = pytest.mark.integration

RUN_AT = run_time_for(DATES[-1], cron_local_time(INGEST_TESTING_SITES_CRON))
RUN_ID = "scheduled__retried"
# Refuses every GX result stored after the first, while public.planted_fault exists.
REFUSE_SECOND_GX_RUN = """
create table public.planted_fault ();
create function public.refuse_second() returns trigger language plpgsql as $$
begin
    if to_regclass('public.planted_fault') is not null
        and exists (select from dq.check_runs where report_date is not null and suite = new.suite) then
        raise exception 'planted fault: the database refuses this result';
    end if;
    return new;
end $$;
create trigger planted before insert on dq.check_runs for each row execute function public.refuse_second();
"""
REFUSE_RULES = """
create table public.planted_fault ();
create function public.refuse_rules() returns trigger language plpgsql as $$
begin
    if to_regclass('public.planted_fault') is not null and new.suite = 'file_feed_rules' then
        raise exception 'planted fault: the database refuses the rules'' results';
    end if;
    return new;
end $$;
create trigger planted before insert on dq.check_runs for each row execute function public.refuse_rules();
"""
REFUSE_ONE_DISTRICT = """
create table public.planted_fault ();
create function public.refuse_district() returns trigger language plpgsql as $$
begin
    if to_regclass('public.planted_fault') is not null and new.district_id = '140110'
        and new.report_date = '2022-03-01' then
        raise exception 'planted fault: the database refuses this row';
    end if;
    return new;
end $$;
create trigger planted before insert on landing.testing_site_reports for each row
    execute function public.refuse_district();
"""


@pytest.fixture
def platform(warehouse_dsn, tmp_path, small_sim, monkeypatch) -> str:
    """A warehouse with the registries landed, given to the task functions as Airflow would."""
    monkeypatch.setenv("AIRFLOW_CONN_EPIFEEDS_WAREHOUSE", warehouse_dsn)
    monkeypatch.setenv("EPIFEEDS_ARCHIVE_URL", str(tmp_path / "archive"))
    monkeypatch.setenv("EPIFEEDS_FILE_DROP_URL", str(small_sim / "file_drop"))
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
    ingest_registries(warehouse_dsn, str(tmp_path / "archive"), str(small_sim / "registries"), DATES[-1], AFTER_ALL_ARRIVALS)  # fmt: skip
    return warehouse_dsn


def plant(dsn: str, fault: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(fault)


def remove_fault(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("drop table public.planted_fault")


def landed_dates(dsn: str) -> set:
    with psycopg.connect(dsn) as conn:
        return {d for (d,) in conn.execute("select distinct report_date from landing.testing_site_reports")}


def validated_dates(dsn: str, contract=TESTING_SITE_REPORTS) -> set:
    """Report dates whose GX suite ran for this run and was stored."""
    with psycopg.connect(dsn) as conn:
        return {
            d
            for (d,) in conn.execute(
                "select report_date from dq.check_runs where suite = %s and run_id = %s and feed = %s",
                (suite_name(contract), RUN_ID, contract.feed),
            )
        }


def judged_dates(dsn: str) -> set:
    """Report dates the site rules judged for this run (each rules run lists its dates)."""
    with psycopg.connect(dsn) as conn:
        return {
            day
            for (days,) in conn.execute(
                "select statistics -> 'report_dates' from dq.check_runs"
                " where suite = 'file_feed_rules' and feed = %s and run_id = %s",
                (TESTING_SITE_REPORTS.feed, RUN_ID),
            )
            for day in days
        }


def fail_the_first_validate(dsn: str) -> dict:
    landed = tasks.ingest_testing_sites_for_run(RUN_AT)
    plant(dsn, REFUSE_SECOND_GX_RUN)
    with pytest.raises(psycopg.errors.RaiseException, match="planted fault"):
        tasks.validate_changed_slices(landed["deliveries"], RUN_ID, RUN_AT)
    assert len(validated_dates(dsn)) == 1, "the first try validated one slice before it failed"
    remove_fault(dsn)
    return landed


def test_a_retried_validate_task_validates_every_changed_slice(platform):
    landed = fail_the_first_validate(platform)
    tasks.validate_changed_slices(landed["deliveries"], RUN_ID, RUN_AT)  # the retry: the same XCom
    assert validated_dates(platform) == landed_dates(platform) == set(DATES)


def test_a_cleared_run_validates_what_its_first_try_landed(platform):
    fail_the_first_validate(platform)
    landed = tasks.ingest_testing_sites_for_run(RUN_AT)  # cleared: the ingest runs again, finds repeats
    tasks.validate_changed_slices(landed["deliveries"], RUN_ID, RUN_AT)
    assert validated_dates(platform) == landed_dates(platform) == set(DATES)


def test_a_retried_ingest_task_has_everything_it_landed_validated(platform):
    plant(platform, REFUSE_ONE_DISTRICT)
    with pytest.raises(DeliveriesFailed, match="planted fault"):  # 19 of 20 files land; no XCom
        tasks.ingest_testing_sites_for_run(RUN_AT)
    remove_fault(platform)
    landed = tasks.ingest_testing_sites_for_run(RUN_AT)  # the retry lands the refused file
    assert [d["report_date"] for d in landed["deliveries"]] == [str(DATES[0])]
    tasks.validate_changed_slices(landed["deliveries"], RUN_ID, RUN_AT)
    assert validated_dates(platform) == landed_dates(platform) == set(DATES)


def test_a_cleared_run_judges_what_its_first_try_landed(platform):
    """GX validated everything, then the rules failed: the cleared run's ingest finds only repeats, and
    its validate task still runs the rules and the delivery checks on every landed date."""
    landed = tasks.ingest_testing_sites_for_run(RUN_AT)
    plant(platform, REFUSE_RULES)
    with pytest.raises(psycopg.errors.RaiseException, match="planted fault"):
        tasks.validate_changed_slices(
            landed["deliveries"], RUN_ID, RUN_AT, feeds=(TESTING_SITE_REPORTS.feed,)
        )
    assert validated_dates(platform) == set(DATES) and judged_dates(platform) == set()
    remove_fault(platform)
    again = tasks.ingest_testing_sites_for_run(RUN_AT)  # cleared: every file is a repeat
    assert again["deliveries"] == []
    summaries = tasks.validate_changed_slices(
        again["deliveries"], RUN_ID, RUN_AT, feeds=(TESTING_SITE_REPORTS.feed,)
    )
    assert (
        judged_dates(platform)
        >= {d.isoformat() for d in landed_dates(platform)}
        == {d.isoformat() for d in DATES}
    )
    assert [s["feed"] for s in summaries if s["suite"] == "deliveries"] == [TESTING_SITE_REPORTS.feed]


def test_a_cleared_district_run_validates_what_its_first_try_landed(platform, small_sim, monkeypatch):
    token = "test-revalidation-token"
    run_at = run_time_for(DATES[-1], cron_local_time(INGEST_DISTRICT_REPORTS_CRON))
    with serve_in_background(small_sim, token) as api_url:
        monkeypatch.setenv(
            "AIRFLOW_CONN_EPIFEEDS_DISTRICT_API", api_url.replace("http://", f"http://:{token}@")
        )
        monkeypatch.setenv("EPIFEEDS_INGEST_LOOKBACK_DAYS", "1")  # the run pulls the simulation's 2 days
        deliveries = tasks.ingest_district_reports_for_run(run_at)
        assert sorted(d["report_date"] for d in deliveries if d["rows_new_versions"]) == [
            d.isoformat() for d in DATES
        ]
        plant(platform, REFUSE_SECOND_GX_RUN)
        with pytest.raises(psycopg.errors.RaiseException, match="planted fault"):
            tasks.validate_district_reports(deliveries, RUN_ID, run_at)
        assert len(validated_dates(platform, DISTRICT_REPORTS)) == 1
        remove_fault(platform)
        again = tasks.ingest_district_reports_for_run(run_at)  # cleared: the API answers the same
        assert [d["rows_new_versions"] for d in again] == [0, 0]
        tasks.validate_district_reports(again, RUN_ID, run_at)
    assert validated_dates(platform, DISTRICT_REPORTS) == set(DATES)


def test_a_retried_ingest_task_has_the_header_of_what_it_landed_judged(platform, sim_copy, monkeypatch):
    """The ingest fails at the end (one district refused) after landing a file whose header was renamed by
    hand; its retry lands only the refused file, and the validate task still reports the drift (S1 reads
    the ledger's header report, not the retry's deliveries)."""
    monkeypatch.setenv("EPIFEEDS_FILE_DROP_URL", str(sim_copy / "file_drop"))
    drifted = sim_copy / "file_drop" / "testing_sites" / "140105" / "2022-03-02.csv"
    payload, stat = drifted.read_bytes(), drifted.stat()
    assert "阳性管数".encode("gbk") in payload.splitlines()[0]  # the district's export is in GBK
    drifted.write_bytes(payload.replace("阳性管数".encode("gbk"), "阳性结果管数".encode("gbk"), 1))
    os.utime(drifted, (stat.st_atime, stat.st_mtime))  # arrived when it did
    plant(platform, REFUSE_ONE_DISTRICT)
    with pytest.raises(DeliveriesFailed, match="planted fault"):
        tasks.ingest_testing_sites_for_run(RUN_AT)
    remove_fault(platform)
    landed = tasks.ingest_testing_sites_for_run(RUN_AT)
    assert [(d["reporter"], d["report_date"]) for d in landed["deliveries"]] == [("140110", "2022-03-01")]

    tasks.validate_changed_slices(landed["deliveries"], RUN_ID, RUN_AT, feeds=(TESTING_SITE_REPORTS.feed,))

    with psycopg.connect(platform) as conn:
        s1 = conn.execute(
            "select finding_key, severity, status, details -> 'likely_matches' from dq.findings where rule = 'S1'"
        ).fetchall()
    assert s1 == [
        (
            "S1:drift:testing_site_reports:140105:2022-03-02",
            "error",
            "open",
            {"positive_tubes": {"unknown_label": "阳性结果管数", "expected_spelling": "阳性管数"}},
        )
    ]
