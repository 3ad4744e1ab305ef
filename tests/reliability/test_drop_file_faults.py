"""One bad file never stops the others: a file far beyond the size limit, and files the drop cannot read.

Planted in a real drop, landed into a real Postgres. With EPIFEEDS_MAX_FILE_MB=1, 140106's site CSV for
2022-03-01 is replaced by 3 MiB of bytes and one hotel's JSON by 3 MiB too: each is streamed into the
archive (never held whole), ledgered quarantined with its size and the limit, and is a C3 finding and an
alert; a second run over the same drop ledgers nothing new. A 20 MiB file is ingested with a peak of
Python memory far below its size. Two site files the drop cannot read (links to nowhere: tests may run as
root, for whom chmod 000 stops nothing; one of them listed in arrivals.json, one not) are named in the
run's failure, the others land, and the run after the files are put back lands them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from datetime import date
from pathlib import Path

import psycopg
import pytest
from openpyxl import load_workbook

from epifeeds.alerts.lineage import load_manifest
from epifeeds.feeds.hotels import ingest_hotel_reports
from epifeeds.feeds.registries import ingest_registries
from epifeeds.feeds.testing_sites import ingest_testing_site_reports
from epifeeds.landing.ingest_run import DeliveriesFailed
from tests.reliability.conftest import AFTER_ALL_ARRIVALS, DATES

pytestmark = pytest.mark.integration

DAY = date(2022, 3, 1)
MIB = 2**20


def site_rows(path: Path) -> int:
    """Data rows of a simulated site file (each starts with its site id, TS...)."""
    if path.suffix == ".csv":
        return sum(1 for line in path.read_bytes().splitlines() if line.startswith(b"TS"))
    sheet = load_workbook(path, read_only=True).active
    return sum(1 for row in sheet.iter_rows(values_only=True) if row and str(row[0] or "").startswith("TS"))


def oversize(path: Path, size: int) -> bytes:
    """The file's own bytes repeated to exactly `size` bytes, written in its place (arrival time kept)."""
    stat, original = path.stat(), path.read_bytes()
    planted = (original * (size // len(original) + 1))[:size]
    path.write_bytes(planted)
    os.utime(path, (stat.st_atime, stat.st_mtime))
    return planted


def batches(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select feed, reporter, report_date, status, sha256, rows_read, message from landing.batches"
            " order by batch_id"
        ).fetchall()


def test_a_file_beyond_the_size_limit_is_archived_unread_and_quarantined_alone(
    warehouse_dsn, tmp_path, sim_copy, monkeypatch
):
    monkeypatch.setenv("EPIFEEDS_MAX_FILE_MB", "1")
    archive, drop = tmp_path / "archive", str(sim_copy / "file_drop")
    truth = json.loads((sim_copy / "ground_truth.json").read_text())
    big_site = sim_copy / "file_drop" / "testing_sites" / "140106" / "2022-03-01.csv"
    big_hotel = sim_copy / "file_drop" / "hotel_reports" / "H140105003" / "2022-03-01.json"
    replaced_rows = site_rows(big_site)
    site_bytes, hotel_bytes = oversize(big_site, 3 * MIB), oversize(big_hotel, 3 * MIB + MIB // 2)
    site_sha, hotel_sha = hashlib.sha256(site_bytes).hexdigest(), hashlib.sha256(hotel_bytes).hexdigest()

    ingest_registries(
        warehouse_dsn, str(archive), str(sim_copy / "registries"), DATES[-1], AFTER_ALL_ARRIVALS
    )
    sites = ingest_testing_site_reports(warehouse_dsn, str(archive), drop, DATES, AFTER_ALL_ARRIVALS)
    ingest_hotel_reports(warehouse_dsn, str(archive), drop, DATES, AFTER_ALL_ARRIVALS)  # does not raise

    ledgered = batches(warehouse_dsn)
    quarantined = [row for row in ledgered if row[3] == "quarantined"]
    assert [row[:6] for row in quarantined] == [
        ("testing_site_reports", "140106", DAY, "quarantined", site_sha, 0),
        ("hotel_reports", "H140105003", DAY, "quarantined", hotel_sha, 0),
        ("hotel_check_ins", "H140105003", DAY, "quarantined", hotel_sha, 0),
    ]
    site_message = quarantined[0][6]
    for part in (
        "testing_site_reports delivery of reporter 140106 for 2022-03-01",
        f"from file://{big_site}",
        "the CSV file is 3.0 MB, above the limit of 1 MB (EPIFEEDS_MAX_FILE_MB)",
        "ask the sender to split it",
    ):
        assert part in site_message
    assert "the JSON file is 3.5 MB, above the limit of 1 MB (EPIFEEDS_MAX_FILE_MB)" in quarantined[1][6]
    # Archived byte for byte at its content address, once per feed, nothing half-written left over.
    for feed, sha, planted in (
        ("testing_site_reports", site_sha, site_bytes),
        ("hotel_reports", hotel_sha, hotel_bytes),
        ("hotel_check_ins", hotel_sha, hotel_bytes),
    ):
        kept = archive / feed / sha[:2] / sha
        assert kept.read_bytes() == planted
    assert list(archive.rglob("*.partial")) == []
    # Every other file landed.
    with psycopg.connect(warehouse_dsn) as conn:
        landed_sites = conn.execute(
            "select count(*) from landing.batches where feed = 'testing_site_reports' and status = 'landed'"
        ).fetchone()[0]
        site_rows_landed = conn.execute("select count(*) from landing.testing_site_reports").fetchone()[0]
        hotel_rows_landed = conn.execute("select count(*) from landing.hotel_reports").fetchone()[0]
        findings = conn.execute(
            "select feed, reporter, report_date, severity, status from dq.findings"
            " where finding_key like 'C3:quarantined:%' order by 1, 2"
        ).fetchall()
        alerts = conn.execute(
            "select feed, reporter, report_date from dq.alerts where rule = 'C3' order by 1, 2"
        ).fetchall()
    assert landed_sites == 19
    assert site_rows_landed == truth["feeds"]["testing_sites"]["rows"] - replaced_rows
    assert hotel_rows_landed == truth["feeds"]["hotel_reports"]["reports"] - 1
    assert ("testing_site_reports", "140106", DAY, "error", "open") in findings
    assert [f for f in findings if f[0] == "testing_site_reports"] == [
        ("testing_site_reports", "140106", DAY, "error", "open")
    ]
    assert ("testing_site_reports", "140106", DAY) in alerts
    assert sites["files_seen"] == 20

    # The same drop again: the same oversize bytes are a repeat, like any delivery.
    again = ingest_testing_site_reports(warehouse_dsn, str(archive), drop, DATES, AFTER_ALL_ARRIVALS)
    ingest_hotel_reports(warehouse_dsn, str(archive), drop, DATES, AFTER_ALL_ARRIVALS)
    assert len(batches(warehouse_dsn)) == len(ledgered)
    assert again["deliveries"] == [] and again["files_already_taken"] == 20


def test_a_file_twenty_times_the_limit_is_never_held_in_memory(
    warehouse_dsn, tmp_path, sim_copy, monkeypatch
):
    monkeypatch.setenv("EPIFEEDS_MAX_FILE_MB", "1")
    archive, drop = tmp_path / "archive", str(sim_copy / "file_drop")
    big_site = sim_copy / "file_drop" / "testing_sites" / "140108" / "2022-03-02.csv"
    planted = oversize(big_site, 20 * MIB)
    ingest_registries(
        warehouse_dsn, str(archive), str(sim_copy / "registries"), DATES[-1], AFTER_ALL_ARRIVALS
    )

    load_manifest()  # the alerts' dbt manifest (about 5 MB parsed), cached per process: not the file's memory
    tracemalloc.start()
    try:
        ingest_testing_site_reports(warehouse_dsn, str(archive), drop, DATES, AFTER_ALL_ARRIVALS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 5 * MIB, f"peak {peak / MIB:.1f} MiB while ingesting a 20 MiB file"
    sha = hashlib.sha256(planted).hexdigest()
    assert (archive / "testing_site_reports" / sha[:2] / sha).stat().st_size == 20 * MIB
    assert [row[1:4] for row in batches(warehouse_dsn) if row[3] == "quarantined"] == [
        ("140108", date(2022, 3, 2), "quarantined")
    ]


def test_files_the_drop_cannot_read_fail_the_run_at_the_end_and_the_others_land(
    warehouse_dsn, tmp_path, sim_copy
):
    archive, drop_dir = tmp_path / "archive", sim_copy / "file_drop"
    truth = json.loads((sim_copy / "ground_truth.json").read_text())
    listed = drop_dir / "testing_sites" / "140108" / "2022-03-01.csv"  # in arrivals.json
    unlisted = drop_dir / "testing_sites" / "140110" / "2022-03-02.xlsx"  # taken out of arrivals.json
    missing_rows = site_rows(listed) + site_rows(unlisted)
    manifest = drop_dir / "arrivals.json"
    arrivals = manifest.read_text()
    files = json.loads(arrivals)
    del files["files"]["file_drop/testing_sites/140110/2022-03-02.xlsx"]
    manifest.write_text(json.dumps(files))
    saved = tmp_path / "saved"
    saved.mkdir()
    for number, path in enumerate((listed, unlisted)):
        path.rename(saved / str(number))  # rename keeps the modification time
        path.symlink_to(tmp_path / "nowhere" / path.name)  # a link to nowhere: unreadable for root too

    ingest_registries(
        warehouse_dsn, str(archive), str(sim_copy / "registries"), DATES[-1], AFTER_ALL_ARRIVALS
    )
    with pytest.raises(DeliveriesFailed) as failed:
        ingest_testing_site_reports(warehouse_dsn, str(archive), str(drop_dir), DATES, AFTER_ALL_ARRIVALS)

    message = str(failed.value)
    assert message.startswith("2 of 20 deliveries failed (the others are landed)")
    assert (
        f"testing_site_reports file of reporter 140108 for 2022-03-01 at file://{listed} could not be read: "
        "FileNotFoundError" in message
    )
    assert (
        f"testing_site_reports file of reporter 140110 for 2022-03-02 at file://{unlisted} could not be read: "
        "FileNotFoundError" in message
    )
    ledgered = batches(warehouse_dsn)
    sites_ledgered = [row for row in ledgered if row[0] == "testing_site_reports"]
    assert len(sites_ledgered) == 18 and {row[3] for row in sites_ledgered} == {"landed"}
    assert ("140108", DAY) not in {(row[1], row[2]) for row in sites_ledgered}
    assert ("140110", date(2022, 3, 2)) not in {(row[1], row[2]) for row in sites_ledgered}
    with psycopg.connect(warehouse_dsn) as conn:
        landed = conn.execute("select count(*) from landing.testing_site_reports").fetchone()[0]
    assert landed == truth["feeds"]["testing_sites"]["rows"] - missing_rows

    # The files put back: the retry lands exactly them.
    for number, path in enumerate((listed, unlisted)):
        path.unlink()
        (saved / str(number)).rename(path)
    manifest.write_text(arrivals)
    retried = ingest_testing_site_reports(
        warehouse_dsn, str(archive), str(drop_dir), DATES, AFTER_ALL_ARRIVALS
    )
    assert sorted((d["reporter"], d["report_date"], d["status"]) for d in retried["deliveries"]) == [
        ("140108", "2022-03-01", "landed"),
        ("140110", "2022-03-02", "landed"),
    ]
    with psycopg.connect(warehouse_dsn) as conn:
        landed = conn.execute("select count(*) from landing.testing_site_reports").fetchone()[0]
    assert landed == truth["feeds"]["testing_sites"]["rows"]


def test_a_registry_beyond_the_limit_or_unreadable_stops_only_itself(
    warehouse_dsn, tmp_path, sim_copy, monkeypatch
):
    """The same for the registries: an oversize one is archived unread and quarantined, the other lands;
    one the drop cannot read is listed in the run's failure, and the other lands."""
    archive, registries = tmp_path / "archive", sim_copy / "registries"
    sites_file, hotels_file = registries / "testing_sites.json", registries / "isolation_hotels.json"
    original = sites_file.read_bytes()
    monkeypatch.setenv("EPIFEEDS_MAX_FILE_MB", "1")
    planted = oversize(sites_file, 2 * MIB)

    records = ingest_registries(warehouse_dsn, str(archive), str(registries), DATES[-1], AFTER_ALL_ARRIVALS)

    sha = hashlib.sha256(planted).hexdigest()
    [(feed, reporter, day, status, ledgered_sha, rows, message)] = [
        row for row in batches(warehouse_dsn) if row[0] == "testing_sites"
    ]
    assert (feed, reporter, day, status, ledgered_sha, rows) == (
        "testing_sites",
        "*",
        DATES[-1],
        "quarantined",
        sha,
        0,
    )
    assert "the registry JSON is 2.0 MB, above the limit of 1 MB (EPIFEEDS_MAX_FILE_MB)" in message
    assert (archive / "testing_sites" / sha[:2] / sha).read_bytes() == planted
    assert [(r["feed"], r["status"]) for r in records] == [
        ("testing_sites", "quarantined"),
        ("isolation_hotels", "landed"),
    ]

    # The registry put back, and the hotels' one made a link to nowhere: the sites' lands, the run fails.
    sites_file.write_bytes(original)
    hotels_file.rename(tmp_path / "isolation_hotels.json")
    hotels_file.symlink_to(tmp_path / "nowhere.json")
    monkeypatch.delenv("EPIFEEDS_MAX_FILE_MB")
    with pytest.raises(DeliveriesFailed) as failed:
        ingest_registries(warehouse_dsn, str(archive), str(registries), DATES[-1], AFTER_ALL_ARRIVALS)
    assert str(failed.value).startswith("1 of 2 deliveries failed (the others are landed)")
    assert f"the isolation_hotels registry isolation_hotels.json under {registries} could not be read" in str(
        failed.value
    )
    with psycopg.connect(warehouse_dsn) as conn:
        landed = conn.execute("select count(*) from landing.testing_sites").fetchone()[0]
    assert landed == len(json.loads(original)["items"])
