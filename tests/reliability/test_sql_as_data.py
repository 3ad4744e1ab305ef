"""SQL in a feed is data (issue #13: held, now with its test). Fragments of SQL planted by hand in the
places an agency controls, a site's name and id in a district's CSV, a reporter folder's name and a
registry entry's name, are landed, rejected or quarantined as text, quoted verbatim where the platform
shows them, and no table of the warehouse is touched: every value reaches Postgres as a parameter or
through COPY, never inside a statement.
"""

from __future__ import annotations

import json
import os
import shutil

import psycopg
import pytest

from epifeeds import tasks
from epifeeds.orchestration import run_time_for
from epifeeds.schedules import INGEST_TESTING_SITES_CRON, cron_local_time
from tests.reliability.conftest import DATES

pytestmark = pytest.mark.integration

NAME = "亲贤'); drop table landing.batches; --"
SITE_ID = "TS1'; delete from landing.testing_sites; --"
FOLDER = "140105' or '1'='1"
REGISTERED_NAME = "$$; drop schema landing cascade; $$"
RUN_AT = run_time_for(DATES[-1], cron_local_time(INGEST_TESTING_SITES_CRON))
TABLES = (
    "landing.batches", "landing.rejects", "landing.testing_sites", "landing.testing_site_reports",
    "dq.findings", "dq.check_runs", "dq.alerts",
)  # fmt: skip


def plant_in_csv(path, replacements: dict[bytes, bytes]) -> None:
    """Replace text in a GBK CSV, keeping its arrival time."""
    stat, payload = path.stat(), path.read_bytes()
    for old, new in replacements.items():
        assert old in payload
        payload = payload.replace(old, new, 1)
    path.write_bytes(payload)
    os.utime(path, (stat.st_atime, stat.st_mtime))


def test_sql_fragments_in_a_feed_are_stored_as_text(warehouse_dsn, tmp_path, sim_copy, monkeypatch):
    drop = sim_copy / "file_drop"
    monkeypatch.setenv("AIRFLOW_CONN_EPIFEEDS_WAREHOUSE", warehouse_dsn)
    monkeypatch.setenv("EPIFEEDS_ARCHIVE_URL", str(tmp_path / "archive"))
    monkeypatch.setenv("EPIFEEDS_FILE_DROP_URL", str(drop))
    monkeypatch.setenv("EPIFEEDS_REGISTRY_URL", str(sim_copy / "registries"))
    # 小店区's file of 03-01: the first site's name, and the second site's id.
    plant_in_csv(
        drop / "testing_sites" / "140105" / "2022-03-01.csv",
        {
            "亲贤社区1号核酸采样点".encode("gbk"): NAME.encode("gbk"),
            b"TS1401050002,": SITE_ID.encode() + b",",
        },
    )
    # 小店区's file of 03-02 moved under a folder whose name is a fragment of SQL.
    (drop / "testing_sites" / FOLDER).mkdir()
    shutil.move(drop / "testing_sites" / "140105" / "2022-03-02.csv", drop / "testing_sites" / FOLDER)
    registry = sim_copy / "registries" / "testing_sites.json"
    document = json.loads(registry.read_text())
    document["items"][2]["site_name"] = REGISTERED_NAME
    registered_id = document["items"][2]["site_id"]
    registry.write_text(json.dumps(document, ensure_ascii=False))

    tasks.ingest_registries_for_run(RUN_AT)
    landed = tasks.ingest_testing_sites_for_run(RUN_AT)
    tasks.validate_changed_slices(
        landed["deliveries"], "scheduled__sql", RUN_AT, feeds=("testing_site_reports",)
    )

    with psycopg.connect(warehouse_dsn) as conn:
        assert all(conn.execute("select to_regclass(%s)", (t,)).fetchone()[0] for t in TABLES)
        named = conn.execute(
            "select site_name_reported from landing.testing_site_reports"
            " where site_id = 'TS1401050001' and report_date = '2022-03-01'"
        ).fetchone()
        rejects = conn.execute(
            "select raw_values ->> '采样点编号', reason from landing.rejects r join landing.batches b using"
            " (batch_id) where b.reporter = '140105' and b.report_date = '2022-03-01'"
        ).fetchall()
        registered = conn.execute(
            "select site_name from landing.testing_sites where site_id = %s", (registered_id,)
        ).fetchone()
        folder = conn.execute(
            "select status, message from landing.batches where reporter = %s", (FOLDER,)
        ).fetchall()
        folder_findings = conn.execute(
            "select rule, summary from dq.findings where reporter = %s", (FOLDER,)
        ).fetchall()
        alerts = conn.execute("select reporter, title from dq.alerts order by alert_id").fetchall()
        counts = [conn.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES[:4]]
    assert named == (NAME,)
    # The reason names the id as the platform reads ids (trimmed, upper-case); the raw values keep it whole.
    assert rejects == [
        (
            SITE_ID,
            "unknown site TS1';DELETEFROMLANDING.TESTING_SITES;--: not in the testing_sites registry; if the"
            " site is new, the registry must list it first (then replay this file), otherwise ask 小店区"
            " (140105) to correct the id",
        )
    ]
    assert registered == (REGISTERED_NAME,)
    # The folder is no district: the file is refused whole, one finding naming the folder as it is spelled.
    assert [status for status, _ in folder] == ["quarantined"]
    assert f"the file's folder {FOLDER!r} is not a district" in folder[0][1]
    assert [rule for rule, _ in folder_findings] == ["C3"]
    assert f"the file's folder {FOLDER!r} is not a district" in folder_findings[0][1]
    # The ingest alerts its quarantine at once, titled by what happened to the file (the other findings are
    # grouped into alerts by the hourly watchdog).
    assert alerts == [(FOLDER, f"[ERROR] {FOLDER}: testing_site_reports for 2022-03-02 is quarantined")]
    assert all(count > 0 for count in counts)
