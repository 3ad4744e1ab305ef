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
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice, repeat
from typing import Any

from epifeeds.feeds.limits import check_csv, check_xlsx
from epifeeds.feeds.names import normalise_label
from epifeeds.feeds.parsing import UnreadablePayload
from epifeeds.feeds.xlsx import read_xlsx_grids

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
    # (row number in the file, 1-based; cell values), blank rows left out. A CSV's rows are read as they
    # are taken (a file is never held as a grid); `blank_rows` is complete once they have all been taken.
    rows: Iterable[tuple[int, list[Any]]]
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
    raise _not_text()


def _not_text() -> UnreadablePayload:
    return UnreadablePayload(
        "the file is neither UTF-8 (with or without BOM), UTF-16 nor GBK/GB18030 text; "
        "ask the sender to export it again as UTF-8 CSV or XLSX"
    )


def is_blank(cells: Iterable[Any]) -> bool:
    return all(value is None or not str(value).strip() for value in cells)


def is_totals_row(cells: list[Any]) -> bool:
    """A 合计/总计 row: the label sits in one of the first two cells."""
    return any(value is not None and normalise_label(str(value)) in TOTALS_LABELS for value in cells[:2])


def totals_flags(column: list[Any]) -> list[bool]:
    """`normalise_label(cell) in TOTALS_LABELS` for every cell of a column, at C speed (map of builtins)."""
    texts = ["" if value is None else str(value) for value in column]
    folded = map(str.casefold, map(unicodedata.normalize, repeat("NFKC"), texts))
    return list(map(TOTALS_LABELS.__contains__, map("".join, map(str.split, folded))))


def _known_hits(cells: list[Any], known: set[str]) -> int:
    return sum(1 for value in cells if value is not None and normalise_label(str(value)) in known)


def _find_header(grid: list[list[Any]], known: set[str]) -> int:
    for index, cells in enumerate(grid[:HEADER_SEARCH_ROWS]):
        if _known_hits(cells, known) >= 2:
            return index
    raise UnreadablePayload(
        "no header row naming the expected fields in the first 20 rows; the file is not in this feed's "
        "layout (or its headers are spelled in a way the contract's aliases do not know: add the spelling "
        "to the contract in plugins/epifeeds/feeds/contracts.py)"
    )


HEADER_SEARCH_ROWS = 20


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _padded(cells: list[Any], width: int) -> list[Any]:
    return cells if len(cells) >= width else [*cells, *([None] * (width - len(cells)))]


def _header_of(head: list[list[Any]], known: set[str], width: int) -> tuple[list[HeaderCell], int]:
    """The header cells (one or two rows) and the index of the first data row in `head`."""
    header_index = _find_header(head, known)
    top = _padded(head[header_index], width)
    sub, data_start = top, header_index + 1
    if data_start < len(head):
        below = _padded(head[data_start], width)
        differing = [b for t, b in zip(top, below, strict=True) if _text(b) and _text(b) != _text(t)]
        if _known_hits(differing, known) >= 1:
            sub, data_start = below, data_start + 1
    header = [
        HeaderCell(_text(t), _text(s) or _text(t)) for t, s in zip(top, sub, strict=True)
    ]  # a blank sub label (under a vertically merged cell exported to CSV) falls back to the top label
    return header, data_start


def _data_rows(table: RawTable, numbered: Iterable[tuple[int, list[Any]]], width: int, blank) -> Iterator:
    for row_number, cells in numbered:
        if blank(cells):
            table.blank_rows += 1
            continue
        yield row_number, _padded(cells, width)


def _table_from_grid(grid: list[list[Any]], known: set[str], *, encoding: str | None) -> RawTable:
    """Header detection (one or two rows) and the data rows under it, of a grid held whole (XLSX)."""
    header_index = _find_header(grid, known)
    width = max(len(cells) for cells in grid[header_index:]) if grid else 0
    header, data_start = _header_of(grid[: HEADER_SEARCH_ROWS + 1], known, width)
    table = RawTable(header=header, rows=[], encoding=encoding)
    numbered = ((index + 1, grid[index]) for index in range(data_start, len(grid)))
    table.rows = list(_data_rows(table, numbered, width, is_blank))
    return table


# ------------------------------------------------------------------------------------------------- CSV


class _Bytes(io.RawIOBase):
    """A read-only stream over a buffer, without copying it (io.BytesIO copies a memoryview)."""

    def __init__(self, view: memoryview) -> None:
        self.view, self.at = view, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - io's protocol
        taken = self.view[self.at : self.at + len(buffer)]
        buffer[: len(taken)] = taken
        self.at += len(taken)
        return len(taken)


def _lines(view: memoryview, encoding: str) -> Iterator[str]:
    """The text's lines, decoded as they are read, line ends kept as written (a leading BOM dropped)."""
    text = io.TextIOWrapper(io.BufferedReader(_Bytes(view), 1 << 16), encoding=encoding, newline="")
    first = text.readline()
    if first:
        yield first.lstrip("\ufeff")
    yield from text


