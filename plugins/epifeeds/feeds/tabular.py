"""Reading the tables agencies send as files: CSV in whatever encoding, XLSX with merged two-row headers.

What real files do, and what happens to it here:

- encoding: a BOM decides (UTF-8, UTF-16); otherwise strict UTF-8, then GBK, then GB18030 (GBK's
  superset). Anything else is unreadable and the file is quarantined.
- a file cut short (the upload stopped mid-row, perhaps inside a GBK character): everything up to the
  last line end is read; the unfinished last line is returned as `truncated_row`, for the parser to reject.
- headers: the header row is the first row naming at least two known fields (title rows above it are
  skipped); a second header row under it (XLSX with merged group cells, e.g. 房间情况 over 房间总数 and
  已用房间) is detected and each column gets both labels. Merged cells are filled with their value.
- blank rows are skipped; totals rows (合计, 总计, ...) are recognised by `is_totals_row`.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from epifeeds.feeds.limits import check_csv, check_xlsx
from epifeeds.feeds.names import normalise_label
from epifeeds.feeds.parsing import UnreadablePayload

TOTALS_LABELS = frozenset(
    normalise_label(label) for label in ("合计", "总计", "小计", "合計", "total", "sum")
)
BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
FALLBACK_ENCODINGS = ("utf-8", "gbk", "gb18030")  # GB18030 is GBK's superset: rare characters


@dataclass(frozen=True)
class HeaderCell:
    top: str  # the label in the header row (a merged group cell repeats over its columns)
    sub: str  # the label in the second header row; equal to `top` for a one-row header

    def labels(self) -> list[str]:
        """Spellings to try, the most specific first."""
        return list(dict.fromkeys(label for label in (self.sub, self.top) if label))


@dataclass
class RawTable:
    header: list[HeaderCell]
    rows: list[tuple[int, list[Any]]]  # (row number in the file, 1-based; cell values)
    encoding: str | None  # None for XLSX
    truncated_row: tuple[int, str] | None = None  # (row number, text) of a last line the file ends inside
    blank_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self, cells: list[Any]) -> dict[str, Any]:
        """A row keyed by its header labels as written (raw values for landing.rejects)."""
        keyed: dict[str, Any] = {}
        for column, (cell, value) in enumerate(zip(self.header, cells, strict=False)):
            label = cell.sub if cell.sub == cell.top else f"{cell.top}/{cell.sub}"
            keyed[label or f"column_{column + 1}"] = _jsonable(value)
        return keyed


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def decode_text(payload: bytes) -> tuple[str, str]:
    """The payload's text and the encoding it was in; raises UnreadablePayload when it is neither."""
    for bom, encoding in BOMS:
        if payload.startswith(bom):
            try:
                return payload.decode(encoding).lstrip("\ufeff"), encoding
            except UnicodeDecodeError:
                break
    for encoding in FALLBACK_ENCODINGS:
        try:
            return payload.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UnreadablePayload(
        "the file is neither UTF-8 (with or without BOM), UTF-16 nor GBK/GB18030 text; "
        "ask the sender to export it again as UTF-8 CSV or XLSX"
    )


def is_blank(cells: Iterable[Any]) -> bool:
    return all(value is None or not str(value).strip() for value in cells)


def is_totals_row(cells: list[Any]) -> bool:
    """A 合计/总计 row: the label sits in one of the first two cells."""
    return any(value is not None and normalise_label(str(value)) in TOTALS_LABELS for value in cells[:2])


def _known_hits(cells: list[Any], known: set[str]) -> int:
    return sum(1 for value in cells if value is not None and normalise_label(str(value)) in known)


