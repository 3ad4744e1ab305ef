"""Testing sites and isolation hotels in the warehouse, as a BI user sees them.

A three-day small simulation of every feed is landed through the real ingest functions (the district
API served over HTTP, the site and hotel files from the drop, the registries), then `dbt build` runs on
a fresh database. A clean simulation reconciles everywhere; one with every planted fault breaks rules
R2, R3 and I3 on exactly the district-days and hotel-days its ground truth names; revised site reports
and a changed registry entry reach the marts on the next (incremental) build. The `bi_reader` role is
cluster-wide: created once (idempotently), never dropped here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from epifeeds.bi_access import bi_reader_dsn, ensure_bi_reader
from epifeeds.feeds.district_reports import ingest_district_reports
from epifeeds.feeds.hotels import ingest_hotel_reports
from epifeeds.feeds.registries import ingest_registries
from epifeeds.feeds.testing_sites import ingest_testing_site_reports
from epifeeds.settings import Settings, load_settings
from epifeeds.warehouse import DbtCommandError, run_dbt
from epifeeds_sim.generate import generate
from epifeeds_sim.ground_truth import GroundTruth
from epifeeds_sim.server import serve_in_background

pytestmark = pytest.mark.integration

DAYS = 3
FIRST_DAY = date(2022, 3, 1)
REPORT_DATES = [FIRST_DAY + timedelta(days=n) for n in range(DAYS)]
LAST_DAY = REPORT_DATES[-1]
# Two days after the last report date: every delivery, late ones and revisions included, has arrived.
AS_OF = datetime.combine(LAST_DAY + timedelta(days=2), datetime.min.time(), UTC) + timedelta(hours=2)
TOKEN = "test-token"
# What a build must refresh for the revisions test; the data tests already ran on the `clean` warehouse.
WITHOUT_TESTS = ("--resource-type", "snapshot", "--resource-type", "model")
ONE_DAY_LOOKBACK = ("--vars", "{lookback_days: 1}")
NEW_MARTS = {
    "dim_street",
    "dim_testing_site",
    "dim_isolation_hotel",
    "fct_testing_site_daily",
    "fct_hotel_occupancy_daily",
    "mart_testing_throughput",
    "mart_isolation_capacity",
}


@dataclass(frozen=True)
class Warehouse:
    settings: Settings
    sim_dir: Path
    truth: GroundTruth
    artifacts: Path

    def rows(self, query: str, params: tuple = (), *, as_bi_reader: bool = False) -> list[dict]:
        dsn = bi_reader_dsn(self.settings.warehouse_dsn) if as_bi_reader else self.settings.warehouse_dsn
        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            return conn.execute(query, params).fetchall()

    def dbt(self, *args: str) -> None:
        run_dbt(
            list(args),
            self.settings,
            target_path=self.artifacts / "target",
            log_path=self.artifacts / "logs",
        )


def _land_simulation(settings: Settings, sim_dir: Path, archive: Path) -> None:
    dsn = settings.warehouse_dsn
    with serve_in_background(sim_dir, TOKEN) as api_url:
        ingest_district_reports(dsn, str(archive), api_url, TOKEN, REPORT_DATES, AS_OF)
    ingest_registries(dsn, str(archive), str(sim_dir / "registries"), LAST_DAY, AS_OF)
    ingest_testing_site_reports(dsn, str(archive), str(sim_dir / "file_drop"), REPORT_DATES, AS_OF)
    ingest_hotel_reports(dsn, str(archive), str(sim_dir / "file_drop"), REPORT_DATES, AS_OF)


@pytest.fixture(scope="module")
def simulations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, GroundTruth]]:
    sims = {}
    for faults in ("none", "all"):
        sim_dir = tmp_path_factory.mktemp(f"sim-{faults}")
        sims[faults] = (sim_dir, generate(sim_dir, days=DAYS, seed=7, faults=faults, scale="small"))
    return sims


def _create_database(template: str | None = None) -> str:
    name = f"epifeeds_test_{uuid.uuid4().hex[:8]}"
    statement = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:  # a copy of a built warehouse, landing and all, in a second
        statement += sql.SQL(" template {}").format(sql.Identifier(template))
    with psycopg.connect(load_settings().admin_dsn, autocommit=True) as admin:
        admin.execute(statement)
    return name


@contextmanager
def _warehouse_database(name: str) -> Iterator[Settings]:
    """Settings pointing at the database `name`, dropped on exit."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("EPIFEEDS_WAREHOUSE_DB", name)
        monkeypatch.delenv("EPIFEEDS_WAREHOUSE_DSN", raising=False)
        settings = load_settings()
        try:
            ensure_bi_reader(settings.admin_dsn, settings.warehouse_dsn)
            yield settings
        finally:
            with psycopg.connect(settings.admin_dsn, autocommit=True) as admin:
                admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _built_warehouse(
    tmp_path_factory: pytest.TempPathFactory, sim: tuple[Path, GroundTruth]
) -> Iterator[Warehouse]:
    """A fresh database with the simulation landed, `bi_reader` ensured and `dbt build` run once."""
    with _warehouse_database(_create_database()) as settings:
        artifacts = tmp_path_factory.mktemp("dbt")
        _land_simulation(settings, sim[0], artifacts / "archive")
        warehouse = Warehouse(settings, sim[0], sim[1], artifacts)
        warehouse.dbt("build")
        yield warehouse


