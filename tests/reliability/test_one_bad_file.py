"""One bad file never stops the others: hostile values and files planted in a real drop, a real Postgres.

Planted: in 小店区's (140105) site CSV for 2022-03-01 a count of 3000000000 (int overflow), a count of
1e30 and a NUL byte in a site name; 140107's XLSX for that day replaced by a 5 KB workbook whose merged
range spans the sheet (A10:XFD1048576); one hotel's JSON replaced by JSON nested 100,000 deep. Before,
any of them crashed the run and rolled every district back. Now the values are rejected rows, the two
files are quarantined with what is wrong, every other file lands, and each quarantine is a finding and
an alert. A load error the database raises (planted as a trigger) quarantines that file alone, the run
fails at the end naming it, and the next run lands it once the fault is gone.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import psycopg
import pytest
from openpyxl import Workbook, load_workbook

from epifeeds.feeds.hotels import ingest_hotel_reports
from epifeeds.feeds.registries import ingest_registries
from epifeeds.feeds.testing_sites import ingest_testing_site_reports
from epifeeds.landing.archive import read_archived, sha256_of
from epifeeds.landing.ingest_run import DeliveriesFailed
from tests.reliability.conftest import AFTER_ALL_ARRIVALS, DATES

pytestmark = pytest.mark.integration

DAY = "2022-03-01"


def xlsx_bomb() -> bytes:
    """A small workbook with a header and a merged range A10:XFD1048576 (written into the sheet XML)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["采样点编号", "采样点名称", "采样人次", "采管数"])
    sheet["A10"] = "合并"
    sheet.merge_cells("A10:B11")
    packed = io.BytesIO()
    workbook.save(packed)
    source, bomb = zipfile.ZipFile(io.BytesIO(packed.getvalue())), io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member.filename)
            if member.filename.startswith("xl/worksheets/"):
                content = content.replace(b"A10:B11", b"A10:XFD1048576")
            target.writestr(member, content)
    return bomb.getvalue()


def plant_values(csv_path: Path) -> None:
    """Rows 2-4 of a site CSV get 3000000000 samples, 1e30 tubes and a NUL in the site name."""
    raw = csv_path.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "gbk"
    lines = raw.decode(encoding).split("\n")
    for index, (column, value) in zip(
        (1, 2, 3), ((4, "3000000000"), (5, "1e30"), (1, "采样点\x00名称")), strict=True
    ):
        cells = lines[index].split(",")
        cells[column] = value
        lines[index] = ",".join(cells)
    csv_path.write_bytes("\n".join(lines).encode(encoding))


def xlsx_rows(path: Path) -> int:
    sheet = load_workbook(path, read_only=True).active
    return sum(1 for row in sheet.iter_rows(values_only=True) if row and str(row[0] or "").startswith("TS"))


def land_everything(dsn: str, archive: Path, sim: Path) -> tuple[dict, dict]:
    drop = str(sim / "file_drop")
    ingest_registries(dsn, str(archive), str(sim / "registries"), DATES[-1], AFTER_ALL_ARRIVALS)
    sites = ingest_testing_site_reports(dsn, str(archive), drop, DATES, AFTER_ALL_ARRIVALS)
    hotels = ingest_hotel_reports(dsn, str(archive), drop, DATES, AFTER_ALL_ARRIVALS)
    return sites, hotels


def test_hostile_values_and_files_are_refused_alone_and_everything_else_lands(
    warehouse_dsn, tmp_path, sim_copy
):
    truth = json.loads((sim_copy / "ground_truth.json").read_text())
    sites_dir, hotels_dir = sim_copy / "file_drop" / "testing_sites", sim_copy / "file_drop" / "hotel_reports"
    plant_values(sites_dir / "140105" / f"{DAY}.csv")
    bomb_target = sites_dir / "140107" / f"{DAY}.xlsx"
    bombed_rows = xlsx_rows(bomb_target)
    bomb = xlsx_bomb()
    bomb_target.write_bytes(bomb)
    nested = b'{"hotel_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    (hotels_dir / "H140105003" / f"{DAY}.json").write_bytes(nested)

    started = time.perf_counter()
    sites, hotels = land_everything(warehouse_dsn, tmp_path / "archive", sim_copy)  # does not raise
    elapsed = time.perf_counter() - started

    with psycopg.connect(warehouse_dsn) as conn:
        site_rows = conn.execute("select count(*) from landing.testing_site_reports").fetchone()[0]
        hotel_rows = conn.execute("select count(*) from landing.hotel_reports").fetchone()[0]
        rejects = conn.execute(
            "select reporter, row_number, reason from landing.rejects where feed = 'testing_site_reports'"
            " order by row_number"
        ).fetchall()
        quarantined = dict(
            conn.execute(
                "select reporter, message from landing.batches where status = 'quarantined' and report_date = %s",
                (DAY,),
            ).fetchall()
        )
        unbalanced = conn.execute(
            "select count(*) from landing.batches where status = 'landed' and rows_read <> rows_landed + rows_rejected"
        ).fetchone()[0]
        findings = conn.execute(
            "select feed, reporter, severity, status from dq.findings where finding_key like 'C3:quarantined:%'"
            " order by 1, 2"
        ).fetchall()
        alerts = conn.execute(
            "select feed, reporter, status from dq.alerts where rule = 'C3' order by 1, 2"
        ).fetchall()
        bomb_sha = conn.execute(
            "select sha256 from landing.batches where reporter = '140107' and report_date = %s", (DAY,)
        ).fetchone()[0]

    # Every row of every other file landed; the three planted rows are rejects with their reasons.
    assert site_rows == truth["feeds"]["testing_sites"]["rows"] - bombed_rows - 3
    assert hotel_rows == truth["feeds"]["hotel_reports"]["reports"] - 1
    assert [(reporter, row) for reporter, row, _ in rejects] == [
        ("TS1401050001", 2),
        ("TS1401050002", 3),
        ("TS1401050003", 4),
    ]
    reasons = [reason for *_, reason in rejects]
    assert "3000000000" in reasons[0] and "plausible maximum" in reasons[0]
    assert "1e30" in reasons[1] and "plausible maximum" in reasons[1]
    assert "\\x00" in reasons[2] and "control character" in reasons[2]
    assert unbalanced == 0
    # The two hostile files: quarantined with what is wrong, refused fast, kept byte for byte.
    assert set(quarantined) == {"140107", "H140105003"}
    assert "A10:XFD1048576" in quarantined["140107"] and "EPIFEEDS_MAX_MERGED_CELLS" in quarantined["140107"]
    assert "nests 100001 levels deep" in quarantined["H140105003"]
    assert (
        "140107" in quarantined["140107"]
        and DAY in quarantined["140107"]
        and "2022-03-01.xlsx" in quarantined["140107"]
    )
    assert elapsed < 60, f"the whole ingest took {elapsed:.1f} s"
    assert (
        bomb_sha == sha256_of(bomb)
        and read_archived(str(tmp_path / "archive"), "testing_site_reports", bomb_sha) == bomb
    )
    # Each quarantine is a finding and an alert.
    assert ("testing_site_reports", "140107", "error", "open") in findings
    assert ("hotel_reports", "H140105003", "error", "open") in findings
    assert {("testing_site_reports", "140107", "open"), ("hotel_reports", "H140105003", "open")} <= set(
        alerts
    )
    assert {d["status"] for d in sites["deliveries"]} == {"landed", "quarantined"}
    assert hotels["files_seen"] == truth["feeds"]["hotel_reports"]["reports"]


