"""The national roster, city-scoped names, onboarding as data, and what a bulletin publishes (N1)."""

from __future__ import annotations

import argparse
import csv
import shutil
from datetime import date

import pytest

from epifeeds.feeds import names, roster
from epifeeds.feeds.bulletin import read_wide_bulletin
from epifeeds.feeds.bulletin_layout import UnreadableBulletin
from epifeeds.feeds.divisions import load_national_roster, short_form
from epifeeds.feeds.names import load_district_roster
from tests.conftest import BEIJING_CSV

pytestmark = pytest.mark.unit

NATIONAL = load_national_roster()


@pytest.fixture
def seeds(tmp_path, monkeypatch):
    copy = tmp_path / "seeds"
    shutil.copytree(names.SEEDS_DIR, copy)
    monkeypatch.setattr(names, "SEEDS_DIR", copy)
    names.reload_district_roster()
    yield copy
    names.reload_district_roster()


def test_the_national_roster_holds_every_city_with_the_codes_the_roster_already_uses():
    taiyuan = {d.code: d.name for d in NATIONAL.districts_of("140100")}
    beijing = {d.code for d in NATIONAL.districts_of("110000")}
    onboarded = load_district_roster()

    assert len(NATIONAL.cities) > 330 and len(NATIONAL.divisions) > 3000
    assert taiyuan["140105"] == "小店区" and len(taiyuan) == 10
    assert {d.district_id: d.district_name for d in onboarded.districts_of("140100")} == taiyuan
    assert beijing == {d.district_id for d in onboarded.districts_of("110000")}
    assert NATIONAL.find_city("成都").code == "510100" and NATIONAL.find_city("上海市").code == "310000"
    assert NATIONAL.find_city("朝阳区") is None  # a district, not a city


def test_short_forms_resolve_within_their_city_and_an_ambiguous_one_not_at_all():
    shanghai, _ = NATIONAL.names_of_districts("310000")
    hotan, hotan_ambiguous = NATIONAL.names_of_districts("653200")  # 和田地区: 和田市 and 和田县

    assert (short_form("浦东新区"), short_form("朝阳区"), short_form("赵县")) == ("浦东", "朝阳", None)
    assert short_form("长阳土家族自治县") == "长阳"
    assert shanghai["浦东"] == "310115" and shanghai["上海市浦东新区"] == "310115"
    assert "和田" not in hotan and set(hotan_ambiguous["和田"]) == {"653201", "653221"}
    changchun = load_district_roster().scoped_to("220100")
    assert changchun.resolve("朝阳区") is None  # 长春 is not onboarded: the scoped onboarded roster
    beijing = load_district_roster().scoped_to("110000")
    assert beijing.resolve("朝阳") == "110105" and beijing.resolve("小店区") is None


def _bulletin(header: list[str], *rows: list[object]) -> bytes:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def test_a_bulletin_of_an_unseen_city_reads_its_names_within_that_city():
    header = [
        "日期",
        "朝阳区_阳性",
        "南关_阳性",
        "宽城区_阳性",
        "高新区_阳性",
    ]  # 长春: 朝阳区 is 220104 there
    wide = read_wide_bulletin(_bulletin(header, ["2022-03-10", 1, 2, 3, 4]), load_district_roster())

    assert wide.layout.city.district_id == "220100" and not wide.layout.is_onboarded
    assert wide.layout.district_ids == {"朝阳区": "220104", "南关": "220102", "宽城区": "220103"}
    assert wide.layout.unmatched_reporters == {
        "高新区": "unknown district '高新区': no district of 长春市 (220100) has that name"
    }
    assert [c.header for c in wide.layout.measure_columns] == header[1:4]  # 高新区 lands nowhere as a measure


