"""`dbt build` on a real Postgres: landing rows in, the marts BI reads out."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.rows import dict_row

from epifeeds.bi_access import ensure_bi_reader
from epifeeds.dbt_results import publish_run_results
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.settings import DBT_PROJECT_DIR, Settings, load_settings
from epifeeds.warehouse import DbtCommandError, run_dbt

pytestmark = pytest.mark.integration

REPORT_DATE = date(2022, 3, 5)
LOADED_AT = datetime(2022, 3, 6, 1, 15, tzinfo=UTC)
# (district_id, name as reported, report_date, positives, confirmed, asymptomatic, version)
REPORTS = [
    ("140105", "小店区", REPORT_DATE, 7, 3, 4, 1),
    ("140105", "小店区", REPORT_DATE, 9, 4, 5, 2),  # the district's revision: these figures win
    ("140106", "迎泽区", REPORT_DATE, 5, 1, 1, 1),  # 5 != 1 + 1: inconsistent positives
    ("140107", "杏花岭区", date(2022, 3, 4), 2, 2, 0, 1),
    ("140100", "太原市", REPORT_DATE, 30, 10, 20, 1),  # the city bulletin, not a district
]


def _create_warehouse(monkeypatch: pytest.MonkeyPatch) -> Settings:
    name = f"epifeeds_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(load_settings().admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    monkeypatch.setenv("EPIFEEDS_WAREHOUSE_DB", name)
    monkeypatch.delenv("EPIFEEDS_WAREHOUSE_DSN", raising=False)
    settings = load_settings()
    # The marts grant SELECT to bi_reader on every build, so the role must exist (cluster-wide, idempotent).
    ensure_bi_reader(settings.admin_dsn, settings.warehouse_dsn)
    return settings


def _drop_warehouse(settings: Settings) -> None:
    with psycopg.connect(settings.admin_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(settings.warehouse_db))
        )


def _land(settings: Settings, reports: list[tuple]) -> None:
    with psycopg.connect(settings.warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        batch_id = conn.execute(
            """
            insert into landing.batches
                (feed, reporter, report_date, source_uri, sha256, received_at, status, rows_read, rows_landed)
            values ('district_reports', 'all', %s, 'file:///archive/test.json', %s, %s, 'landed', %s, %s)
            returning batch_id
            """,
            (REPORT_DATE, uuid.uuid4().hex, LOADED_AT, len(reports), len(reports)),
        ).fetchone()[0]
        for district_id, reported_name, report_date, positives, confirmed, asymptomatic, version in reports:
            conn.execute(
                """
                insert into landing.district_reports
                    (district_id, district_name_reported, report_date, new_positives, new_confirmed,
                     new_asymptomatic, _batch_id, _loaded_at, _version, _row_hash)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                (
                    district_id,
                    reported_name,
                    report_date,
                    positives,
                    confirmed,
                    asymptomatic,
                    batch_id,
                    LOADED_AT,
                    version,
                    f"{district_id}-{report_date}-{version}",
                ),
            )


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A warehouse with REPORTS landed and `dbt build` run once, shared by the read-only tests below."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        settings = _create_warehouse(monkeypatch)
        try:
            _land(settings, REPORTS)
            artifacts = tmp_path_factory.mktemp("dbt")
            run_dbt(["build"], settings, target_path=artifacts / "target", log_path=artifacts / "logs")
            yield settings
        finally:
            _drop_warehouse(settings)


def _rows(settings: Settings, query: str) -> list[dict]:
    with psycopg.connect(settings.warehouse_dsn, row_factory=dict_row) as conn:
        return conn.execute(query).fetchall()


def test_fct_district_daily_has_the_latest_version_of_each_district_report(built_warehouse: Settings) -> None:
    rows = {
        (r["district_id"], r["report_date"]): r
        for r in _rows(built_warehouse, "select * from marts.fct_district_daily")
    }

    assert sorted(rows) == [
        ("140105", REPORT_DATE),
        ("140106", REPORT_DATE),
        ("140107", date(2022, 3, 4)),
    ], "one row per district and day, and no row for the city bulletin (140100)"
    xiaodian = rows[("140105", REPORT_DATE)]
    assert (xiaodian["new_positives"], xiaodian["new_confirmed"], xiaodian["new_asymptomatic"]) == (9, 4, 5)
    assert (xiaodian["report_version"], xiaodian["is_revised"]) == (2, True)
    assert (xiaodian["district_name"], xiaodian["district_name_en"]) == ("小店区", "Xiaodian")


def test_fct_district_daily_flags_positives_that_do_not_add_up(built_warehouse: Settings) -> None:
    flags = {
        r["district_id"]: r["is_positives_consistent"]
        for r in _rows(
            built_warehouse, "select district_id, is_positives_consistent from marts.fct_district_daily"
        )
    }

    assert flags == {"140105": True, "140106": False, "140107": True}