@pytest.fixture(scope="module")
def clean(tmp_path_factory, simulations) -> Iterator[Warehouse]:
    yield from _built_warehouse(tmp_path_factory, simulations["none"])


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, simulations) -> Iterator[Warehouse]:
    yield from _built_warehouse(tmp_path_factory, simulations["all"])


@pytest.fixture
def revisable(tmp_path_factory, clean: Warehouse) -> Iterator[Warehouse]:
    """A copy of the clean warehouse for a test that lands more data after the first build."""
    with _warehouse_database(_create_database(template=clean.settings.warehouse_db)) as settings:
        yield Warehouse(settings, clean.sim_dir, clean.truth, tmp_path_factory.mktemp("dbt"))


def _planted(truth: GroundTruth, rule: str) -> set[tuple[str, date]]:
    """(reporter, report date) of every break of `rule` in the final data: the faults planted for it and
    the consequences of other faults, except those that only hold before a revision lands."""
    breaks = {(f.reporter, date.fromisoformat(f.report_date)) for f in truth.faults if f.rule == rule}
    breaks |= {
        (c["reporter"], date.fromisoformat(c["report_date"]))
        for f in truth.faults
        for c in f.consequences
        if c["rule"] == rule and "only_before" not in c
    }
    return breaks


def _flagged(warehouse: Warehouse, table: str, key: str, flag: str) -> set[tuple[str, date]]:
    rows = warehouse.rows(f"select {key} as reporter, report_date from marts.{table} where {flag} = false")
    return {(r["reporter"], r["report_date"]) for r in rows}