def test_a_load_error_quarantines_that_file_alone_and_the_next_run_lands_it(
    warehouse_dsn, tmp_path, sim_copy
):
    archive, drop = str(tmp_path / "archive"), str(sim_copy / "file_drop")
    ingest_registries(warehouse_dsn, archive, str(sim_copy / "registries"), DATES[-1], AFTER_ALL_ARRIVALS)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:  # the database refuses 140108's rows
        conn.execute(
            """
            create function refuse_140108() returns trigger language plpgsql as $$
            begin
                if new.district_id = '140108' then raise exception 'planted fault for district 140108'; end if;
                return new;
            end $$;
            create trigger refuse_140108 before insert on landing.testing_site_reports
                for each row execute function refuse_140108();
            """
        )
    with pytest.raises(DeliveriesFailed) as failed:
        ingest_testing_site_reports(warehouse_dsn, archive, drop, DATES, AFTER_ALL_ARRIVALS)
    message = str(failed.value)
    assert message.startswith("2 of 20 deliveries failed")
    assert "140108" in message and "2022-03-01.csv" in message and "planted fault" in message
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        by_status = dict(
            conn.execute(
                "select status, count(*) from landing.batches where feed = 'testing_site_reports' group by 1"
            ).fetchall()
        )
        districts = conn.execute(
            "select count(distinct district_id) from landing.testing_site_reports"
        ).fetchone()[0]
        open_findings = conn.execute(
            "select count(*) from dq.findings where finding_key like 'C3:quarantined:testing_site_reports:140108:%'"
            " and status = 'open'"
        ).fetchone()[0]
        conn.execute("drop trigger refuse_140108 on landing.testing_site_reports")
    assert by_status == {"landed": 18, "quarantined": 2} and districts == 9 and open_findings == 2

    again = ingest_testing_site_reports(warehouse_dsn, archive, drop, DATES, AFTER_ALL_ARRIVALS)
    assert sorted(d["reporter"] for d in again["deliveries"]) == ["140108", "140108"]
    with psycopg.connect(warehouse_dsn) as conn:
        statuses = conn.execute(
            "select status, count(*) from landing.batches where feed = 'testing_site_reports' group by 1"
        ).fetchall()
        doubled = conn.execute(
            "select count(*) from landing.testing_site_reports where _version > 1"
        ).fetchone()[0]
        still_open = conn.execute(
            "select count(*) from dq.findings where finding_key like 'C3:quarantined:%' and status = 'open'"
        ).fetchone()[0]
    assert statuses == [("landed", 20)] and doubled == 0 and still_open == 0


def test_a_headers_only_file_lands_no_rows_and_says_so(warehouse_dsn, tmp_path, sim_copy):
    site_file = sim_copy / "file_drop" / "testing_sites" / "140105" / f"{DAY}.csv"
    raw = site_file.read_bytes()
    site_file.write_bytes(raw[: raw.index(b"\n") + 1])  # the header line alone
    archive = str(tmp_path / "archive")
    ingest_registries(warehouse_dsn, archive, str(sim_copy / "registries"), DATES[-1], AFTER_ALL_ARRIVALS)
    ingest_testing_site_reports(
        warehouse_dsn, archive, str(sim_copy / "file_drop"), DATES, AFTER_ALL_ARRIVALS
    )
    with psycopg.connect(warehouse_dsn) as conn:
        status, read, message = conn.execute(
            "select status, rows_read, message from landing.batches where reporter = '140105' and report_date = %s",
            (DAY,),
        ).fetchone()
    assert (status, read) == ("landed", 0) and "no data rows" in message