def test_seeds_and_dim_district_land_in_their_own_schemas_with_text_codes(built_warehouse: Settings) -> None:
    districts = _rows(
        built_warehouse,
        "select * from marts.dim_district where '140100' in (district_id, parent_district_id) order by district_id",
    )
    code_types = _rows(
        built_warehouse,
        """
        select table_schema, table_name, data_type from information_schema.columns
        where column_name = 'district_id' and table_schema in ('seeds', 'staging', 'marts')
        order by table_schema, table_name
        """,
    )

    assert len(districts) == 11, "Taiyuan and its ten districts (other cities may be on the roster too)"
    assert [d["district_id"] for d in districts if d["level"] == "district"][:2] == ["140105", "140106"]
    assert districts[0] == {
        "district_id": "140100",
        "name": "太原市",
        "name_en": "Taiyuan",
        "level": "city",
        "parent_district_id": None,
    }
    assert {(t["table_schema"], t["table_name"]) for t in code_types} == {
        ("seeds", "district_aliases"),
        ("seeds", "districts"),
        ("staging", "stg_districts__daily_reports"),
        ("staging", "stg_districts__report_submissions"),
        ("staging", "stg_testing_sites__daily_reports"),
        ("staging", "stg_testing_sites__sites"),
        ("staging", "stg_isolation_hotels__daily_reports"),
        ("staging", "stg_isolation_hotels__hotels"),
        ("marts", "dim_district"),
        ("marts", "dim_street"),
        ("marts", "dim_testing_site"),
        ("marts", "dim_isolation_hotel"),
        ("marts", "fct_district_daily"),
        ("marts", "fct_testing_site_daily"),
        ("marts", "fct_hotel_occupancy_daily"),
        ("marts", "mart_district_daily_summary"),
        ("marts", "mart_testing_throughput"),
        ("marts", "mart_isolation_capacity"),
    }
    assert {t["data_type"] for t in code_types} == {"text"}


def test_every_column_built_is_documented_in_the_models_yml(built_warehouse: Settings) -> None:
    documented = {}
    for yml in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for model in yaml.safe_load(yml.read_text(encoding="utf-8")).get("models", []):
            documented[model["name"]] = [c["name"] for c in model.get("columns", [])]
    built: dict[str, list[str]] = {}
    for column in _rows(
        built_warehouse,
        """
        select table_name, column_name from information_schema.columns
        where table_schema in ('staging', 'intermediate', 'marts') order by table_name, ordinal_position
        """,
    ):
        built.setdefault(column["table_name"], []).append(column["column_name"])

    assert built == documented


def test_dbt_build_fails_naming_the_test_when_a_district_reports_a_negative_count(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _create_warehouse(monkeypatch)
    try:
        _land(settings, [("140108", "尖草坪区", REPORT_DATE, -1, 0, 0, 1)])

        with pytest.raises(DbtCommandError) as failure:
            run_dbt(["build"], settings, target_path=tmp_path / "target", log_path=tmp_path / "logs")

        assert "non_negative_stg_districts__daily_reports_new_positives" in str(failure.value)
        assert "fct_district_daily" not in _relations(settings), "a failing test must stop the marts"
        _failing_build_is_published_node_by_node(settings, tmp_path / "target", caplog)
    finally:
        _drop_warehouse(settings)


def _failing_build_is_published_node_by_node(
    settings: Settings, target: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What build_warehouse's one `dbt build` task publishes after dbt: the log, XCom data, dq.check_results."""
    task_log = logging.getLogger("airflow.task")
    task_log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="airflow.task"):
            summary = publish_run_results(target, settings.warehouse_dsn)
    finally:
        task_log.removeHandler(caplog.handler)
    failing_test = "non_negative_stg_districts__daily_reports_new_positives"
    logged = caplog.text
    lines = {}  # node -> status, from the table: status, seconds, rows, failures, node[, -- message]
    for line in logged.splitlines():
        words = line.split()
        nodes = [w for w in words if w.startswith(("model.", "test.", "seed.", "snapshot.", "unit_test."))]
        if nodes and words[0] in ("success", "pass", "fail", "error", "skipped", "warn"):
            lines[nodes[0]] = words[0]
    assert lines["model.epifeeds.stg_districts__daily_reports"] == "success"
    assert lines["model.epifeeds.fct_district_daily"] == "skipped", "every node is listed, the skipped too"
    assert any(
        node.startswith(f"test.epifeeds.{failing_test}.") and status == "fail"
        for node, status in lines.items()
    )
    assert logged.index(failing_test) < logged.index("model.epifeeds.stg_districts__daily_reports"), (
        "problems first"
    )
    assert '{"negative_value": -1}' in logged, "the row the test returned is in the log"

    nodes = {node["unique_id"]: node for node in summary["nodes"]}
    assert nodes["model.epifeeds.fct_district_daily"]["status"] == "skipped"
    assert summary["failing_rows"] == {failing_test: [{"negative_value": -1}]}
    [stored] = _rows(
        settings,
        f"select status, observed from dq.check_results where check_name = '{failing_test}'",
    )
    assert stored["status"] == "fail"
    assert stored["observed"]["failures"] == 1
    assert stored["observed"]["failing_rows"] == [{"negative_value": -1}]


def _relations(settings: Settings) -> set[str]:
    rows = _rows(settings, "select table_name from information_schema.tables where table_schema = 'marts'")
    return {r["table_name"] for r in rows}


def test_every_dbt_test_outcome_joins_the_check_history(built_warehouse: Settings) -> None:
    stored = _rows(
        built_warehouse,
        "select check_name, rule, feed, status, severity, run_id from dq.check_results where rule = 'dbt'",
    )
    names = {row["check_name"] for row in stored}
    assert any(name.startswith("unique_combination_of_columns_fct_district_daily") for name in names)
    assert any(name.startswith("relationships_fct_district_daily") for name in names)
    assert {row["feed"] for row in stored} >= {"fct_district_daily", "dim_district"}
    assert {row["status"] for row in stored} == {"pass"} and len({row["run_id"] for row in stored}) == 1