def test_a_clean_simulation_reconciles_every_district_day(clean: Warehouse) -> None:
    days = clean.rows(
        """
        select district_id, report_date, sites_active, sites_reporting, sites_samples_collected,
               district_samples_collected, is_samples_reconciled, is_sites_complete
        from marts.mart_testing_throughput order by district_id, report_date
        """
    )
    isolation = clean.rows(
        "select report_date, is_isolation_reconciled, is_hotels_complete from marts.mart_isolation_capacity"
    )
    hotel_days = clean.rows(
        "select is_flow_consistent, is_occupancy_within_rooms from marts.fct_hotel_occupancy_daily"
    )

    assert len(days) == 10 * DAYS, "every district of Taiyuan on every simulated day"
    assert all(d["is_samples_reconciled"] for d in days), [d for d in days if not d["is_samples_reconciled"]]
    assert all(d["sites_samples_collected"] == d["district_samples_collected"] for d in days)
    assert all(d["is_sites_complete"] and d["sites_reporting"] == d["sites_active"] > 0 for d in days)
    assert all(d["is_hotels_complete"] for d in isolation)
    assert {d["is_isolation_reconciled"] for d in isolation if d["report_date"] < LAST_DAY} == {True}
    assert {d["is_isolation_reconciled"] for d in isolation if d["report_date"] == LAST_DAY} == {None}, (
        "the last day's check-ins of the day after are not known yet"
    )
    assert {h["is_flow_consistent"] for h in hotel_days} <= {True, None}
    assert {h["is_occupancy_within_rooms"] for h in hotel_days} == {True}


def test_planted_r2_breaks_flip_the_flag_for_exactly_their_district_days(faulty: Warehouse) -> None:
    planted = _planted(faulty.truth, "R2")

    assert planted, "the 'all' fault profile plants R2 breaks"
    assert _flagged(faulty, "mart_testing_throughput", "district_id", "is_samples_reconciled") == planted
    assert _flagged(faulty, "mart_district_daily_summary", "district_id", "is_samples_reconciled") == planted


def test_planted_r3_i3_and_v2_breaks_are_flagged_where_the_ground_truth_says(faulty: Warehouse) -> None:
    assert _flagged(faulty, "mart_isolation_capacity", "district_id", "is_isolation_reconciled") == (
        _planted(faulty.truth, "R3")
    )
    assert _flagged(faulty, "mart_district_daily_summary", "district_id", "is_isolation_reconciled") == (
        _planted(faulty.truth, "R3")
    )
    assert _flagged(faulty, "fct_hotel_occupancy_daily", "hotel_id", "is_flow_consistent") == (
        _planted(faulty.truth, "I3")
    )
    [over_rooms] = faulty.truth.select(kind="occupancy_over_rooms")
    assert _flagged(faulty, "fct_hotel_occupancy_daily", "hotel_id", "is_occupancy_within_rooms") == {
        (over_rooms.reporter, date.fromisoformat(over_rooms.report_date))
    }


def test_a_lost_site_file_shows_as_missing_sites(faulty: Warehouse) -> None:
    [empty] = faulty.truth.select(kind="empty_file")
    [lost_sites] = [c["site_ids"] for c in empty.consequences if c["rule"] == "C1"]

    [day] = faulty.rows(
        "select sites_active, sites_reporting, sites_missing, is_sites_complete, sites_samples_collected"
        " from marts.mart_testing_throughput where district_id = %s and report_date = %s",
        (empty.reporter, date.fromisoformat(empty.report_date)),
        as_bi_reader=True,
    )

    assert day == {
        "sites_active": len(lost_sites),
        "sites_reporting": 0,
        "sites_missing": len(lost_sites),
        "is_sites_complete": False,
        "sites_samples_collected": 0,
    }


def test_bi_reader_reads_the_new_marts_but_not_the_registry_history(clean: Warehouse) -> None:
    marts = {
        r["table_name"]
        for r in clean.rows("select table_name from information_schema.tables where table_schema = 'marts'")
    }
    counts = {
        table: clean.rows(f"select count(*) as n from marts.{table}", as_bi_reader=True)[0]["n"]
        for table in sorted(NEW_MARTS)
    }
    registry = clean.rows("select count(*) as sites from landing.testing_sites")[0]["sites"]

    assert NEW_MARTS <= marts
    assert all(n > 0 for n in counts.values()), counts
    assert counts["dim_testing_site"] == registry
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        clean.rows("select * from snapshots.testing_sites_snapshot limit 1", as_bi_reader=True)


