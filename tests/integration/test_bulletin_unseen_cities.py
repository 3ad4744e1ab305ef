"""Bulletins of two cities nobody onboarded (成都, 石家庄), written here in the wide layout with planted
defects, imported into a real Postgres through the path the CLI and the DAG take (import → checks →
alerts). The expected findings are written by hand below, from the planted defects alone: exact recall
and no false positive per rule.

成都市 (510100), GBK, 2022-06-01..06-10 with 06-05 missing, 06-08 delivered twice, short forms and full
names mixed (锦江, 青羊区, ...), a 高新区 column group (a development zone, no district), 累计本土确诊 all zeros
while 本土确诊病例 moves (not published), 累计治愈出院 2857 → 2600 on 06-07.
石家庄市 (130100), UTF-8 with BOM, onboarded beforehand with a calendar to 01-12 but published to 01-10,
district names city-prefixed (石家庄市长安区) or short (桥西), 累计死亡 7 → 0 on 01-06, a blank 累计解除医学观察,
出院 5 on 01-08 while 累计出院 grows by 6.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
from datetime import date, timedelta

import psycopg
import pytest

from epifeeds import bulletin_import
from epifeeds.feeds import names
from epifeeds.feeds.roster import list_onboarded, onboard_city

pytestmark = pytest.mark.integration

CHENGDU = [
    "锦江", "青羊区", "金牛区", "武侯", "成华区", "龙泉驿区", "青白江", "新都区", "温江区", "双流",
    "郫都区", "新津区", "金堂县", "大邑", "蒲江县", "都江堰市", "彭州", "邛崃市", "崇州市", "简阳市",
]  # fmt: skip
SHIJIAZHUANG = [
    "石家庄市长安区", "桥西", "新华区", "井陉矿区", "裕华区", "藁城", "鹿泉区", "栾城区", "井陉县", "正定",
    "行唐县", "灵寿县", "高邑县", "深泽县", "赞皇县", "无极县", "平山县", "元氏县", "赵县", "辛集市",
    "晋州市", "新乐",
]  # fmt: skip


@pytest.fixture
def seeds(tmp_path, monkeypatch):
    """A copy of the roster seeds the test may onboard into (the checkout's seeds are never written)."""
    copy = tmp_path / "seeds"
    shutil.copytree(names.SEEDS_DIR, copy)
    monkeypatch.setattr(names, "SEEDS_DIR", copy)
    names.reload_district_roster()
    yield copy
    names.reload_district_roster()


def _csv(header: list[str], rows: list[list[object]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue()


def chengdu_bulletin(corrected: bool = False) -> bytes:
    """The planted file; `corrected`: without the 高新区 group and the repeated date, with 06-05."""
    header = [
        "日期",
        "本土确诊病例",
        "本土无症状感染者",
        "本土阳性感染者",
        "治愈出院",
        "累计治愈出院",
        "累计本土确诊",
    ]
    groups = CHENGDU if corrected else (*CHENGDU, "高新区")
    header += [f"{d}_{m}" for d in groups for m in ("阳性", "确诊", "无症状")]
    rows, recovered = [], 2822
    for n, day in enumerate(date(2022, 6, 1) + timedelta(days=i) for i in range(10)):
        if day == date(2022, 6, 5) and not corrected:
            continue  # the missing day
        per_district = [
            ((n + k) % 3, (n + 2 * k) % 2) for k in range(len(CHENGDU))
        ]  # (confirmed, asymptomatic)
        confirmed = sum(c for c, _ in per_district)
        asymptomatic = sum(a for _, a in per_district)
        discharged = 7
        recovered = 2600 if day == date(2022, 6, 7) else recovered + discharged
        row = [day.isoformat(), confirmed, asymptomatic, confirmed + asymptomatic, discharged, recovered, 0]
        for c, a in per_district:
            row += [c + a, c, a]
        if not corrected:
            row += [2, 1, 1]  # 高新区: its figures are not in the city's totals
        rows.append(row)
        if day == date(2022, 6, 8) and not corrected:
            rows.append(list(row))  # delivered twice
    return _csv(header, rows).encode("gbk")


def shijiazhuang_bulletin() -> bytes:
    header = [
        "日期",
        "确诊病例",
        "无症状感染者",
        "阳性感染者",
        "死亡",
        "累计死亡",
        "出院",
        "累计出院",
        "解除医学观察",
    ]
    header += ["累计解除医学观察"] + [f"{d}_{m}" for d in SHIJIAZHUANG for m in ("确诊", "无症状", "阳性")]
    rows, discharged_total = [], 100
    for n, day in enumerate(date(2022, 1, 3) + timedelta(days=i) for i in range(8)):
        per_district = [((n * k) % 4, k % 2) for k in range(len(SHIJIAZHUANG))]
        confirmed = sum(c for c, _ in per_district)
        asymptomatic = sum(a for _, a in per_district)
        deaths_total = 7 if day < date(2022, 1, 6) else 0
        discharged = 5
        discharged_total += 6 if day == date(2022, 1, 8) else discharged
        row = [day.isoformat(), confirmed, asymptomatic, confirmed + asymptomatic, 0, deaths_total]
        row += [discharged, discharged_total, 3, ""]
        for c, a in per_district:
            row += [c, a, c + a]
        rows.append(row)
    return b"\xef\xbb\xbf" + _csv(header, rows).encode("utf-8")


def findings(dsn: str) -> dict[str, set[tuple[str, str, str]]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select rule, reporter, report_date::text, finding_key from dq.findings where status = 'open'"
        ).fetchall()
    by_rule: dict[str, set] = {}
    for rule, reporter, day, key in rows:
        detail = key.split(":")[1] if rule == "N1" else day
        by_rule.setdefault(rule, set()).add((reporter, day, detail) if rule == "N1" else (reporter, day, ""))
    return by_rule


def test_two_unseen_cities_import_without_hand_edits_and_each_defect_is_one_finding(
    warehouse_dsn, tmp_path, seeds
):
    chengdu, shijiazhuang = tmp_path / "chengdu-gbk.csv", tmp_path / "shijiazhuang-bom.csv"
    chengdu.write_bytes(chengdu_bulletin())
    shijiazhuang.write_bytes(shijiazhuang_bulletin())
    onboard_city("石家庄", active_from=date(2022, 1, 3), active_to=date(2022, 1, 12))
    archive = str(tmp_path / "archive")

    first = bulletin_import.import_check_and_alert(warehouse_dsn, archive, chengdu, "test-chengdu")
    second = bulletin_import.import_check_and_alert(warehouse_dsn, archive, shijiazhuang, "test-sjz")

    assert first["imported"].onboarded and not second["imported"].onboarded  # 石家庄 was onboarded already
    assert first["imported"].bulletin.layout.city.district_id == "510100"
    assert len(first["imported"].bulletin.layout.district_ids) == 20
    assert set(first["imported"].bulletin.layout.unmatched_reporters) == {"高新区"}
    assert len(second["imported"].bulletin.layout.district_ids) == 22
    assert {e.city_id for e in list_onboarded()} == {"140100", "110000", "510100", "130100"}

    expected = {
        "C1": {
            ("510100", "2022-06-05", ""),  # missing inside the series
            ("130100", "2022-01-11", ""),  # the series stops before its calendar's last date
            ("130100", "2022-01-12", ""),
        },
        "N1": {
            ("510100", "2022-06-01", "not_published(cumulative_local_confirmed)"),  # all zeros
            ("130100", "2022-01-03", "not_published(cumulative_released_from_observation)"),  # blank
        },
        "I2": {("510100", "2022-06-07", ""), ("130100", "2022-01-06", "")},  # 2857 → 2600, 7 → 0
        "I5": {("130100", "2022-01-08", "")},  # 出院 5, 累计出院 +6
        "V1": {("高新区", "2022-06-01", "")},  # one finding for ten days of an unknown column group
        "I1": {("510100", "2022-06-08", "")},  # one finding for the day delivered twice
    }
    assert findings(warehouse_dsn) == expected

    with psycopg.connect(warehouse_dsn) as conn:
        severities = dict(conn.execute("select rule, max(severity) from dq.findings group by 1").fetchall())
        v1_summary = conn.execute("select summary from dq.findings where rule = 'V1'").fetchone()[0]
        alerted = conn.execute(
            "select f.rule, count(distinct a.alert_id) from dq.alert_findings as l"
            " join dq.findings as f using (finding_id) join dq.alerts as a using (alert_id) group by 1"
        ).fetchall()
        recovered = conn.execute(
            "select report_date::text, value from landing.bulletin_measures__current"
            " where reporter_id = '510100' and measure = 'cumulative_recovered' order by 1"
        ).fetchall()
        jinjiang = conn.execute(
            "select count(*) from landing.district_reports where district_id = '510104'"
        ).fetchone()[0]
    assert severities["N1"] == "info"
    assert "10 dates" not in v1_summary and "9 dates 2022-06-01..2022-06-10" in v1_summary
    assert dict(alerted).get("V1") == 1 and dict(alerted).get("I1") == 1 and "N1" not in dict(alerted)
    assert ("2022-06-06", 2857) in recovered and ("2022-06-07", 2600) in recovered
    assert jinjiang == 9  # 锦江 resolved within 成都 to 锦江区 (510104) on each of the 9 dates


def test_importing_the_unseen_city_again_changes_no_finding(warehouse_dsn, tmp_path, seeds):
    chengdu = tmp_path / "chengdu.csv"
    chengdu.write_bytes(chengdu_bulletin())
    bulletin_import.import_check_and_alert(warehouse_dsn, str(tmp_path), chengdu, "first")
    before = findings(warehouse_dsn)

    again = bulletin_import.import_check_and_alert(warehouse_dsn, str(tmp_path), chengdu, "again")

    assert not again["imported"].onboarded
    assert all(o.is_repeat for o in again["imported"].outcomes)
    assert findings(warehouse_dsn) == before


def test_the_drop_folder_takes_each_bulletin_once_and_reports_an_unreadable_one(
    warehouse_dsn, tmp_path, seeds
):
    drop = tmp_path / "drop" / bulletin_import.DROP_FOLDER
    drop.mkdir(parents=True)
    (drop / "chengdu.csv").write_bytes(chengdu_bulletin())
    (drop / "notes.csv").write_text("日期,备注\n合计,见附件\n", encoding="utf-8")

    first = bulletin_import.ingest_bulletin_drop(
        warehouse_dsn, str(tmp_path / "a"), str(tmp_path / "drop"), "r1"
    )
    again = bulletin_import.ingest_bulletin_drop(
        warehouse_dsn, str(tmp_path / "a"), str(tmp_path / "drop"), "r2"
    )

    by_file = {d["file"]: d for d in first}
    assert (
        by_file["notes.csv"]["status"] == "unreadable"
        and "cannot tell which city" in by_file["notes.csv"]["reason"]
    )
    assert by_file["chengdu.csv"]["city"] == "510100" and by_file["chengdu.csv"]["report_dates"] == 9
    assert by_file["chengdu.csv"]["new_versions"] > 0
    assert {d["file"]: d.get("new_versions") for d in again}["chengdu.csv"] == 0
    with psycopg.connect(warehouse_dsn) as conn:
        uris = conn.execute("select distinct source_uri from landing.batches").fetchall()
    assert uris == [((drop / "chengdu.csv").as_uri(),)]


def test_the_command_says_what_it_onboarded_and_rejects_each_root_cause_once(
    warehouse_dsn, tmp_path, seeds, monkeypatch, capsys
):
    monkeypatch.setenv("EPIFEEDS_WAREHOUSE_DSN", warehouse_dsn)
    monkeypatch.setenv("EPIFEEDS_ARCHIVE_URL", str(tmp_path / "archive"))
    chengdu = tmp_path / "chengdu.csv"
    chengdu.write_bytes(chengdu_bulletin())
    parser = argparse.ArgumentParser(prog="epifeeds")
    bulletin_import.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["import-bulletin", str(chengdu)])

    assert args.func(args) == 0
    out = capsys.readouterr().out

    assert "9 report dates 2022-06-01..2022-06-10, city 成都市 (510100), 20 districts, gb18030" in out
    assert "onboarded 成都市 from the national roster (calendar 2022-06-01..2022-06-10)" in out
    assert "rejected 2022-06-08 ×21: the date is in the file twice" in out
    assert "rejected 2022-06-01..2022-06-10 ×10 (9 dates): unknown district '高新区'" in out
    assert "unmatched column group 高新区: unknown district '高新区': no district of 成都市 (510100)" in out
    assert "failures by rule: {'C1': 1, 'I1': 1, 'I2': 1, 'N1': 1, 'V1': 1}" in out


def test_a_corrected_file_resolves_what_it_fixed(warehouse_dsn, tmp_path, seeds):
    planted, corrected = tmp_path / "chengdu.csv", tmp_path / "chengdu-corrected.csv"
    planted.write_bytes(chengdu_bulletin())
    corrected.write_bytes(chengdu_bulletin(corrected=True))
    bulletin_import.import_check_and_alert(warehouse_dsn, str(tmp_path), planted, "first")

    bulletin_import.import_check_and_alert(warehouse_dsn, str(tmp_path), corrected, "corrected")

    with psycopg.connect(warehouse_dsn) as conn:
        status = dict(conn.execute("select rule, status from dq.findings").fetchall())
    # 06-05 delivered, 高新区 gone, 06-08 once: resolved; the decrease and the unpublished cumulative stay.
    assert status == {"C1": "resolved", "V1": "resolved", "I1": "resolved", "I2": "open", "N1": "open"}
