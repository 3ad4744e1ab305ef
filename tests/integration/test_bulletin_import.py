"""Importing the real Beijing bulletin into a real Postgres: one batch per date, counts balance, idempotent."""

from __future__ import annotations

import argparse
import csv
from datetime import UTC, date, datetime

import psycopg
import pytest

from epifeeds import bulletin_import as bulletin
from epifeeds.feeds.bulletin import import_bulletin
from epifeeds.feeds.names import load_district_roster
from epifeeds.landing.archive import sha256_of
from epifeeds.quality.completeness import check_district_completeness
from tests.conftest import BEIJING_CSV

pytestmark = pytest.mark.integration


def report_dates_in_file() -> list[date]:
    with BEIJING_CSV.open(encoding="utf-8-sig", newline="") as handle:
        return sorted(date.fromisoformat(row["日期"]) for row in csv.DictReader(handle))


def snapshot(conn: psycopg.Connection) -> dict:
    return {
        table: conn.execute(f"select * from {table} order by 1, 2, 3").fetchall()
        for table in ("landing.batches", "landing.district_reports", "landing.rejects")
    }


def test_every_report_date_is_a_batch_and_every_row_is_accounted_for(warehouse_dsn, tmp_path):
    archive = tmp_path / "archive"

    outcomes = import_bulletin(warehouse_dsn, str(archive), BEIJING_CSV).outcomes

    dates = report_dates_in_file()
    assert len(outcomes) == len(dates) == 33
    assert all(o.status == "landed" and not o.is_repeat for o in outcomes)
    assert all(
        o.rows_read == o.rows_landed + o.rows_rejected == 17 for o in outcomes
    )  # 北京市 + 16 districts
    with psycopg.connect(warehouse_dsn) as conn:
        batches = conn.execute(
            "select report_date, reporter, sha256, source_uri, received_at, rows_read, rows_landed,"
            " rows_rejected, message from landing.batches where feed = 'district_reports' order by report_date"
        ).fetchall()
        landed = conn.execute(
            "select count(*), count(distinct district_id) from landing.district_reports"
        ).fetchone()
        chaoyang = conn.execute(
            "select new_positives, new_confirmed, new_asymptomatic, district_name_reported, _version"
            " from landing.district_reports where district_id = '110105' and report_date = '2022-04-26'"
        ).fetchone()
        rejected = conn.execute("select count(*) from landing.rejects").fetchone()[0]

    assert [b[0] for b in batches] == dates
    assert {b[1] for b in batches} == {"*"}
    assert {b[2] for b in batches} == {sha256_of(BEIJING_CSV.read_bytes())}  # one file, archived once
    archived = sorted(p.parent.parent.name for p in archive.rglob("*") if p.is_file())
    assert archived == ["bulletin_measures", "district_reports"]  # once per feed it lands in
    assert {b[3] for b in batches} == {BEIJING_CSV.resolve().as_uri()}
    assert batches[0][4] == datetime(2022, 4, 10, 2, 0, tzinfo=UTC)  # 2022-04-10 10:00 Asia/Shanghai
    assert sum(b[5] for b in batches) == sum(b[6] for b in batches) + sum(b[7] for b in batches) == 33 * 17
    assert landed == (33 * 17, 17) and rejected == 0
    assert chaoyang == (2, 15, 2, "朝阳区", 1)
    april_26 = next(b[8] for b in batches if b[0] == date(2022, 4, 26))
    assert "published at http://wjw.beijing.gov.cn/" in april_26 and "t20220427_2693371" in april_26
    assert "ignored columns" in april_26 and "境外输入阳性感染者" in april_26
    assert "{区}_确诊_来自无症状感染者 ×16" in april_26


