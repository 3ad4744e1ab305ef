"""The file drop through fsspec (local and memory://), run dates, and the new contracts (no services)."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import fsspec
import pytest

from epifeeds.feeds.contracts import CONTRACTS, HOTEL_REPORTS, TESTING_SITE_REPORTS
from epifeeds.feeds.file_drop import FileDrop
from epifeeds.feeds.names import normalise_label
from epifeeds.landing.loader import row_hash
from epifeeds.quality.suites import derive_suite
from epifeeds.settings import load_settings
from epifeeds.tasks import changed_slices, report_dates_for_run
from epifeeds_sim import hotels as sim_hotels
from epifeeds_sim import testing_sites as sim_sites
from epifeeds_sim.generate import generate
from epifeeds_sim.randomness import parse_iso_utc

pytestmark = pytest.mark.unit

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    generate(out, days=3, seed=11, faults="default", scale="small")
    return out


def arrivals(sim_dir: Path) -> dict[str, datetime]:
    files = json.loads((sim_dir / "file_drop/arrivals.json").read_text())["files"]
    return {path.removeprefix("file_drop/"): parse_iso_utc(moment) for path, moment in files.items()}


def test_a_run_takes_only_files_that_had_arrived_by_its_interval_end(sim_dir):
    drop = FileDrop(str(sim_dir / "file_drop"))
    day = date(2022, 3, 2)
    arrived = {p: t for p, t in arrivals(sim_dir).items() if p.startswith("testing_sites/") and str(day) in p}
    cutoff = sorted(arrived.values())[len(arrived) // 2]
    taken = drop.files_for("testing_sites", [day], arrived_by=cutoff)
    assert {f.relative_path for f in taken} == {p for p, t in arrived.items() if t <= cutoff}
    assert 0 < len(taken) < len(arrived)
    assert all(f.arrived_at == arrived[f.relative_path] for f in taken)
    everything = drop.files_for(
        "testing_sites", [day], arrived_by=datetime(2022, 3, 3, 10, 30, tzinfo=SHANGHAI)
    )
    assert {f.relative_path for f in everything} == set(arrived)
    assert all(
        f.uri.startswith("file://") and f.reporter_label == f.relative_path.split("/")[1] for f in everything
    )


def test_without_a_manifest_a_files_modification_time_is_its_arrival(tmp_path):
    path = tmp_path / "hotel_reports" / "H140105001" / "2022-03-01.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"{}")
    arrived = datetime(2022, 3, 2, 7, 45, tzinfo=SHANGHAI)
    os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    drop = FileDrop(str(tmp_path))
    [taken] = drop.files_for("hotel_reports", [date(2022, 3, 1)], arrived_by=arrived)
    assert taken.arrived_at == arrived and taken.file_format == "json"
    assert (
        drop.files_for("hotel_reports", [date(2022, 3, 1)], arrived_by=arrived - timedelta(seconds=1)) == []
    )


def test_a_memory_drop_works_the_same_with_the_arrivals_manifest(sim_dir):
    fs = fsspec.filesystem("memory")
    root = "/epifeeds-test-drop"
    for path in (sim_dir / "file_drop").rglob("*"):
        if path.is_file():
            fs.pipe(f"{root}/{path.relative_to(sim_dir / 'file_drop').as_posix()}", path.read_bytes())
    try:
        local, memory = FileDrop(str(sim_dir / "file_drop")), FileDrop(f"memory://{root}")
        days = [date(2022, 3, 1), date(2022, 3, 2)]
        at = datetime(2022, 3, 2, 8, 0, tzinfo=SHANGHAI)  # hotels' files for 03-01 partly arrived
        for folder in ("testing_sites", "hotel_reports"):
            from_local = [
                (f.relative_path, f.arrived_at) for f in local.files_for(folder, days, arrived_by=at)
            ]
            from_memory = memory.files_for(folder, days, arrived_by=at)
            assert [(f.relative_path, f.arrived_at) for f in from_memory] == from_local
        taken = memory.files_for("testing_sites", days, arrived_by=at)[0]
        assert taken.uri.startswith("memory://epifeeds-test-drop/testing_sites/")
        assert memory.read(taken) == (sim_dir / "file_drop" / taken.relative_path).read_bytes()
    finally:
        fs.rm(root, recursive=True)


def test_a_missing_drop_says_which_setting_to_check(tmp_path):
    from epifeeds.feeds.file_drop import FileDropUnavailable

    with pytest.raises(FileDropUnavailable, match="EPIFEEDS_FILE_DROP_URL"):
        FileDrop(str(tmp_path / "nowhere")).check_reachable("testing_site_reports")


def test_registries_default_to_the_folder_next_to_the_drop(monkeypatch):
    monkeypatch.setenv("EPIFEEDS_FILE_DROP_URL", "s3://bucket/sim/file_drop")
    monkeypatch.delenv("EPIFEEDS_REGISTRY_URL", raising=False)
    assert load_settings().registry_url == "s3://bucket/sim/registries"
    monkeypatch.setenv("EPIFEEDS_REGISTRY_URL", "memory://registries")
    assert load_settings().registry_url == "memory://registries"


def test_a_run_at_1030_on_d_plus_1_pulls_d_and_the_lookback_days():
    run_time = datetime(2022, 3, 5, 10, 30, tzinfo=SHANGHAI).astimezone(UTC)
    assert report_dates_for_run(run_time, 3) == [
        date(2022, 3, 1),
        date(2022, 3, 2),
        date(2022, 3, 3),
        date(2022, 3, 4),
    ]
    assert report_dates_for_run(run_time, 0) == [date(2022, 3, 4)]


def test_changed_slices_are_report_dates_or_registry_snapshots():
    deliveries = [
        {"feed": "testing_site_reports", "report_date": "2022-03-02", "rows_new_versions": 4},
        {"feed": "testing_site_reports", "report_date": "2022-03-01", "rows_new_versions": 0},
        {
            "feed": "testing_sites",
            "report_date": "2022-03-01",
            "rows_new_versions": 9,
            "slice_dates": ["2022-03-06"],
        },
    ]
    assert changed_slices(deliveries) == [
        ("testing_site_reports", date(2022, 3, 2)),
        ("testing_sites", date(2022, 3, 6)),
    ]


def test_every_header_the_simulator_writes_is_a_contract_alias():
    sites = TESTING_SITE_REPORTS.header_lookup()
    for label in (*sim_sites.HEADERS, sim_sites.SAMPLES_HEADER_DRIFT):
        assert normalise_label(label) in sites, label
    hotels = HOTEL_REPORTS.header_lookup()
    for label in [c for c in sim_hotels.XLSX_SUB if c] + ["隔离点编号", "隔离点名称", "日期", "工作人员"]:
        assert normalise_label(label) in hotels, label
    group = CONTRACTS["hotel_check_ins"].column("check_ins").aliases
    assert "新入住人员来源（区县）" in group and "check_ins_by_district" in group


@pytest.mark.parametrize("feed", sorted(CONTRACTS))
def test_every_column_is_described_and_the_key_is_in_the_columns(feed):
    contract = CONTRACTS[feed]
    assert all(len(c.description) > 15 for c in contract.columns)
    assert set(contract.key) <= {c.name for c in contract.columns}
    assert contract.not_revision_columns <= {c.name for c in contract.columns}
    assert all(set(chain) <= {c.name for c in contract.columns} for chain in contract.orderings)


def test_v2_orderings_become_gx_row_queries():
    suite = derive_suite(TESTING_SITE_REPORTS)
    [ordering] = [e for e in suite["expectations"] if e["type"] == "unexpected_rows_expectation"]
    assert ordering["meta"]["rule"] == "V2"
    assert ordering["kwargs"]["unexpected_rows_query"].endswith(
        "where positive_tubes > tubes_sent_to_lab or tubes_sent_to_lab > tubes or tubes > samples_collected"
    )
    hotel_checks = derive_suite(HOTEL_REPORTS)["expectations"]
    assert any("rooms_occupied > rooms_total" in str(e["kwargs"]) for e in hotel_checks)


def test_a_new_spelling_of_a_site_name_is_not_a_revision_but_a_new_count_is():
    row = {"site_id": "TS1401050001", "site_name_reported": "亲贤社区1号核酸采样点", "district_id": "140105",
           "report_date": date(2022, 3, 1), "pool_size": 10, "samples_collected": 808, "tubes": 81,
           "tubes_sent_to_lab": 81, "positive_tubes": None}  # fmt: skip
    respelled = {**row, "site_name_reported": "亲贤社区 1号采样点"}
    lab_results = {**row, "positive_tubes": 1}
    assert row_hash(TESTING_SITE_REPORTS, respelled) == row_hash(TESTING_SITE_REPORTS, row)
    assert row_hash(TESTING_SITE_REPORTS, lab_results) != row_hash(TESTING_SITE_REPORTS, row)


def test_every_file_arrives_before_its_ingest_run(sim_dir):
    """The schedules are after the simulator's arrivals: a run at 10:30 on D+1 sees every file of D."""
    from epifeeds.schedules import INGEST_ISOLATION_HOTELS_CRON, INGEST_TESTING_SITES_CRON, cron_local_time

    for path, arrived in arrivals(sim_dir).items():
        day = date.fromisoformat(path.rsplit("/", 1)[1].split(".")[0])
        cron = INGEST_TESTING_SITES_CRON if path.startswith("testing_sites") else INGEST_ISOLATION_HOTELS_CRON
        run = datetime.combine(day + timedelta(days=1), cron_local_time(cron), tzinfo=SHANGHAI)
        assert arrived <= run, path


def test_s3_urls_are_understood_without_code_changes():
    """An S3-compatible drop is configuration only: the s3 protocol is installed from the lock."""
    import fsspec

    fs, path = fsspec.core.url_to_fs("s3://epifeeds-drop/file_drop", anon=True)
    assert type(fs).__name__ == "S3FileSystem" and path == "epifeeds-drop/file_drop"
