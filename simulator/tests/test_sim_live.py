"""The live simulator: its current report date follows the machine's clock in Asia/Shanghai, and the
file drop fills only as the files' arrival times come."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from epifeeds.feeds.file_drop import FileDrop
from epifeeds_sim.live import current_report_date, deliver_arrived_files, generate_live

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("now_utc", "expected"),
    [
        # 10:29 local on the 3rd: the 10:30 tick that collects the 2nd has not come yet
        (datetime(2026, 12, 3, 2, 29, tzinfo=UTC), date(2026, 12, 1)),
        (datetime(2026, 12, 3, 2, 30, tzinfo=UTC), date(2026, 12, 2)),
        # 00:30 local on the 4th: the latest tick is still the 3rd's 10:30
        (datetime(2026, 12, 3, 16, 30, tzinfo=UTC), date(2026, 12, 2)),
    ],
)
def test_the_current_report_date_is_the_one_the_latest_ingest_tick_handles(now_utc, expected):
    assert current_report_date(now_utc) == expected


def test_files_reach_the_live_drop_when_they_arrive(tmp_path):
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # 16:00 local: the current report date is 2 December
    first = generate_live(tmp_path, now, seed=7, faults="default", scale="small")
    assert first == date(2026, 11, 29)
    truth = json.loads((tmp_path / "generated" / "ground_truth.json").read_text(encoding="utf-8"))
    assert (truth["start"], truth["end"]) == ("2026-11-29", "2026-12-03")
    missing = [f for f in truth["faults"] if f["kind"] == "missing_report"]
    assert [(f["reporter_name"], f["report_date"]) for f in missing] == [("晋源区", "2026-12-01")]

    planned = json.loads((tmp_path / "generated" / "file_drop" / "arrivals.json").read_text())["files"]
    due = {path for path, at in planned.items() if at <= "2026-12-03T08:00:00Z"}
    assert 0 < len(due) < len(planned)  # the 3 December files are still to come
    assert deliver_arrived_files(tmp_path, now) == len(due)
    drop = FileDrop(str(tmp_path / "live" / "file_drop"))
    arrived = {path for path in planned if (tmp_path / "live" / path).exists()}
    assert arrived == due
    some_file = sorted(due)[0].removeprefix("file_drop/")
    assert drop.arrived_at(f"{drop.root}/{some_file}") == datetime.fromisoformat(
        planned["file_drop/" + some_file].replace("Z", "+00:00")
    )
    assert (tmp_path / "live" / "registries" / "testing_sites.json").exists()

    later = datetime(2026, 12, 5, tzinfo=UTC)
    assert deliver_arrived_files(tmp_path, later) == len(planned)
