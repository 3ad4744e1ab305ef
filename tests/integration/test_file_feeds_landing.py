"""The file-drop and registry feeds landing into a fresh Postgres: counts balance, faults as the simulator's
ground truth declares them, idempotency, revisions as versions, rejects with reasons, quarantine."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import fsspec
import psycopg
import pytest

from epifeeds.feeds.hotels import ingest_hotel_reports
from epifeeds.feeds.records import RegistryMissing
from epifeeds.feeds.registries import ingest_registries
from epifeeds.feeds.testing_sites import ingest_testing_site_reports
from epifeeds.landing.archive import read_archived
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds_sim.generate import generate
from epifeeds_sim.ground_truth import GroundTruth

pytestmark = pytest.mark.integration

DAYS = 4
FIRST = date(2022, 3, 1)
DATES = [FIRST + timedelta(days=n) for n in range(DAYS)]
AFTER_ALL_ARRIVALS = datetime(2022, 3, 5, 2, 30, tzinfo=UTC)  # 10:30 Asia/Shanghai on D+1 of the last day
TABLES = (
    "landing.batches",
    "landing.rejects",
    "landing.testing_sites",
    "landing.isolation_hotels",
    "landing.testing_site_reports",
    "landing.hotel_reports",
    "landing.hotel_check_ins",
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> tuple[Path, GroundTruth]:
    sim_dir = tmp_path_factory.mktemp("sim")
    return sim_dir, generate(sim_dir, days=DAYS, seed=7, faults="all", scale="small")


def land_all(dsn: str, archive: Path, sim_dir: Path, as_of: datetime = AFTER_ALL_ARRIVALS, **urls) -> dict:
    drop = urls.get("drop", str(sim_dir / "file_drop"))
    registries = ingest_registries(
        dsn, str(archive), urls.get("registries", str(sim_dir / "registries")), DATES[-1], as_of
    )
    sites = ingest_testing_site_reports(dsn, str(archive), drop, DATES, as_of)
    hotels = ingest_hotel_reports(dsn, str(archive), drop, DATES, as_of)
    return {"registries": registries, "sites": sites, "hotels": hotels}


def snapshot(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        return {table: conn.execute(f"select * from {table} order by 1, 2, 3").fetchall() for table in TABLES}


def fault(truth: GroundTruth, kind: str):
    [found] = [f for f in truth.select(kind=kind) if f.feed != "district_reports"]
    return found


def batch_of(conn, feed: str, reporter: str, report_date: str) -> tuple:
    return conn.execute(
        "select status, rows_read, rows_landed, rows_rejected, message, sha256, source_uri from landing.batches"
        " where feed = %s and reporter = %s and report_date = %s",
        (feed, reporter, report_date),
    ).fetchone()


def test_every_delivery_balances_and_the_planted_file_faults_land_as_declared(warehouse_dsn, tmp_path, sim):
    sim_dir, truth = sim
    land_all(warehouse_dsn, tmp_path / "archive", sim_dir)
    with psycopg.connect(warehouse_dsn) as conn:
        unbalanced = conn.execute(
            "select count(*) from landing.batches where status = 'landed' and rows_read <> rows_landed + rows_rejected"
        ).fetchone()[0]
        quarantined = conn.execute(
            "select feed, reporter, report_date::text, message from landing.batches where status = 'quarantined'"
        ).fetchall()
        counts = dict(
            conn.execute(
                "select feed, sum(rows_landed) from landing.batches where status = 'landed' group by feed"
            ).fetchall()
        )
        rejects = conn.execute(
            "select feed, reporter, report_date::text, row_number, raw_values, reason from landing.rejects"
        ).fetchall()
        in_table = {
            table: conn.execute(f"select count(*) from landing.{table}").fetchone()[0]
            for table in ("testing_site_reports", "hotel_reports", "hotel_check_ins", "testing_sites")
        }
        clean_files = {
            kind: batch_of(
                conn, "testing_site_reports", fault(truth, kind).reporter, fault(truth, kind).report_date
            )
            for kind in (
                "header_drift",
                "thousands_separators",
                "full_width_digits",
                "wrong_encoding",
                "totals_row",
            )
        }
        truncated = fault(truth, "truncated_file")
        truncated_batch = batch_of(conn, "testing_site_reports", truncated.reporter, truncated.report_date)
        missing_hotel = fault(truth, "missing_report")
        missing = batch_of(conn, "hotel_reports", missing_hotel.reporter, missing_hotel.report_date)

    assert unbalanced == 0
    empty = fault(truth, "empty_file")
    [(feed, reporter, day, message)] = quarantined
    assert (feed, reporter, day) == ("testing_site_reports", empty.reporter, empty.report_date)
    assert "empty" in message and "resend" in message and empty.reporter in message

    lost = sum(len(c.get("site_ids", [])) for f in truth.faults for c in f.consequences if c["rule"] == "C1")
    site_rows = truth.feeds["testing_sites"]["rows"]
    assert counts["testing_site_reports"] == in_table["testing_site_reports"] == site_rows - lost
    [(feed, reporter, day, row_number, raw, reason)] = rejects  # the one row the truncated upload cut
    assert (feed, day, row_number) == (
        "testing_site_reports",
        truncated.report_date,
        truncated.values["complete_rows"] + 2,
    )
    assert reporter == truncated.reporter and "cut short" in reason and raw["truncated_line"]
    assert truncated_batch[:4] == (
        "landed",
        truncated.values["complete_rows"] + 1,
        truncated.values["complete_rows"],
        1,
    )
    assert "truncated" in truncated_batch[4]

    for kind, (status, read, landed, rejected, *_) in clean_files.items():
        assert (status, rejected) == ("landed", 0), kind
        assert read == landed > 0, kind
    assert "dropped totals row" in clean_files["totals_row"][4]
    assert "read as gbk CSV" in clean_files["wrong_encoding"][4]

    reports = truth.feeds["hotel_reports"]["reports"]
    assert counts["hotel_reports"] == in_table["hotel_reports"] == reports
    assert counts["hotel_check_ins"] == in_table["hotel_check_ins"] == 10 * reports
    assert missing is None  # a hotel that sent nothing has no batch: the watchdog's business
    items = json.loads((sim_dir / "registries/testing_sites.json").read_text())["items"]
    assert in_table["testing_sites"] == len(items)


def test_payloads_are_archived_byte_for_byte(warehouse_dsn, tmp_path, sim):
    sim_dir, truth = sim
    land_all(warehouse_dsn, tmp_path / "archive", sim_dir)
    with psycopg.connect(warehouse_dsn) as conn:
        for kind in ("wrong_encoding", "occupancy_over_rooms", "empty_file"):
            planted = fault(truth, kind)
            feed = "hotel_reports" if planted.feed == "hotel_reports" else "testing_site_reports"
            *_, sha256, source_uri = batch_of(conn, feed, planted.reporter, planted.report_date)
            assert source_uri == f"file://{sim_dir / planted.file}"
            assert (
                read_archived(str(tmp_path / "archive"), feed, sha256)
                == (sim_dir / planted.file).read_bytes()
            )


def test_landing_the_same_files_again_changes_nothing(warehouse_dsn, tmp_path, sim):
    sim_dir, _ = sim
    first = land_all(warehouse_dsn, tmp_path / "archive", sim_dir)
    before = snapshot(warehouse_dsn)
    again = land_all(warehouse_dsn, tmp_path / "archive", sim_dir)
    next_day = land_all(warehouse_dsn, tmp_path / "archive", sim_dir, AFTER_ALL_ARRIVALS + timedelta(days=1))
    assert snapshot(warehouse_dsn) == before
    assert len(first["sites"]["deliveries"]) == first["sites"]["files_seen"] == 10 * DAYS
    for run in (again, next_day):
        assert (
            run["registries"] == [] and run["sites"]["deliveries"] == [] and run["hotels"]["deliveries"] == []
        )
        assert run["sites"]["files_already_taken"] == run["sites"]["files_seen"] == 10 * DAYS


def test_only_files_that_had_arrived_are_taken_and_the_rest_come_later(warehouse_dsn, tmp_path, sim):
    sim_dir, _ = sim
    early = datetime(2022, 3, 2, 2, 30, tzinfo=UTC)  # 10:30 on 03-02: day 1's files, nothing of day 2
    land_all(warehouse_dsn, tmp_path / "archive", sim_dir, early)
    with psycopg.connect(warehouse_dsn) as conn:
        days = conn.execute("select distinct report_date from landing.testing_site_reports").fetchall()
    assert days == [(FIRST,)]
    land_all(warehouse_dsn, tmp_path / "archive", sim_dir)
    with psycopg.connect(warehouse_dsn) as conn:
        days = conn.execute("select count(distinct report_date) from landing.hotel_reports").fetchone()[0]
    assert days == DAYS


def test_a_revised_file_in_a_memory_drop_becomes_a_new_version_and_the_first_is_kept(
    warehouse_dsn, tmp_path, sim
):
    """The drop is any fsspec URL: here memory://, its arrival times from the drop's arrivals.json."""
    sim_dir, _ = sim
    fs = fsspec.filesystem("memory")
    root = f"/drop-{tmp_path.name}"
    for path in (sim_dir / "file_drop").rglob("*"):
        if path.is_file():
            fs.pipe(f"{root}/{path.relative_to(sim_dir / 'file_drop').as_posix()}", path.read_bytes())
    try:
        land_all(warehouse_dsn, tmp_path / "archive", sim_dir, drop=f"memory://{root}")
        target = f"testing_sites/140105/{DATES[1]}.csv"
        lines = fs.cat(f"{root}/{target}").decode("gbk").split("\r\n")
        first, second = lines[1].split(","), lines[2].split(",")
        revised_site, respelled_site = first[0], second[0]
        first[4] = str(int(first[4]) + 7)  # the district corrects a site's samples
        second[1] = second[1] + " "  # and re-types another site's name: a spelling, not a revision
        lines[1], lines[2] = ",".join(first), ",".join(second)
        fs.pipe(f"{root}/{target}", "\r\n".join(lines).encode("gbk"))
        resubmitted = AFTER_ALL_ARRIVALS + timedelta(hours=20)
        manifest = json.loads(fs.cat(f"{root}/arrivals.json"))
        manifest["files"][f"file_drop/{target}"] = resubmitted.isoformat()
        fs.pipe(f"{root}/arrivals.json", json.dumps(manifest).encode())

        rerun = land_all(warehouse_dsn, tmp_path / "archive", sim_dir, drop=f"memory://{root}")
        revised = land_all(
            warehouse_dsn,
            tmp_path / "archive",
            sim_dir,
            resubmitted + timedelta(hours=1),
            drop=f"memory://{root}",
        )
        with psycopg.connect(warehouse_dsn) as conn:
            versions = conn.execute(
                "select site_id, _version, samples_collected from landing.testing_site_reports"
                " where report_date = %s and site_id = any(%s) order by 1, 2",
                (DATES[1], [revised_site, respelled_site]),
            ).fetchall()
            batches = conn.execute(
                "select count(*) from landing.batches where feed = 'testing_site_reports' and reporter = '140105'"
                " and report_date = %s",
                (DATES[1],),
            ).fetchone()[0]
    finally:
        fs.rm(root, recursive=True)
    assert rerun["sites"]["deliveries"] == []  # re-running the interval does not see the later resubmission
    [delivery] = revised["sites"]["deliveries"]
    assert delivery["source_uri"] == f"memory://{root.lstrip('/')}/{target}"
    assert (delivery["rows_new_versions"], delivery["rows_rejected"]) == (1, 0)
    assert batches == 2
    by_site = {}
    for site_id, version, samples in versions:
        by_site.setdefault(site_id, []).append((version, samples))
    assert by_site[revised_site] == [(1, int(first[4]) - 7), (2, int(first[4]))]
    assert [v for v, _ in by_site[respelled_site]] == [1]


