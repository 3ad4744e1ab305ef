"""Reading a published wide bulletin (Beijing's, real) into district-report records: layout, encodings."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import UTC, date, datetime

import pytest

from epifeeds import bulletin_import
from epifeeds.feeds.bulletin import UnreadableBulletin, decode_bulletin, publication_time, read_wide_bulletin
from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import parse_district_records
from tests.conftest import BEIJING_CSV

pytestmark = pytest.mark.unit

ROSTER = load_district_roster()
APRIL_26 = date(2022, 4, 26)
BEIJING_DISTRICTS = {
    "东城区": "110101", "西城区": "110102", "朝阳区": "110105", "丰台区": "110106", "石景山区": "110107",
    "海淀区": "110108", "门头沟区": "110109", "房山区": "110111", "通州区": "110112", "顺义区": "110113",
    "昌平区": "110114", "大兴区": "110115", "怀柔区": "110116", "平谷区": "110117", "密云区": "110118",
    "延庆区": "110119",
}  # fmt: skip


@pytest.fixture(scope="module")
def payload() -> bytes:
    return BEIJING_CSV.read_bytes()


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def parsed(wide, day: date):
    return parse_district_records(
        DISTRICT_REPORTS,
        wide.records_for(day),
        report_date=day,
        received_at=publication_time(day),
        roster=ROSTER,
    )


def test_the_real_bulletin_is_one_delivery_per_report_date_for_beijing_and_its_16_districts(payload):
    wide = read_wide_bulletin(payload, ROSTER)

    assert wide.layout.city.district_id == "110000"  # inferred from the district columns
    assert len(wide.report_dates) == 33
    assert (wide.report_dates[0], wide.report_dates[-1]) == (date(2022, 4, 9), date(2022, 5, 11))
    assert {ROSTER.resolve(name) for name in wide.layout.district_columns} == set(BEIJING_DISTRICTS.values())
    result = parsed(wide, APRIL_26)
    assert (len(result.rows), result.rejects) == (17, [])
    by_id = {row["district_id"]: row for row in result.rows}
    assert {k: by_id["110105"][k] for k in ("new_positives", "new_confirmed", "new_asymptomatic")} == {
        "new_positives": 2,
        "new_confirmed": 15,
        "new_asymptomatic": 2,
    }
    assert by_id["110105"]["district_name_reported"] == "朝阳区"


def test_the_city_row_carries_the_local_figures_the_districts_add_up_to(payload):
    wide = read_wide_bulletin(payload, ROSTER)
    april_28 = date(2022, 4, 28)  # 4 imported cases: total 53 positives, local 49

    city = next(row for row in parsed(wide, april_28).rows if row["district_id"] == "110000")
    source = next(r for r in csv_rows(payload.decode("utf-8")) if r["日期"] == "2022-04-28")

    assert wide.layout.city_columns["new_positives"] == "本土阳性感染者"
    assert (city["new_positives"], city["new_confirmed"], city["new_asymptomatic"]) == (49, 47, 2)
    assert int(source["阳性感染者"]) == 53 and int(source["境外输入阳性感染者"]) == 4
    # The districts count local cases only: their confirmed sum to the local 47, not the total 49.
    assert sum(int(source[f"{d}_确诊"]) for d in BEIJING_DISTRICTS) == 47


def test_every_column_is_landed_used_or_listed_as_ignored(payload):
    wide = read_wide_bulletin(payload, ROSTER)
    layout = wide.layout
    header = next(csv.reader(io.StringIO(payload.decode("utf-8"))))

    used = [layout.date_column, layout.source_column, *layout.city_columns.values()]
    used += [h for columns in layout.district_columns.values() for h in columns.values()]

    assert sorted(used + list(layout.ignored_columns)) == sorted(header)
    assert len(used) + len(layout.ignored_columns) == len(header)
    assert {"阳性感染者", "境外输入阳性感染者", "治愈出院", "朝阳区_阳性_来自闭环隔离"} <= set(
        layout.ignored_columns
    )
    summary = layout.ignored_summary()
    assert "{区}_阳性_来自闭环隔离 ×16" in summary and "境外输入阳性感染者" in summary
    # every file row becomes records: 1 city + 16 districts per row
    assert sum(len(wide.records_for(day)) for day in wide.report_dates) == 33 * 17


def test_gbk_and_bom_copies_read_the_same_as_utf8(payload, tmp_path):
    text = payload.decode("utf-8")
    gbk = tmp_path / "beijing-gbk.csv"
    gbk.write_bytes(text.encode("gbk"))
    bom = tmp_path / "beijing-bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + payload)

    reference = read_wide_bulletin(payload, ROSTER)
    from_gbk = read_wide_bulletin(gbk.read_bytes(), ROSTER)
    from_bom = read_wide_bulletin(bom.read_bytes(), ROSTER)

    assert gbk.read_bytes() != payload  # really a different byte encoding
    assert (reference.layout.encoding, from_gbk.layout.encoding, from_bom.layout.encoding) == (
        "utf-8",
        "gb18030",
        "utf-8-sig",
    )
    assert from_gbk.records_for(APRIL_26) == reference.records_for(APRIL_26)
    assert from_bom.records_for(APRIL_26) == reference.records_for(APRIL_26)
    assert from_bom.layout.date_column == "日期"  # the BOM is not glued to the first header


def test_bytes_that_are_no_known_text_encoding_are_refused_with_what_to_do():
    with pytest.raises(UnreadableBulletin, match="neither UTF-8 nor GBK"):
        decode_bulletin(b"\x81\x20\xff\xfe\x00")  # not UTF-8, not GB18030 (0x81 0x20 is no GB sequence)
    assert decode_bulletin("日期\n".encode("gbk")) == ("日期\n", "gb18030")


def test_the_city_can_be_named_and_a_wrong_city_is_refused(payload):
    assert read_wide_bulletin(payload, ROSTER, city="Beijing").layout.city.district_id == "110000"
    with pytest.raises(UnreadableBulletin, match="belongs to 北京市, not 太原市"):
        read_wide_bulletin(payload, ROSTER, city="太原市")
    with pytest.raises(UnreadableBulletin, match="not a city on the roster"):
        read_wide_bulletin(payload, ROSTER, city="朝阳区")


def test_an_unknown_district_column_is_rejected_not_dropped():
    text = "日期,阳性感染者,朝阳区_阳性,朝阳区_确诊,朝阳区_无症状,经开区_阳性,经开区_确诊,经开区_无症状\n"
    text += "2022-04-26,5,2,1,1,3,3,0\n"

    wide = read_wide_bulletin(text.encode(), ROSTER)
    result = parsed(wide, APRIL_26)

    assert wide.layout.city_columns == {"new_positives": "阳性感染者"}  # no 本土 column: the total is used
    assert [row["district_id"] for row in result.rows] == ["110105"]
    # the city row lacks 确诊/无症状, 经开区 is not a district: both kept as rejects with reasons
    reasons = {reject.raw_values["district"]: reject.reason for reject in result.rejects}
    assert "unknown district '经开区'" in reasons["经开区"]
    assert "required field 'new_confirmed'" in reasons["北京市"]
    assert result.rows_read == 3


def test_a_row_without_a_date_stops_the_import_and_names_the_line():
    text = "日期,朝阳区_阳性,朝阳区_确诊,朝阳区_无症状\n2022-04-26,2,1,1\n合计,2,1,1\n"
    with pytest.raises(UnreadableBulletin, match="line 3: 日期 '合计' is not a date"):
        read_wide_bulletin(text.encode(), ROSTER)


def test_a_repeated_date_lands_once_and_rejects_the_repeat():
    text = "日期,朝阳区_阳性,朝阳区_确诊,朝阳区_无症状\n2022-04-26,2,1,1\n2022/4/26,2,1,1\n"
    wide = read_wide_bulletin(text.encode(), ROSTER, city="北京市")

    result = parsed(wide, APRIL_26)

    assert wide.report_dates == [APRIL_26]
    assert wide.layout.city_columns == {}  # no city figures in the file: no city record
    assert (len(result.rows), result.rows_read) == (1, 2)
    [repeat] = result.rejects
    assert repeat.row_number == 2 and "duplicate record for district 110105" in repeat.reason


def test_received_at_defaults_to_publication_the_next_morning_in_beijing_time():
    assert publication_time(APRIL_26) == datetime(2022, 4, 27, 2, 0, tzinfo=UTC)


def test_import_bulletin_command_parses_its_arguments():
    parser = argparse.ArgumentParser(prog="epifeeds")
    bulletin_import.register(parser.add_subparsers(dest="command", required=True))

    args = parser.parse_args(["import-bulletin", str(BEIJING_CSV), "--city", "北京市"])
    default = parser.parse_args(["import-bulletin", "x.csv"])

    assert args.func is bulletin_import.cmd_import_bulletin
    assert (args.file, args.city, args.received_at) == (BEIJING_CSV, "北京市", None)
    assert default.city is None
    with pytest.raises(SystemExit):
        parser.parse_args(["import-bulletin", "x.csv", "--received-at", "2022-05-12T10:00"])  # no zone
