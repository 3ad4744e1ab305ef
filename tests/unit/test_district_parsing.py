from datetime import UTC, date, datetime

import pytest

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import parse_district_records

pytestmark = pytest.mark.unit

DAY = date(2022, 3, 6)
RECEIVED = datetime(2022, 3, 7, 1, 30, tzinfo=UTC)


def report(district: str, **counts) -> dict:
    return {"district": district, "report_date": DAY.isoformat(), "new_positives": 3, "new_confirmed": 2,
            "new_asymptomatic": 1} | counts  # fmt: skip


def parse(records):
    return parse_district_records(
        DISTRICT_REPORTS, records, report_date=DAY, received_at=RECEIVED, roster=load_district_roster()
    )


def test_aliases_resolve_to_one_district():
    for spelling in ("晋源区", "晋源", "太原市晋源区", "Jinyuan", "JINYUAN DISTRICT", "Ｊｉｎｙｕａｎ"):
        result = parse([report(spelling)])
        assert [row["district_id"] for row in result.rows] == ["140110"], spelling
        assert result.rows[0]["district_name_reported"] == spelling


def test_chinese_headers_and_full_width_numbers_are_read():
    record = {
        "区县": "小店区",
        "日期": "2022年3月6日",
        "阳性": "１,２０３",
        "确诊": "1,200",
        "无症状": "3",
        "采样人次": "1,234,567",
    }
    [row] = parse([record]).rows
    assert (row["new_positives"], row["new_confirmed"], row["samples_collected"]) == (1203, 1200, 1234567)


def test_every_bad_row_is_kept_with_a_reason_naming_what_to_do():
    result = parse(
        [
            report("小店区"),
            report("高新区"),
            report("迎泽区", new_positives=-2),
            report("小店区"),
            report("杏花岭区", report_date="2022-03-09"),
            report("万柏林区", new_confirmed=None),
            "not an object",
        ]
    )
    assert [row["district_id"] for row in result.rows] == ["140105"]
    reasons = {reject.row_number: reject.reason for reject in result.rejects}
    assert "unknown district '高新区'" in reasons[2] and "district_aliases.csv" in reasons[2]
    assert "negative" in reasons[3] and "new_positives" in reasons[3]
    assert "duplicate record for district 140105" in reasons[4] and "row 1" in reasons[4]
    assert "in the future" in reasons[5]
    assert "required field 'new_confirmed'" in reasons[6]
    assert reasons[7] == "record is not a JSON object"
    assert result.rows_read == 7 == len(result.rows) + len(result.rejects)
