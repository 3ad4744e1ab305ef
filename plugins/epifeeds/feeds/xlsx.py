"""Reading an XLSX sheet into a grid of cell values, the values openpyxl would give, at calamine's speed.

python-calamine (Rust) reads a sheet ~20x faster than openpyxl. The grid it returns is turned into
openpyxl's: an empty cell is None, not ''; a whole number is an int, not a float; a date cell is a
datetime at midnight, not a date; the grid spans every cell the XML names and every merged range (openpyxl
keeps styled empty cells), as `limits.check_xlsx` measured it. A workbook holding what calamine reads
differently (error cells such as #N/A, _xHHHH_ escapes, phonetic runs, the 1904 date system; the scan
says) is read with openpyxl, as is one calamine refuses. tests/unit/test_xlsx_reader.py compares the two
readers on the simulator's workbooks and on generated ones.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from datetime import date, datetime
from typing import Any

from epifeeds.feeds.limits import XlsxScan
from epifeeds.feeds.parsing import UnreadablePayload

MAX_EXACT_FLOAT = 2**53  # beyond it a float no longer holds every integer: left as calamine read it


def _openpyxl_value(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() and abs(value) < MAX_EXACT_FLOAT else value
    if kind is str:
        return value if value else None
    if kind is date:
        return datetime(value.year, value.month, value.day)
    return value


def _unreadable(error: Exception) -> UnreadablePayload:
    return UnreadablePayload(
        f"not a readable XLSX workbook ({type(error).__name__}: {error}); ask the sender to save it again as .xlsx"
    )


_SHEET = re.compile(rb"<(?:[\w.-]+:)?sheet\s[^>]*?\bname=\"([^\"]*)\"[^>]*?\br:id=\"([^\"]*)\"")
_TARGET = re.compile(rb"<Relationship\s[^>]*?\bTarget=\"([^\"]*)\"[^>]*?\bId=\"([^\"]*)\"")
_TARGET_ID_FIRST = re.compile(rb"<Relationship\s[^>]*?\bId=\"([^\"]*)\"[^>]*?\bTarget=\"([^\"]*)\"")
_ACTIVE = re.compile(rb"\bactiveTab=\"(\d+)\"")


def _sheet_paths(payload: bytes) -> tuple[dict[str, str], int]:
    """Sheet name -> its XML path in the zip, and the active tab (openpyxl reads that sheet first)."""
    from xml.sax.saxutils import unescape

    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        workbook = archive.read("xl/workbook.xml")
        relations = archive.read("xl/_rels/workbook.xml.rels")
    targets = {rid: target for target, rid in _TARGET.findall(relations)}
    targets.update(_TARGET_ID_FIRST.findall(relations))
    paths = {}
    for name, rid in _SHEET.findall(workbook):
        target = targets.get(rid, b"").decode("utf-8", "replace")
        path = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        )
        paths[unescape(name.decode("utf-8", "replace"), {"&quot;": '"', "&apos;": "'"})] = path
    active = _ACTIVE.search(workbook)
    return paths, int(active.group(1)) if active else 0


def read_xlsx_grids(payload: bytes, scan: XlsxScan) -> list[tuple[str, list[list[Any]]]]:
    """(title, grid) of every worksheet, the active one first; merged cells are not yet filled."""
    if not scan.needs_openpyxl:
        try:
            return _calamine_grids(payload, scan)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - what calamine refuses (a Rust panic is a BaseException), openpyxl reads
            pass
    return _openpyxl_grids(payload)


def _calamine_grids(payload: bytes, scan: XlsxScan) -> list[tuple[str, list[list[Any]]]]:
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_filelike(io.BytesIO(payload))
    paths, active = _sheet_paths(payload)
    names = [m.name for m in workbook.sheets_metadata if str(m.typ).endswith("WorkSheet")]
    if not names:
        raise ValueError("no worksheet")
    order = [names[active], *names[:active], *names[active + 1 :]] if active < len(names) else names
    grids = []
    for name in order:
        sheet = workbook.get_sheet_by_name(name)
        rows, columns = scan.shapes.get(paths.get(name, ""), (0, 0))
        grid = [list(map(_openpyxl_value, cells)) for cells in sheet.to_python(skip_empty_area=False)]
        columns = max(columns, max(map(len, grid), default=0))
        grid.extend([] for _ in range(rows - len(grid)))
        for cells in grid:
            cells.extend([None] * (columns - len(cells)))
        grids.append((name, _with_merges(grid, sheet.merged_cell_ranges or [])))
    return grids


def _with_merges(grid: list[list[Any]], merges: list) -> list[list[Any]]:
    for (top, left), (bottom, right) in merges:
        value = grid[top][left]
        for row in range(top, bottom + 1):
            grid[row][left : right + 1] = [value] * (right - left + 1)
    return grid


def _openpyxl_grids(payload: bytes) -> list[tuple[str, list[list[Any]]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(payload), data_only=True)  # not read-only: it hides merges
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise _unreadable(error) from None
    grids = []
    for sheet in [workbook.active, *[s for s in workbook.worksheets if s is not workbook.active]]:
        grid = [list(cells) for cells in sheet.iter_rows(values_only=True)]
        merges = [
            ((m.min_row - 1, m.min_col - 1), (m.max_row - 1, m.max_col - 1))
            for m in sheet.merged_cells.ranges
        ]
        grids.append((sheet.title, _with_merges(grid, merges)))
    return grids
