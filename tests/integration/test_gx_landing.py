"""A landed slice through the committed GX checkpoint: real Postgres, real GX, real Data Docs.

Two report dates of district reports, each revised once: on 03-05 the first version breaks V2
(positives = confirmed + asymptomatic) and the revision fixes it; on 03-06 the revision breaks it.
GX validates the current version of each day, so only 03-06 fails, and the run changes nothing that
is committed under expectations/.
"""

import hashlib
import json
import multiprocessing
import subprocess
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime

import psycopg
import pytest

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.http_client import records_from_pages
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import parse_district_records
from epifeeds.landing.loader import Delivery, land_delivery
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.quality.gx_runner import data_docs_index, validate_landing_slice
from epifeeds.settings import EXPECTATIONS_DIR, PROJECT_ROOT
from tests.conftest import create_database, drop_database, dsn_for

pytestmark = pytest.mark.integration

FIXED_DAY, BROKEN_DAY = date(2022, 3, 5), date(2022, 3, 6)
RUN_ID = "manual__gx_landing_test"


def report(district: str, day: date, positives: int, confirmed: int, asymptomatic: int) -> dict:
    return {"district": district, "report_date": day.isoformat(), "new_positives": positives,
            "new_confirmed": confirmed, "new_asymptomatic": asymptomatic}  # fmt: skip


def land(conn, archive: str, items: list[dict], hour: int) -> None:
    report_date = date.fromisoformat(items[0]["report_date"])
    page = json.dumps({"page": 1, "next_page": None, "items": items}, ensure_ascii=False)
    payload = json.dumps({"feed": "district_reports", "pages": [page]}, ensure_ascii=False).encode()
    received_at = datetime(2022, 3, 7, hour, tzinfo=UTC)

    def parse(raw: bytes):
        return parse_district_records(
            DISTRICT_REPORTS,
            records_from_pages(raw),
            report_date=report_date,
            received_at=received_at,
            roster=load_district_roster(),
        )

    delivery = Delivery("district_reports", "*", report_date, "http://agency.test/api", payload, received_at)
    outcome = land_delivery(conn, DISTRICT_REPORTS, archive, delivery, parse)
    assert outcome.status == "landed" and outcome.rows_rejected == 0, outcome


def committed_state() -> tuple[str, dict[str, str]]:
    """`git status` of expectations/ and the bytes of every file in it."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "expectations/"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    files = {
        str(p.relative_to(EXPECTATIONS_DIR)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in EXPECTATIONS_DIR.rglob("*")
        if p.is_file()
    }
    return status, files


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """Both days landed and revised, then each day's slice validated once; the state before the runs."""
    name, home = create_database(), tmp_path_factory.mktemp("epifeeds-home")
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("EPIFEEDS_HOME", str(home))  # the runs' validation results and Data Docs
            yield _land_and_validate(dsn_for(name), str(home / "archive"))
    finally:
        drop_database(name)


def _land_and_validate(warehouse_dsn: str, archive: str):
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        land(conn, archive, [report("小店区", FIXED_DAY, 5, 1, 1), report("迎泽区", FIXED_DAY, 2, 1, 1)], 1)
        land(conn, archive, [report("小店区", FIXED_DAY, 5, 4, 1), report("迎泽区", FIXED_DAY, 2, 1, 1)], 5)
        land(conn, archive, [report("小店区", BROKEN_DAY, 3, 2, 1), report("迎泽区", BROKEN_DAY, 2, 1, 1)], 1)
        land(conn, archive, [report("小店区", BROKEN_DAY, 3, 2, 1), report("迎泽区", BROKEN_DAY, 9, 1, 1)], 5)
    before = committed_state()
    summaries = [
        validate_landing_slice(warehouse_dsn, DISTRICT_REPORTS, day, RUN_ID)
        for day in (FIXED_DAY, BROKEN_DAY)
    ]
    return warehouse_dsn, summaries, before


def test_v2_fails_on_the_day_whose_current_version_breaks_it_only(validated):
    dsn, summaries, _ = validated
    with psycopg.connect(dsn) as conn:
        runs = conn.execute(
            "select suite, feed, report_date, run_id, is_success from dq.check_runs"
            " where run_id = %s order by report_date",
            (RUN_ID,),
        ).fetchall()
        results = conn.execute(
            "select report_date, rule, status, observed from dq.check_results"
            " where run_id = %s and (rule = 'V2' or status = 'fail') order by report_date, rule",
            (RUN_ID,),
        ).fetchall()
        per_run = conn.execute(
            "select count(*) from dq.check_results where run_id = %s group by check_run_id order by check_run_id",
            (RUN_ID,),
        ).fetchall()

    assert runs == [
        ("landing__district_reports", "district_reports", FIXED_DAY, RUN_ID, True),
        ("landing__district_reports", "district_reports", BROKEN_DAY, RUN_ID, False),
    ]
    assert [(day, rule, status) for day, rule, status, _ in results] == [
        (FIXED_DAY, "V2", "pass"),
        (BROKEN_DAY, "V2", "fail"),
    ]
    assert results[1][3]["observed_value"] == 1  # 迎泽区's revision: 9 positives, 1 + 1 cases
    # every expectation of the suite was stored, on both days
    assert [s["checks"] for s in summaries] == [n for (n,) in per_run] and summaries[1]["failed"] == 1


def test_the_checkpoint_built_data_docs_for_the_suite(validated):
    index = data_docs_index()
    assert index.is_file()
    html = index.read_text(encoding="utf-8")
    assert "landing__district_reports" in html
    pages = sorted(
        p.name for p in (index.parent / "validations" / "landing__district_reports").rglob("*.html")
    )
    assert len(pages) == 2 and "day_6" in pages[0] + pages[1], pages


def test_parallel_runs_each_record_their_results_and_leave_a_whole_index(validated):
    """Tasks validate in parallel under LocalExecutor: one process per run, as there."""
    dsn, _, before = validated
    run_ids = [f"manual__parallel_{n}" for n in range(2)]
    with ProcessPoolExecutor(len(run_ids), mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = [pool.submit(validate_landing_slice, dsn, DISTRICT_REPORTS, BROKEN_DAY, r) for r in run_ids]
        assert all(run.result()["failed"] == 1 for run in runs)
    with psycopg.connect(dsn) as conn:
        v2 = conn.execute(
            "select run_id, status from dq.check_results where rule = 'V2' and run_id like 'manual__parallel_%'"
            " order by run_id"
        ).fetchall()
    assert v2 == [(r, "fail") for r in run_ids]
    assert data_docs_index().read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert committed_state() == before


def test_a_run_writes_nothing_that_is_committed(validated):
    _, _, before = validated
    assert committed_state() == before