def test_sites_missing_from_the_registry_are_rejected_and_registry_changes_are_versions(
    warehouse_dsn, tmp_path, sim
):
    sim_dir, _ = sim
    registries = tmp_path / "registries"
    shutil.copytree(sim_dir / "registries", registries)
    document = json.loads((registries / "testing_sites.json").read_text())
    dropped = document["items"].pop(0)  # the registry does not list this site yet
    (registries / "testing_sites.json").write_text(json.dumps(document, ensure_ascii=False))
    land_all(warehouse_dsn, tmp_path / "archive", sim_dir, registries=str(registries))
    with psycopg.connect(warehouse_dsn) as conn:
        rejects = conn.execute(
            "select reporter, report_date, raw_values, reason from landing.rejects where reporter = %s order by 2",
            (dropped["site_id"],),
        ).fetchall()
    assert [r[1] for r in rejects] == DATES
    assert all(
        r[2]["采样点编号"] == dropped["site_id"] and "not in the testing_sites registry" in r[3]
        for r in rejects
    )

    # the next snapshot lists it again and closes another site: two new versions, nothing else changes
    document["items"].insert(0, dropped)
    document["items"][1] = {**document["items"][1], "closed_on": "2022-03-20", "status": "closed"}
    document["as_of"] = "2022-03-20"
    (registries / "testing_sites.json").write_text(json.dumps(document, ensure_ascii=False))
    [delivery] = ingest_registries(
        warehouse_dsn, str(tmp_path / "archive"), str(registries), DATES[-1], AFTER_ALL_ARRIVALS
    )
    with psycopg.connect(warehouse_dsn) as conn:
        changed = conn.execute(
            "select site_id, _version, status from landing.testing_sites where registry_as_of = '2022-03-20' order by 1"
        ).fetchall()
    assert delivery["rows_new_versions"] == 2 and delivery["slice_dates"] == ["2022-03-20"]
    # ledgered under the registry's own as_of, not the run's report date
    with psycopg.connect(warehouse_dsn) as conn:
        [(ledger_date,)] = conn.execute(
            "select report_date from landing.batches where batch_id = %s", (delivery["batch_id"],)
        ).fetchall()
    assert delivery["report_date"] == "2022-03-20" and ledger_date == date(2022, 3, 20)
    assert changed == sorted(
        [(dropped["site_id"], 1, dropped["status"]), (document["items"][1]["site_id"], 2, "closed")]
    )


def test_reports_before_any_registry_stop_with_what_to_do(warehouse_dsn, tmp_path, sim):
    sim_dir, _ = sim
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
    with pytest.raises(RegistryMissing, match="Run the ingest_registries DAG first"):
        ingest_testing_site_reports(
            warehouse_dsn, str(tmp_path), str(sim_dir / "file_drop"), DATES, AFTER_ALL_ARRIVALS
        )
