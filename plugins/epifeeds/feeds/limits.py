"""What a delivery may weigh before it is parsed: file size, rows, XLSX cells and merged ranges, JSON depth.

Each check runs at the entry of reading, before the expensive step it protects (a reader fills every cell
of a merged range and of the sheet's bounding box, json.loads recurses per nesting level), and raises `FileTooLarge`, an UnreadablePayload:
the file is then quarantined with the message, and its bytes stay in the archive. A 5 KB XLSX whose merged
range spans the sheet (A10:XFD1048576, 17 billion cells) is refused in milliseconds instead of running
out of memory; hotel JSON nested 100,000 deep is refused instead of raising RecursionError.

The limits come from the environment (EPIFEEDS_MAX_FILE_MB, EPIFEEDS_MAX_ROWS, EPIFEEDS_MAX_XLSX_CELLS,
EPIFEEDS_MAX_MERGED_CELLS, EPIFEEDS_MAX_JSON_DEPTH), with defaults far above what any agency sends (a
province's testing-site registry is about 18 MB and 50,000 rows). A testing-site CSV is streamed (read,
typed and landed a chunk of rows at a time), so its memory is its bytes plus one chunk; other files are
parsed whole, so for them the largest file accepted sets the peak (docs/reliability.md).
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from itertools import accumulate

from epifeeds.feeds.parsing import UnreadablePayload


class FileTooLarge(UnreadablePayload):
    """The file is beyond a declared limit; it is refused, not parsed."""


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 32 * 1024 * 1024  # a province's registry is about 18 MB
    max_rows: int = 200_000
    max_xlsx_cells: int = 5_000_000
    max_merged_cells: int = 100_000  # cells covered by one merged range
    max_xlsx_uncompressed_bytes: int = 512 * 1024 * 1024  # a zip bomb's inflated size
    max_json_depth: int = 32


def load_limits() -> Limits:
    env = os.environ

    def number(name: str, default: int, scale: int = 1) -> int:
        value = env.get(name, "").strip()
        return int(float(value) * scale) if value else default

    base = Limits()
    return Limits(
        max_file_bytes=number("EPIFEEDS_MAX_FILE_MB", base.max_file_bytes, 1024 * 1024),
        max_rows=number("EPIFEEDS_MAX_ROWS", base.max_rows),
        max_xlsx_cells=number("EPIFEEDS_MAX_XLSX_CELLS", base.max_xlsx_cells),
        max_merged_cells=number("EPIFEEDS_MAX_MERGED_CELLS", base.max_merged_cells),
        max_xlsx_uncompressed_bytes=base.max_xlsx_uncompressed_bytes,
        max_json_depth=number("EPIFEEDS_MAX_JSON_DEPTH", base.max_json_depth),
    )


def file_too_large(size: int, what: str, max_bytes: int) -> FileTooLarge:
    """The refusal of a file of `size` bytes beyond the size limit, in the words a sender can act on."""
    return FileTooLarge(
        f"the {what} is {size / 2**20:.1f} MB, above the limit of {max_bytes / 2**20:.0f} MB "
        "(EPIFEEDS_MAX_FILE_MB); ask the sender to split it, or raise the limit if it is genuine"
    )


def check_file_size(payload: bytes, what: str, limits: Limits | None = None) -> None:
    limits = limits or load_limits()
    if len(payload) > limits.max_file_bytes:
        raise file_too_large(len(payload), what, limits.max_file_bytes)


def check_row_count(rows: int, what: str, limits: Limits | None = None) -> None:
    limits = limits or load_limits()
    if rows > limits.max_rows:
        raise FileTooLarge(
            f"the {what} has {rows} rows, above the limit of {limits.max_rows} (EPIFEEDS_MAX_ROWS)"
        )


def check_csv(payload: bytes, limits: Limits | None = None) -> None:
    """Size and line count of a CSV, before it is decoded."""
    limits = limits or load_limits()
    check_file_size(payload, "CSV file", limits)
    check_row_count(payload.count(b"\n"), "CSV file", limits)


_CELL_REF = re.compile(r"^\$?([A-Z]{1,3})\$?(\d{1,7})$")


def _cell(reference: str) -> tuple[int, int]:
    """(row, column) of an A1 reference such as XFD1048576."""
    found = _CELL_REF.match(reference.strip().upper())
    if not found:
        raise FileTooLarge(f"the workbook holds a malformed cell reference {reference[:30]!r}")
    letters, row = found.groups()
    return int(row), _column_number(letters)


def range_cells(reference: str) -> int:
    """Cells a range such as A10:XFD1048576 covers (a single cell: 1)."""
    first, _, last = reference.partition(":")
    (row1, col1), (row2, col2) = _cell(first), _cell(last or first)
    return (abs(row2 - row1) + 1) * (abs(col2 - col1) + 1)


@dataclass(frozen=True)
class XlsxScan:
    """What the limits check saw in a workbook's XML, for the reader: the grid each sheet spans (cells
    and merged ranges, as openpyxl fills it) and whether something only openpyxl reads as openpyxl does
    is there (error cells, _xHHHH_ escapes, phonetic runs, the 1904 date system)."""

    shapes: dict[str, tuple[int, int]]  # sheet XML path -> (rows, columns)
    needs_openpyxl: bool = False


def check_xlsx(payload: bytes, limits: Limits | None = None) -> XlsxScan:
    """Size, inflated size, cells and merged ranges of every sheet, read from the XML without building it."""
    limits = limits or load_limits()
    check_file_size(payload, "XLSX file", limits)
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except (zipfile.BadZipFile, ValueError, OSError):
        return XlsxScan({})  # not a zip: the reader says so in its own words
    with archive:
        members = archive.infolist()
        inflated = sum(member.file_size for member in members)
        if inflated > limits.max_xlsx_uncompressed_bytes:
            raise FileTooLarge(
                f"the XLSX file inflates to {inflated / 1e6:.0f} MB ({len(payload) / 1e3:.0f} KB packed), above "
                f"{limits.max_xlsx_uncompressed_bytes / 1e6:.0f} MB: refused as a zip bomb"
            )
        shapes, special = {}, False
        for member in members:
            name = member.filename
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                shape, odd = _check_sheet(archive, name, limits)
                shapes[name], special = shape, special or odd
            elif name in ("xl/sharedStrings.xml", "xl/workbook.xml"):
                special = special or _scan_member(archive, name, _OPENPYXL_ONLY_TEXT)
        return XlsxScan(shapes, special)


# A sheet's XML, scanned with compiled patterns in pieces (C speed, bounded memory) rather than parsed.
# Tags are matched with a namespace prefix (<x:c ...>) only in a piece that has one: a pattern that starts
# with a literal ('<c') is searched several times faster than one that starts with an optional group.
@dataclass(frozen=True)
class _SheetPatterns:
    cell: re.Pattern[bytes]
    reference_first: re.Pattern[bytes]  # r="..." as the first attribute, as Excel and openpyxl write it
    reference: re.Pattern[bytes]  # r="..." anywhere in the tag
    row: re.Pattern[bytes]
    merge: re.Pattern[bytes]

    @classmethod
    def of(cls, tag: bytes) -> _SheetPatterns:
        return cls(
            re.compile(tag + rb"c[\s/>]"),
            re.compile(tag + rb"c r=\"([^\"]*)\""),
            re.compile(tag + rb"c\s[^>]*?\br=\"([^\"]*)\""),
            re.compile(tag + rb"row[\s/>]"),
            re.compile(tag + rb"mergeCell\s[^>]*?\bref=\"([^\"]*)\""),
        )


_PLAIN, _PREFIXED = _SheetPatterns.of(rb"<"), _SheetPatterns.of(rb"<(?:[\w.-]+:)?")
_WELL_FORMED_REFS = re.compile(rb"(?:\$?[A-Z]{1,3}\$?\d{1,7} )*")
_REF_COLUMNS, _REF_ROWS = re.compile(rb"([A-Z]{1,3})\$?\d"), re.compile(rb"(\d+) ")
_ESCAPE = re.compile(rb"_x[0-9A-Fa-f]{4}_")
_OPENPYXL_ONLY_TEXT = re.compile(rb"_x[0-9A-Fa-f]{4}_|<(?:[\w.-]+:)?rPh[\s>]|date1904=\"(?:1|true)\"")
_PIECE = 1 << 20
_LONGEST_ELEMENT = 16 << 20


def _pieces(archive: zipfile.ZipFile, name: str):
    """The member in pieces that each end before a '<' (no tag is cut in two)."""
    carry = b""
    with archive.open(name) as stream:
        while chunk := stream.read(_PIECE):
            data = carry + chunk
            cut = data.rfind(b"<")
            if cut <= 0:  # one element longer than a piece: keep reading it whole, within a bound
                if len(data) > _LONGEST_ELEMENT:
                    raise FileTooLarge(f"{name} holds an XML element longer than {_LONGEST_ELEMENT} bytes")
                carry = data
                continue
            carry = data[cut:]
            yield data[:cut]
    if carry:
        yield carry


def _scan_member(archive: zipfile.ZipFile, name: str, pattern: re.Pattern[bytes]) -> bool:
    try:
        return any(pattern.search(piece) for piece in _pieces(archive, name))
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, zlib.error):
        return False


@dataclass
class _SheetTally:
    sheet: str
    limits: Limits
    cells: int = 0
    rows: int = 0
    last_row: int = 0
    last_column: int = 0
    odd: bool = False

    def add(self, piece: bytes) -> None:
        prefixed = b":c" in piece or b":row" in piece or b":mergeCell" in piece
        patterns = _PREFIXED if prefixed else _PLAIN
        cells = len(patterns.cell.findall(piece))
        self.cells += cells
        if self.cells > self.limits.max_xlsx_cells:
            raise FileTooLarge(
                f"sheet {self.sheet} of the XLSX file has more than {self.limits.max_xlsx_cells} cells "
                "(EPIFEEDS_MAX_XLSX_CELLS)"
            )
        self.rows += len(patterns.row.findall(piece))
        check_row_count(self.rows, f"XLSX sheet {self.sheet}", self.limits)
        references = patterns.reference_first.findall(piece)
        self._extend(references if len(references) == cells else patterns.reference.findall(piece))
        if b"mergeCell" in piece:
            for reference in patterns.merge.findall(piece):
                self._merged(reference.decode("ascii", "replace"))
        # error cells (t="e") and what only openpyxl decodes alike: the workbook is read with openpyxl
        self.odd = (
            self.odd
            or b't="e"' in piece
            or b"rPh" in piece
            or (b"_x" in piece and bool(_ESCAPE.search(piece)))
        )

    def _extend(self, references: list[bytes]) -> None:
        if not references:
            return
        joined = b" ".join(references).upper() + b" "
        if not _WELL_FORMED_REFS.fullmatch(joined):
            bad = next(r for r in references if not _WELL_FORMED_REFS.fullmatch(r.upper() + b" "))
            raise FileTooLarge(
                f"the workbook holds a malformed cell reference {bad[:30].decode('ascii', 'replace')!r}"
            )
        columns = {_column_number(letters.decode()) for letters in set(_REF_COLUMNS.findall(joined))}
        self.last_column = max(self.last_column, *columns)
        self.last_row = max(self.last_row, *map(int, _REF_ROWS.findall(joined)))

    def _merged(self, reference: str) -> None:
        covered = range_cells(reference)
        for corner in reference.split(":"):
            row, column = _cell(corner)
            self.last_row, self.last_column = max(self.last_row, row), max(self.last_column, column)
        if covered > self.limits.max_merged_cells:
            raise FileTooLarge(
                f"sheet {self.sheet} of the XLSX file merges {reference} ({covered} cells), above the "
                f"limit of {self.limits.max_merged_cells} cells per merged range "
                "(EPIFEEDS_MAX_MERGED_CELLS): ask the sender to unmerge the cells and save it again"
            )


def _column_number(letters: str) -> int:
    column = 0
    for letter in letters:
        column = column * 26 + ord(letter) - 64
    return column


def _check_sheet(archive: zipfile.ZipFile, name: str, limits: Limits) -> tuple[tuple[int, int], bool]:
    """Cells, rows, the bounding box the reader will fill (one cell at XFD1048576 makes a grid of 17
    billion) and every merged range of one sheet; returns the box and whether openpyxl must read it."""
    tally = _SheetTally(name.rsplit("/", 1)[-1], limits)
    try:
        for piece in _pieces(archive, name):
            tally.add(piece)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, zlib.error):
        return (0, 0), False  # a broken sheet: the reader reports it as unreadable
    if tally.last_row * tally.last_column > limits.max_xlsx_cells:
        raise FileTooLarge(
            f"sheet {tally.sheet} of the XLSX file spans {tally.last_row} rows by {tally.last_column} columns, a "
            f"grid above the limit of {limits.max_xlsx_cells} cells (EPIFEEDS_MAX_XLSX_CELLS): ask the sender to "
            "clear the cells far from the table and save it again"
        )
    return (tally.last_row, tally.last_column), tally.odd


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEP = [1 if byte in b"[{" else -1 for byte in range(256)]  # what a bracket does to the depth
_JSON_WINDOW = 1 << 18  # 256 KB: its strings taken out cost about 16 times that at the peak


def json_depth(document: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, without parsing it: its strings taken out
    (brackets inside them are text), a window at a time so that memory stays flat whatever the size."""
    depth = deepest = position = 0
    window = _JSON_WINDOW
    while position < len(document):
        end = min(position + window, len(document))
        outside = _JSON_STRING.sub(b"", document[position:end])
        cut = outside.find(b'"')  # a string the window's end cut open: the next window starts at its quote
        if cut < 0 or end == len(document):
            cut, resume = len(outside), end
        else:
            resume = end - (len(outside) - cut)
        if resume == position:  # one string longer than the window: widen it
            window *= 2
            continue
        brackets = outside[:cut].translate(None, _NOT_BRACKETS)
        deepest = max(deepest, *accumulate(map(_STEP.__getitem__, brackets), initial=depth))
        depth += sum(brackets.count(b) for b in (b"[", b"{")) - sum(brackets.count(b) for b in (b"]", b"}"))
        position, window = resume, _JSON_WINDOW
    return deepest


def check_json(payload: bytes | str, what: str, limits: Limits | None = None) -> None:
    """Size and nesting depth of a JSON document, before json.loads."""
    limits = limits or load_limits()
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    check_file_size(data, what, limits)
    depth = json_depth(data)
    if depth > limits.max_json_depth:
        raise FileTooLarge(
            f"the {what} nests {depth} levels deep, above the limit of {limits.max_json_depth} "
            "(EPIFEEDS_MAX_JSON_DEPTH); it is not in the feed's layout"
        )