def test_importing_the_same_file_again_changes_nothing(warehouse_dsn, tmp_path):
    import_bulletin(warehouse_dsn, str(tmp_path), BEIJING_CSV)
    with psycopg.connect(warehouse_dsn) as conn:
        before = snapshot(conn)

    again = import_bulletin(warehouse_dsn, str(tmp_path), BEIJING_CSV).outcomes

    with psycopg.connect(warehouse_dsn) as conn:
        assert snapshot(conn) == before
    assert all(o.is_repeat and o.rows_new_versions == 0 for o in again)


def test_a_corrected_bulletin_lands_only_the_changed_figure_as_a_new_version(warehouse_dsn, tmp_path):
    import_bulletin(warehouse_dsn, str(tmp_path / "archive"), BEIJING_CSV)
    with BEIJING_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    column = rows[0].index("朝阳区_阳性")
    line = next(i for i, row in enumerate(rows) if row[0] == "2022-04-26")
    rows[line][column] = "17"
    corrected = tmp_path / "beijing-corrected.csv"
    with corrected.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)

    outcomes = import_bulletin(warehouse_dsn, str(tmp_path / "archive"), corrected).outcomes

    assert sum(o.rows_new_versions for o in outcomes) == 1
    with psycopg.connect(warehouse_dsn) as conn:
        versions = conn.execute(
            "select _version, new_positives from landing.district_reports"
            " where district_id = '110105' and report_date = '2022-04-26' order by _version"
        ).fetchall()
    assert versions == [(1, 2), (2, 17)]


def test_a_bulletin_imported_years_later_is_on_time_by_its_publication_time(warehouse_dsn, tmp_path):
    import_bulletin(warehouse_dsn, str(tmp_path), BEIJING_CSV)
    as_of = datetime(2022, 5, 14, 4, 0, tzinfo=UTC)  # 12:00 Asia/Shanghai, three days after the last bulletin

    with psycopg.connect(warehouse_dsn) as conn:
        results = check_district_completeness(conn, load_district_roster(), as_of, "test")

    beijing = [r for r in results if r.reporter.startswith("11")]
    assert {r.report_date for r in beijing} == {date(2022, 5, 10), date(2022, 5, 11)}  # series ends 05-11
    assert len(beijing) == 2 * 17
    assert {(r.status, r.severity) for r in beijing} == {("pass", "info")}


def test_the_command_prints_where_each_dates_rows_went(warehouse_dsn, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EPIFEEDS_WAREHOUSE_DSN", warehouse_dsn)
    monkeypatch.setenv("EPIFEEDS_ARCHIVE_URL", str(tmp_path))
    parser = argparse.ArgumentParser(prog="epifeeds")
    bulletin.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["import-bulletin", str(BEIJING_CSV), "--city", "北京市"])

    assert args.func(args) == 0
    first = capsys.readouterr().out
    assert args.func(args) == 0
    second = capsys.readouterr().out

    assert "33 report dates 2022-04-09..2022-05-11, city 北京市 (110000), 16 districts" in first
    assert "2022-04-26" in first and "landed" in first
    assert "rows: 561 read = 561 landed (561 new versions) in landing.district_reports + 0 rejected" in first
    assert "ignored columns" in first
    assert "landed (again)" in second and "(0 new versions)" in second


def test_an_unreadable_file_is_refused_by_the_command_without_landing_anything(
    warehouse_dsn, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("EPIFEEDS_WAREHOUSE_DSN", warehouse_dsn)
    monkeypatch.setenv("EPIFEEDS_ARCHIVE_URL", str(tmp_path / "archive"))
    bad = tmp_path / "bad.csv"
    bad.write_text("日期,朝阳区_阳性,朝阳区_确诊,朝阳区_无症状\n合计,1,1,0\n", encoding="utf-8")
    parser = argparse.ArgumentParser(prog="epifeeds")
    bulletin.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["import-bulletin", str(bad)])

    assert args.func(args) == 2
    assert "line 2: 日期 '合计' is not a date" in capsys.readouterr().out
    with psycopg.connect(warehouse_dsn) as conn:
        has_ledger = conn.execute("select to_regclass('landing.batches') is not null").fetchone()[0]
    assert not has_ledger  # nothing ledgered; the bytes are archived for the record
    assert len([p for p in (tmp_path / "archive").rglob("*") if p.is_file()]) == 1