def test_every_street_of_the_registries_is_in_dim_street(clean: Warehouse) -> None:
    orphans = clean.rows(
        """
        select 'site' as kind, site_id as id from marts.dim_testing_site
        where street_key is not null and street_key not in (select street_key from marts.dim_street)
        union all
        select 'hotel', hotel_id from marts.dim_isolation_hotel
        where street_key is not null and street_key not in (select street_key from marts.dim_street)
        """
    )
    [pingyang_road] = clean.rows(
        "select street_id, testing_sites, isolation_hotels from marts.dim_street"
        " where district_id = '140105' and street_name = '平阳路街道'"
    )

    assert orphans == []
    assert pingyang_road["street_id"] == "140105001" and pingyang_road["testing_sites"] > 0
    assert pingyang_road["isolation_hotels"] >= 2, "银海酒店 and 锦江之星 stand on 平阳路街道"


def _land_site_revision(warehouse: Warehouse, district_id: str, report_date: date, extra_samples: int) -> str:
    """A district office resubmits one site's report with more samples (a new `_version`), stamped with
    the earliest load time in landing: as a long ingest transaction does, committed after the last build
    but stamped before its newest row, so only the lookback window can catch it."""
    with psycopg.connect(warehouse.settings.warehouse_dsn) as conn:
        site_id, version = conn.execute(
            "select site_id, max(_version) from landing.testing_site_reports"
            " where district_id = %s and report_date = %s group by site_id order by site_id limit 1",
            (district_id, report_date),
        ).fetchone()
        batch_id = conn.execute(
            """
            insert into landing.batches
                (feed, reporter, report_date, source_uri, sha256, received_at, status, rows_read, rows_landed)
            values ('testing_site_reports', %s, %s, 'file:///drop/revised.csv', %s, %s, 'landed', 1, 1)
            returning batch_id
            """,
            (district_id, report_date, uuid.uuid4().hex, AS_OF),
        ).fetchone()[0]
        conn.execute(
            """
            insert into landing.testing_site_reports
            select site_id, site_name_reported, district_id, report_date, pool_size,
                   samples_collected + %(extra)s, tubes, tubes_sent_to_lab, positive_tubes,
                   %(batch_id)s, (select min(_loaded_at) from landing.testing_site_reports),
                   _version + 1, md5(_row_hash)
            from landing.testing_site_reports
            where site_id = %(site_id)s and report_date = %(day)s and _version = %(version)s
            """,
            {
                "extra": extra_samples,
                "batch_id": batch_id,
                "site_id": site_id,
                "day": report_date,
                "version": version,
            },
        )
    return site_id


