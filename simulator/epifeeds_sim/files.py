"""Writing agency files byte-for-byte reproducibly: CSV in a chosen encoding, XLSX without timestamps (fast)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.compat import safe_string
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.datetime import to_excel

FIXED_ZIP_TIME = (2022, 1, 1, 0, 0, 0)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], *, encoding: str) -> bytes:
    """A CSV as Windows exports it (CRLF), in `encoding` ("gbk", "utf-8-sig", "utf-8")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(workbook: Workbook, created: datetime) -> bytes:
    """Save a workbook with `created` as its document time and fixed zip entry times: same input, same bytes."""
    return _zipped(_saved_entries(workbook), created)


def _saved_entries(workbook: Workbook) -> list[tuple[str, bytes]]:
    raw = io.BytesIO()
    workbook.save(raw)
    with zipfile.ZipFile(raw) as source:
        return [(info.filename, source.read(info.filename)) for info in source.infolist()]


def _zipped(entries: Iterable[tuple[str, bytes]], created: datetime) -> bytes:
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for filename, data in entries:
            if filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data
                )
            entry = zipfile.ZipInfo(filename, date_time=FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, data)
    return out.getvalue()


# ------------------------------------------------------------------------- XLSX without openpyxl's cost
#
# openpyxl takes ~25 ms to build and save even a one-row workbook; a province writes ~11,000 hotel
# workbooks a fortnight. A SheetSkeleton is one workbook saved by openpyxl (its header rows and one data
# row); further workbooks of the same layout reuse every part of it and only get new data rows, written
# the way openpyxl writes them, so the bytes are exactly those openpyxl would have produced (the
# skeleton checks itself on its own data row, and tests compare the two writers). Values it does not
# know how to write exactly (None, floats, odd strings) make `render` return None: use openpyxl then.

SHEET_XML = "xl/worksheets/sheet1.xml"
_PLAIN_TEXT = re.compile(r"[^\s=&<>\x00-\x1f][^&<>\x00-\x1f]*(?<!\s)")


class SheetSkeleton:
    """The saved parts of a one-sheet workbook with `header_rows` header rows, minus its data rows."""

    def __init__(self, workbook: Workbook, header_rows: int) -> None:
        self.entries = _saved_entries(workbook)
        sheet = dict(self.entries)[SHEET_XML].decode("utf-8")
        start, end = sheet.index(f'<row r="{header_rows + 1}"'), sheet.index("</sheetData>")
        self.head, self.tail, self.header_rows = sheet[:start], sheet[end:], header_rows
        dimension = re.search(r'<dimension ref="A1:([A-Z]+)(\d+)" />', self.head)
        date_cell = re.search(r'<c r="[A-Z]+\d+" s="(\d+)" t="n">', sheet[start:end])
        self.usable = dimension is not None and date_cell is not None
        if dimension is not None and date_cell is not None:
            self.last_column = column_index_from_string(dimension.group(1))
            self.date_style = date_cell.group(1)
            rows_in_template = int(dimension.group(2)) - header_rows
            template_rows = self._rows_of(workbook, rows_in_template)
            self.usable = self._sheet(template_rows) == sheet  # writes exactly what openpyxl wrote

    @staticmethod
    def _rows_of(workbook: Workbook, count: int) -> list[list[Any]]:
        sheet = workbook.active
        rows = sheet.iter_rows(min_row=sheet.max_row - count + 1, values_only=True)
        return [[v.date() if isinstance(v, datetime) else v for v in row] for row in rows]

    def _cell(self, reference: str, value: Any) -> str | None:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int):
            return f'<c r="{reference}" t="n"><v>{safe_string(value)}</v></c>'
        if isinstance(value, date) and not isinstance(value, datetime):
            serial = safe_string(to_excel(value))
            return f'<c r="{reference}" s="{self.date_style}" t="n"><v>{serial}</v></c>'
        if isinstance(value, str) and _PLAIN_TEXT.fullmatch(value):
            return f'<c r="{reference}" t="inlineStr"><is><t>{value}</t></is></c>'
        return None

    def _sheet(self, rows: Sequence[Sequence[Any]]) -> str | None:
        parts = []
        for number, row in enumerate(rows, start=self.header_rows + 1):
            if len(row) > self.last_column:
                return None
            cells = [self._cell(f"{_COLUMNS[i]}{number}", v) for i, v in enumerate(row)]
            if None in cells:
                return None
            parts.append(f'<row r="{number}">{"".join(cells)}</row>')  # type: ignore[arg-type]
        last_row = self.header_rows + len(rows)
        head = re.sub(
            r'<dimension ref="A1:[A-Z]+\d+" />',
            f'<dimension ref="A1:{_COLUMNS[self.last_column - 1]}{last_row}" />',
            self.head,
            count=1,
        )
        return head + "".join(parts) + self.tail

    def render(self, rows: Sequence[Sequence[Any]], created: datetime) -> bytes | None:
        """The workbook with these data rows, as openpyxl would save it; None: let openpyxl do it."""
        sheet = self._sheet(rows) if self.usable and rows else None
        if sheet is None:
            return None
        sheet_bytes = sheet.encode("utf-8")
        return _zipped(((n, sheet_bytes if n == SHEET_XML else d) for n, d in self.entries), created)


_COLUMNS = [get_column_letter(i) for i in range(1, 200)]


def to_full_width(text: str) -> str:
    """'123' -> '１２３' (what some office software produces when an IME is left in full-width mode)."""
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