def _shape(view: memoryview, encoding: str, delimiter: str) -> tuple[list[int], int, int]:
    """One pass over the file as CSV in that encoding: the lengths of its first rows, the longest row after
    them and how many rows. Raises UnicodeDecodeError when the file is not in that encoding."""
    rows = csv.reader(_lines(view, encoding), delimiter=delimiter)
    first = [len(cells) for cells in islice(rows, HEADER_SEARCH_ROWS + 1)]
    longest, count = 0, len(first)
    for cells in rows:
        longest, count = max(longest, len(cells)), count + 1
    return first, longest, count


def _encodings(view: memoryview) -> list[str]:
    for bom, encoding in BOMS[:1]:
        if view[: len(bom)] == bom:
            return [encoding, *FALLBACK_ENCODINGS]
    return list(FALLBACK_ENCODINGS)


def _delimiter(payload: bytes, view: memoryview, encoding: str) -> str:
    end = payload.find(b"\n")
    first_line = str(view[:end] if end >= 0 else view, encoding, errors="replace")
    return "\t" if "\t" in first_line and "," not in first_line else ","


def _read_csv_stream(payload: bytes, known: set[str]) -> RawTable:
    """A UTF-8 or GBK CSV, read in two streamed passes (its shape, then its rows): never a whole grid."""
    cut = payload.rfind(b"\n") + 1
    view = memoryview(payload)[:cut] if cut else memoryview(payload)
    tail_bytes = payload[cut:] if cut else b""
    for encoding in _encodings(view):
        delimiter = _delimiter(payload, view, encoding)
        try:
            first, longest, count = _shape(view, encoding, delimiter)
            break
        except UnicodeDecodeError:
            continue
        except csv.Error as error:  # e.g. a field beyond csv.field_size_limit, a NUL in an unquoted field
            raise UnreadablePayload(f"not a readable CSV file ({error})") from None
    else:
        raise _not_text()
    rows = csv.reader(_lines(view, encoding), delimiter=delimiter)
    head = [list(cells) for cells in islice(rows, HEADER_SEARCH_ROWS + 1)]
    header_index = _find_header(head, known)
    width = max([*first[header_index:], longest])
    header, data_start = _header_of(head, known, width)
    table = RawTable(header=header, rows=[], encoding=encoding)
    numbered = chain(((n + 1, head[n]) for n in range(data_start, len(head))), enumerate(rows, len(head) + 1))
    table.rows = _data_rows(table, numbered, width, _blank_text)
    table.notes.append(f"read as {encoding} CSV")
    tail = tail_bytes.decode(encoding.replace("utf-8-sig", "utf-8"), errors="replace")
    _note_truncation(table, tail, count, len(payload))
    return table


def _blank_text(cells: list[str]) -> bool:
    return not "".join(cells).strip()  # csv cells are text: blank when all of them are white space


def _note_truncation(table: RawTable, tail: str, rows: int, size: int) -> None:
    if tail.strip():
        table.truncated_row = (rows + 1, tail)
        table.notes.append(
            f"truncated: the file ends inside row {rows + 1} ({size} bytes, no final line end)"
        )


def read_csv_table(payload: bytes, known: set[str]) -> RawTable:
    """A CSV (or tab-separated) file as a table; an unfinished last line becomes `truncated_row`."""
    if not payload.strip():
        raise UnreadablePayload(f"the file is empty ({len(payload)} bytes): nothing to read")
    check_csv(payload)  # size and line count before decoding (feeds/limits.py)
    if not payload.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _read_csv_stream(payload, known)
    text, encoding = decode_text(payload)  # UTF-16: line ends are two bytes; split on text
    complete, tail = (text, "") if text.endswith("\n") else text.rpartition("\n")[::2]
    first_line = complete.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    try:
        grid = [list(row) for row in csv.reader(io.StringIO(complete, newline=""), delimiter=delimiter)]
    except csv.Error as error:
        raise UnreadablePayload(f"not a readable CSV file ({error})") from None
    table = _table_from_grid(grid, known, encoding=encoding)
    table.notes.append(f"read as {encoding} CSV")
    _note_truncation(table, tail, len(grid), len(payload))
    return table


# ------------------------------------------------------------------------------------------------ XLSX


def read_xlsx_table(payload: bytes, known: set[str]) -> RawTable:
    """The first sheet that has a header row; merged cells carry their value into every cell they cover."""
    if not payload:
        raise UnreadablePayload("the file is empty (0 bytes): nothing to read")
    scan = check_xlsx(payload)  # cells, merged ranges, inflated size: before a reader builds them
    problem: UnreadablePayload | None = None
    for title, grid in read_xlsx_grids(payload, scan):
        try:
            table = _table_from_grid(grid, known, encoding=None)
        except UnreadablePayload as error:
            problem = error
            continue
        table.notes.append(f"read from XLSX sheet {title!r}")
        return table
    raise problem or UnreadablePayload("the workbook has no sheets")