def test_revisions_reach_the_marts_on_the_next_incremental_build(revisable: Warehouse) -> None:
    inside, outside = REPORT_DATES[1], REPORT_DATES[0]  # with a one-day lookback from the last day
    revised_inside = _land_site_revision(revisable, "140105", inside, extra_samples=50_000)
    revised_outside = _land_site_revision(revisable, "140106", outside, extra_samples=50_000)
    with psycopg.connect(revisable.settings.warehouse_dsn) as conn:
        [(released_hotel, registry_loaded_at)] = conn.execute(
            """
            insert into landing.isolation_hotels
            select hotel_id, hotel_name, district_id, district_name_reported, street_name, rooms, capacity,
                   staff, requisitioned_from, %(released)s, report_format, 'released', registry_as_of,
                   _batch_id, now(), _version + 1, md5(_row_hash)
            from landing.isolation_hotels where hotel_id = 'H140105002'
            returning hotel_id, _loaded_at
            """,
            {"released": LAST_DAY + timedelta(days=1)},
        ).fetchall()

    revisable.dbt("build", *WITHOUT_TESTS, *ONE_DAY_LOOKBACK)
    compiled = revisable.artifacts / "target" / "compiled" / "epifeeds" / "models" / "marts"
    window = (compiled / "fct_testing_site_daily.sql").read_text(encoding="utf-8")
    assert f"report_date >= date '{inside}'" in window, (
        "the incremental window is written as constants, so it reaches the landing view below its ranking"
    )

    def site_row(site_id: str, day: date) -> dict:
        [row] = revisable.rows(
            "select report_version, is_revised from marts.fct_testing_site_daily"
            " where site_id = %s and report_date = %s",
            (site_id, day),
        )
        return row

    def r2(district_id: str, day: date) -> bool:
        [row] = revisable.rows(
            "select is_samples_reconciled from marts.mart_district_daily_summary"
            " where district_id = %s and report_date = %s",
            (district_id, day),
            as_bi_reader=True,
        )
        return row["is_samples_reconciled"]

    # inside the lookback window: the revision replaced the row and the district's samples no longer add up
    assert site_row(revised_inside, inside) == {"report_version": 2, "is_revised": True}
    assert r2("140105", inside) is False
    # older than the window and stamped before the last build: left alone until a full refresh
    assert site_row(revised_outside, outside) == {"report_version": 1, "is_revised": False}
    assert r2("140106", outside) is True
    # the registry change is a new SCD2 version; the dimension shows the current one
    history = revisable.rows(
        "select status, dbt_valid_from, dbt_valid_to from snapshots.isolation_hotels_snapshot"
        " where hotel_id = %s order by dbt_valid_from",
        (released_hotel,),
    )
    [hotel] = revisable.rows(
        "select status, requisitioned_to, valid_from from marts.dim_isolation_hotel where hotel_id = %s",
        (released_hotel,),
    )
    assert [h["status"] for h in history] == ["requisitioned", "released"]
    assert history[0]["dbt_valid_to"] == history[1]["dbt_valid_from"] == registry_loaded_at
    assert hotel == {
        "status": "released",
        "requisitioned_to": LAST_DAY + timedelta(days=1),
        "valid_from": registry_loaded_at,
    }

    revisable.dbt(
        "build",
        *WITHOUT_TESTS,
        *ONE_DAY_LOOKBACK,
        "--full-refresh",
        "--select",
        "stg_testing_sites__daily_reports+",
    )

    assert site_row(revised_outside, outside) == {"report_version": 2, "is_revised": True}
    assert r2("140106", outside) is False


def test_site_data_tests_judge_the_report_dates_a_load_can_have_changed(revisable: Warehouse) -> None:
    """The staging view's data tests read the window of macro recent_report_dates: an old report date
    loaded long ago was judged when it landed; a version landed since brings its date back in; and
    `test_full_history` judges every row."""
    select = ("test", "--select", "stg_testing_sites__daily_reports")
    with psycopg.connect(revisable.settings.warehouse_dsn) as conn:  # the first day, landed ten days earlier
        conn.execute(
            "update landing.testing_site_reports set _loaded_at = _loaded_at - interval '10 days'"
            " where report_date = %s",
            (FIRST_DAY,),
        )
    site_id = _land_site_revision(revisable, "140105", FIRST_DAY, extra_samples=-1_000_000)
    revisable.dbt(*select, "--vars", "{lookback_days: 1}")  # outside the window: not judged again
    with pytest.raises(DbtCommandError, match="non_negative_stg_testing_sites__daily_reports_samples"):
        revisable.dbt(*select, "--vars", "{lookback_days: 1, test_full_history: true}")
    with psycopg.connect(revisable.settings.warehouse_dsn) as conn:  # the same bad version, landed now
        conn.execute(
            "update landing.testing_site_reports set _loaded_at = now()"
            " where site_id = %s and report_date = %s and _version = (select max(_version)"
            " from landing.testing_site_reports where site_id = %s and report_date = %s)",
            (site_id, FIRST_DAY, site_id, FIRST_DAY),
        )
    with pytest.raises(DbtCommandError, match="non_negative_stg_testing_sites__daily_reports_samples"):
        revisable.dbt(*select, "--vars", "{lookback_days: 1}")