def _find_header(grid: list[list[Any]], known: set[str]) -> int:
    for index, cells in enumerate(grid[:20]):
        if _known_hits(cells, known) >= 2:
            return index
    raise UnreadablePayload(
        "no header row naming the expected fields in the first 20 rows; the file is not in this feed's "
        "layout (or its headers are spelled in a way the contract's aliases do not know: add the spelling "
        "to the contract in plugins/epifeeds/feeds/contracts.py)"
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _table_from_grid(
    grid: list[list[Any]], known: set[str], *, encoding: str | None, first_row_number: int = 1
) -> RawTable:
    """Header detection (one or two rows) and the data rows under it."""
    header_index = _find_header(grid, known)
    top = grid[header_index]
    width = max(len(cells) for cells in grid[header_index:]) if grid else 0
    top = [*top, *([None] * (width - len(top)))]
    sub = top
    data_start = header_index + 1
    if data_start < len(grid):
        below = [*grid[data_start], *([None] * (width - len(grid[data_start])))]
        differing = [b for t, b in zip(top, below, strict=True) if _text(b) and _text(b) != _text(t)]
        if _known_hits(differing, known) >= 1:
            sub, data_start = below, data_start + 1
    header = [
        HeaderCell(_text(t), _text(s) or _text(t)) for t, s in zip(top, sub, strict=True)
    ]  # a blank sub label (under a vertically merged cell exported to CSV) falls back to the top label
    table = RawTable(header=header, rows=[], encoding=encoding)
    for index in range(data_start, len(grid)):
        cells = [*grid[index], *([None] * (width - len(grid[index])))]
        if is_blank(cells):
            table.blank_rows += 1
            continue
        table.rows.append((first_row_number + index, cells))
    return table


def read_csv_table(payload: bytes, known: set[str]) -> RawTable:
    """A CSV (or tab-separated) file as a table; an unfinished last line becomes `truncated_row`."""
    if not payload.strip():
        raise UnreadablePayload(f"the file is empty ({len(payload)} bytes): nothing to read")
    check_csv(payload)  # size and line count before decoding (feeds/limits.py)
    if payload.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: line ends are two bytes; split on text
        text, encoding = decode_text(payload)
        complete, tail = (text, "") if text.endswith("\n") else text.rpartition("\n")[::2]
    else:
        cut = payload.rfind(b"\n") + 1
        complete_bytes, tail_bytes = (payload[:cut], payload[cut:]) if cut else (payload, b"")
        complete, encoding = decode_text(complete_bytes)
        tail = tail_bytes.decode(encoding.replace("utf-8-sig", "utf-8"), errors="replace")
    first_line = complete.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    try:
        grid = [list(row) for row in csv.reader(io.StringIO(complete, newline=""), delimiter=delimiter)]
    except csv.Error as error:  # e.g. a field beyond csv.field_size_limit, a NUL in an unquoted field
        raise UnreadablePayload(f"not a readable CSV file ({error})") from None
    table = _table_from_grid(grid, known, encoding=encoding)
    table.notes.append(f"read as {encoding} CSV")
    if tail.strip():
        table.truncated_row = (len(grid) + 1, tail)
        table.notes.append(
            f"truncated: the file ends inside row {len(grid) + 1} ({len(payload)} bytes, no final line end)"
        )
    return table


def read_xlsx_table(payload: bytes, known: set[str]) -> RawTable:
    """The first sheet that has a header row; merged cells carry their value into every cell they cover."""
    if not payload:
        raise UnreadablePayload("the file is empty (0 bytes): nothing to read")
    check_xlsx(payload)  # cells, merged ranges, inflated size: before openpyxl builds them
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(payload), data_only=True)  # not read-only: it hides merges
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise UnreadablePayload(
            f"not a readable XLSX workbook ({type(error).__name__}: {error}); ask the sender to save it "
            "again as .xlsx"
        ) from None
    problem: UnreadablePayload | None = None
    sheets = [workbook.active, *[s for s in workbook.worksheets if s is not workbook.active]]
    for sheet in sheets:
        grid = [list(cells) for cells in sheet.iter_rows(values_only=True)]
        for merged in sheet.merged_cells.ranges:
            value = grid[merged.min_row - 1][merged.min_col - 1]
            for row in range(merged.min_row - 1, merged.max_row):
                for column in range(merged.min_col - 1, merged.max_col):
                    grid[row][column] = value
        try:
            table = _table_from_grid(grid, known, encoding=None)
        except UnreadablePayload as error:
            problem = error
            continue
        table.notes.append(f"read from XLSX sheet {sheet.title!r}")
        return table
    raise problem or UnreadablePayload("the workbook has no sheets")