def test_a_bulletin_matching_no_city_is_refused_with_what_to_do():
    with pytest.raises(UnreadableBulletin, match="cannot tell which city"):
        read_wide_bulletin(_bulletin(["日期", "高新区_阳性"], ["2022-03-10", 1]), load_district_roster())
    with pytest.raises(UnreadableBulletin, match="not a city on the roster nor"):
        read_wide_bulletin(
            _bulletin(["日期", "朝阳区_阳性"], ["2022-03-10", 1]), load_district_roster(), city="朝阳区"
        )


def test_every_beijing_column_is_a_measure_or_listed_and_unpublished_cumulatives_are_found():
    wide = read_wide_bulletin(BEIJING_CSV.read_bytes(), load_district_roster())
    layout = wide.layout
    measures = {(c.reporter_id, c.measure) for c in layout.measure_columns}
    header = BEIJING_CSV.read_text(encoding="utf-8").splitlines()[0].split(",")

    assert layout.unmatched_columns == ()  # every column but 日期 and 来源 is a measure
    assert len(layout.measure_columns) == len(header) - 2
    assert {
        ("110000", "cumulative_recovered"),
        ("110000", "new_deaths"),
        ("110000", "current_critical"),
    } <= measures
    assert {("110105", "new_positives_closed_loop"), ("110105", "new_positives_community")} <= measures
    assert ("110105", "new_confirmed_from_asymptomatic") in measures
    # The four cumulatives Beijing leaves at 0 while their daily figures move are not published (N1);
    # 累计本土死亡 stays 0 with 本土死亡病例 0: published zeros, not N1.
    assert wide.unpublished() == {
        ("110000", "cumulative_local_positives"),
        ("110000", "cumulative_local_confirmed"),
        ("110000", "cumulative_recovered"),
        ("110000", "cumulative_imported_confirmed"),
    }


def test_onboarding_a_city_writes_its_districts_aliases_and_calendar_once(seeds):
    first = roster.onboard_city("成都", active_from=date(2022, 6, 1), active_to=date(2022, 6, 30))
    again = roster.onboard_city("510100", active_from=date(2022, 6, 1))

    with (seeds / "districts.csv").open(encoding="utf-8", newline="") as handle:
        added = [row for row in csv.DictReader(handle) if row["district_id"].startswith("5101")]
    with (seeds / "reporting_calendar.csv").open(encoding="utf-8", newline="") as handle:
        calendar = [row for row in csv.DictReader(handle) if row["jurisdiction_id"] == "510100"]
    assert first.is_new and not again.is_new and first.districts == again.districts == 20
    assert len(added) == 21 and added[0]["district_level"] == "city"
    assert {(r["reporter_level"], r["active_from"], r["active_to"]) for r in calendar} == {
        ("district", "2022-06-01", "2022-06-30"),
        ("city", "2022-06-01", "2022-06-30"),
    }
    onboarded = load_district_roster()
    assert onboarded.resolve("锦江") == "510104" and onboarded.resolve("成都市锦江区") == "510104"
    assert onboarded.resolve("朝阳区") == "110105"  # Beijing's names are not taken over
    assert [e.city_id for e in roster.list_onboarded()] == ["140100", "110000", "510100"]
    with pytest.raises(roster.UnknownJurisdiction, match="no prefecture-level city"):
        roster.onboard_city("高新区", active_from=date(2022, 6, 1))


def test_the_roster_command_lists_and_onboards(seeds, capsys):
    parser = argparse.ArgumentParser(prog="epifeeds")
    roster.register(parser.add_subparsers(dest="command", required=True))

    onboard = parser.parse_args(["roster", "onboard", "上海", "--from", "2022-03-01", "--to", "2022-06-30"])
    assert onboard.func(onboard) == 0
    listing = parser.parse_args(["roster", "list"])
    assert listing.func(listing) == 0
    out = capsys.readouterr().out

    assert "onboarded 上海市 (310000): 16 districts" in out
    assert "太原市 (140100): 10 districts" in out and "北京市 (110000): 16 districts" in out
    assert "district_reports city 2022-03-01..2022-06-30 due D+1 10:00" in out
