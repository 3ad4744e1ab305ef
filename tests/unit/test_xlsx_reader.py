"""The fast XLSX reader (python-calamine) gives the grid openpyxl gives: on every workbook the simulator
writes (testing-site and hotel reports, merged two-row headers included) and on workbooks built to hold
what the two libraries could read differently. The repository holds no XLSX bulletin (the published
bulletins are CSV), so the simulator's files are the real-shaped ones."""

from __future__ import annotations

import io
from datetime import date, datetime, time
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.styles import Font

from epifeeds.feeds.limits import check_xlsx
from epifeeds.feeds.xlsx import _calamine_grids, _openpyxl_grids, read_xlsx_grids
from epifeeds_sim.generate import generate

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory) -> list[Path]:
    sim = tmp_path_factory.mktemp("sim")
    generate(sim, days=4, seed=7, faults="all", scale="small")
    found = sorted(sim.rglob("*.xlsx"))
    assert {p.parts[-3] for p in found} == {"testing_sites", "hotel_reports"}
    return found


def saved(workbook: Workbook) -> bytes:
    packed = io.BytesIO()
    workbook.save(packed)
    return packed.getvalue()


def test_every_simulated_workbook_reads_the_same_with_calamine_as_with_openpyxl(workbooks):
    for path in workbooks:
        payload = path.read_bytes()
        scan = check_xlsx(payload)
        assert not scan.needs_openpyxl, path  # the fast reader is the one that reads them
        assert _calamine_grids(payload, scan) == _openpyxl_grids(payload), path


def test_workbooks_with_styled_blanks_merges_several_sheets_and_every_cell_type():
    workbook = Workbook()
    first = workbook.active
    first.title = "说明"
    first.append(["本表为测试"])
    sheet = workbook.create_sheet("日报")
    sheet.append(["采样点编号", "采样点名称", "日期", "时间", "采样人次", "比例", "是否", None, "备注"])
    sheet.append(["TS1", "小店 一点", datetime(2022, 3, 1), time(8, 30), 120, 0.25, True, None, "  空格  "])
    sheet.append(
        ["ts2", "Ｘ点\t二", date(2022, 3, 2), datetime(2022, 3, 2, 9, 15), 3.0, 1e15, False, "", "a\\b"]
    )
    sheet.append([None, None, None, None, None, None, None, None, "合计"])
    sheet.cell(row=9, column=12).font = Font(bold=True)  # a styled empty cell: openpyxl's grid reaches it
    sheet.merge_cells("A6:C7")
    sheet["A6"] = "合并"
    sheet.merge_cells("J2:K2")
    workbook.active = 1  # the second sheet is the one openpyxl opens first
    payload = saved(workbook)
    scan = check_xlsx(payload)
    calamine = _calamine_grids(payload, scan)
    assert calamine == _openpyxl_grids(payload)
    title, grid = calamine[0]
    assert title == "日报" and len(grid) == 9 and len(grid[0]) == 12
    assert grid[5][:3] == grid[6][:3] == ["合并"] * 3


def test_what_only_openpyxl_reads_its_way_sends_the_workbook_to_openpyxl():
    workbook = Workbook()
    workbook.active.append(["采样点编号", "采样人次", "备注"])
    workbook.active.append(["TS1", "#N/A", "_x000D_换行"])  # an error cell; an escape calamine would decode
    payload = saved(workbook)
    scan = check_xlsx(payload)
    assert scan.needs_openpyxl
    [(_, grid)] = read_xlsx_grids(payload, scan)
    assert grid == [["采样点编号", "采样人次", "备注"], ["TS1", "#N/A", "_x000D_换行"]]