def test_the_beijing_bulletin_keeps_its_findings_and_its_unpublished_cumulatives_are_one_n1_each(
    warehouse_dsn, tmp_path
):
    """Before bulletins carried N1, Beijing's four all-zero cumulatives gave 28 daily I5 errors; the
    real V2 (确诊 counts 无症状 converted to confirmed) and R1 findings stay as they were."""
    summary = bulletin.import_check_and_alert(warehouse_dsn, str(tmp_path), BEIJING_CSV, "test-beijing")

    with psycopg.connect(warehouse_dsn) as conn:
        by_rule = dict(
            conn.execute("select rule, count(*) from dq.findings where status = 'open' group by 1").fetchall()
        )
        n1 = conn.execute("select distinct severity from dq.findings where rule = 'N1'").fetchall()
        figures = conn.execute(
            "select count(*), count(distinct measure) from landing.bulletin_measures__current"
        ).fetchone()
    assert by_rule == {"N1": 4, "R1": 44, "V2": 45}
    assert n1 == [("info",)]
    assert figures == (33 * 203, 45)  # every one of the 203 measure columns on every date
    assert not summary["imported"].onboarded


def test_a_date_the_database_refuses_is_quarantined_alone_and_the_next_import_lands_it(
    warehouse_dsn, tmp_path
):
    """Bulletins land through the same driver as every feed: one delivery's load error quarantines it
    (a C3 finding), the other 65 deliveries land, the import fails naming it; importing again lands it."""
    from epifeeds.landing.ingest_run import DeliveriesFailed
    from epifeeds.landing.schema import ensure_landing_schema

    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:  # the database refuses one date's reports
        ensure_landing_schema(conn)
        conn.execute(
            """
            create function refuse_0420() returns trigger language plpgsql as $$
            begin
                if new.report_date = '2022-04-20' then raise exception 'planted fault for 2022-04-20'; end if;
                return new;
            end $$;
            create trigger refuse_0420 before insert on landing.district_reports
                for each row execute function refuse_0420();
            """
        )
    with pytest.raises(DeliveriesFailed) as failed:
        import_bulletin(warehouse_dsn, str(tmp_path), BEIJING_CSV)
    assert str(failed.value).startswith("1 of 66 deliveries failed")
    assert "2022-04-20" in str(failed.value) and "planted fault" in str(failed.value)
    key = "C3:quarantined:district_reports:*:2022-04-20"
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        statuses = conn.execute(
            "select feed, status, count(*) from landing.batches group by 1, 2 order by 1, 2"
        ).fetchall()
        finding = conn.execute("select status from dq.findings where finding_key = %s", (key,)).fetchone()
        conn.execute("drop trigger refuse_0420 on landing.district_reports")
    assert statuses == [
        ("bulletin_measures", "landed", 33),
        ("district_reports", "landed", 32),
        ("district_reports", "quarantined", 1),
    ]
    assert finding == ("open",)

    again = import_bulletin(warehouse_dsn, str(tmp_path), BEIJING_CSV)

    assert [o.is_repeat for o in again.outcomes].count(False) == 1
    with psycopg.connect(warehouse_dsn) as conn:
        landed = conn.execute(
            "select count(*) from landing.district_reports where report_date = '2022-04-20'"
        ).fetchone()[0]
        finding = conn.execute("select status from dq.findings where finding_key = %s", (key,)).fetchone()
        quarantined = conn.execute(
            "select count(*) from landing.batches where status <> 'landed'"
        ).fetchone()[0]
    assert (landed, finding, quarantined) == (17, ("resolved",), 0)
