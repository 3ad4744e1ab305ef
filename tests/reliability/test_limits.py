"""Small files, big damage: each declared limit refuses its file fast, with a message saying which limit."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from epifeeds.feeds import limits
from epifeeds.feeds.contracts import TESTING_SITES
from epifeeds.feeds.hotels import parse_hotel_report
from epifeeds.feeds.limits import FileTooLarge, Limits, check_xlsx, json_depth
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.registries import parse_registry
from epifeeds.feeds.testing_sites import read_site_table
from tests.reliability.test_one_bad_file import xlsx_bomb

pytestmark = pytest.mark.unit

HEADER = "采样点编号,采样点名称,日期,混采模式,采样人次,采管数\n"


def refused_within(seconds: float, read, *args) -> str:
    started = time.perf_counter()
    with pytest.raises(FileTooLarge) as refused:
        read(*args)
    elapsed = time.perf_counter() - started
    assert elapsed < seconds, f"refused after {elapsed:.2f} s"
    return str(refused.value)


def workbook_bytes(edit) -> bytes:
    workbook = Workbook()
    workbook.active.append(["采样点编号", "采样点名称", "采样人次", "采管数"])
    edit(workbook.active)
    packed = io.BytesIO()
    workbook.save(packed)
    return packed.getvalue()


def test_a_merged_range_over_the_whole_sheet_is_refused_in_milliseconds():
    bomb = xlsx_bomb()
    assert len(bomb) < 10_000
    message = refused_within(0.5, read_site_table, bomb, "xlsx")
    assert "A10:XFD1048576" in message and "17179721728 cells" in message


def test_one_cell_far_away_is_refused_before_the_grid_is_built():
    far = workbook_bytes(lambda sheet: sheet.cell(row=1_048_576, column=16_384, value="x"))
    message = refused_within(0.5, read_site_table, far, "xlsx")
    assert "1048576 rows by 16384 columns" in message


def test_a_zip_bomb_is_refused_by_its_inflated_size():
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * 5_000_000)
    assert len(packed.getvalue()) < 20_000
    with pytest.raises(FileTooLarge, match="zip bomb"):
        check_xlsx(packed.getvalue(), Limits(max_xlsx_uncompressed_bytes=1_000_000))


def test_deeply_nested_json_is_refused_not_a_recursion_error():
    nested = "[" * 200_000 + "]" * 200_000
    hotel = json.dumps({"hotel_id": "H140105001", "report_date": "2022-03-01"})[:-1] + f', "x": {nested}}}'

    def parse_hotel() -> None:
        parse_hotel_report(
            hotel.encode(),
            file_format="json",
            hotel_label="H140105001",
            report_date=date(2022, 3, 1),
            received_at=datetime(2022, 3, 2, tzinfo=UTC),
            hotels={},
            roster=load_district_roster(),
        )

    def parse_sites_registry() -> None:
        parse_registry(
            TESTING_SITES, nested.encode(), roster=load_district_roster(), default_as_of=date(2022, 3, 1)
        )

    assert "nests 200001 levels deep" in refused_within(2, parse_hotel)
    assert "nests 200000 levels deep" in refused_within(2, parse_sites_registry)


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "]]]]"}]}') == 3


def nesting(value) -> int:
    """The depth of a Python value as json.dumps writes it: the oracle, independent of the byte scanner."""
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


TEXT = st.text(alphabet=st.sampled_from('[]{}"\\\n,: a中'), max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, ascii_only=st.booleans(), window=st.integers(min_value=2, max_value=40))
def test_json_depth_is_the_documents_nesting_whatever_the_window(value, ascii_only, window):
    """The scan takes the document a window at a time: a string a window's end cuts open, an escape cut in
    two, strings longer than a window, must not change the depth."""
    document = json.dumps(value, ensure_ascii=ascii_only).encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(limits, "_JSON_WINDOW", window)
        assert json_depth(document) == nesting(value)


def test_json_depth_holds_a_window_not_the_document():
    """A 20 MB registry-like document is scanned with a peak of Python memory far below its size (a
    substitution over the whole document held 385 MB for 32 MB)."""
    entry = {"site_id": "TS1401050001", "site_name": "亲贤[1]号{采样点}", "ids": [1, 2, {"x": "y"}]}
    document = json.dumps([entry] * 220_000, ensure_ascii=False).encode()
    assert len(document) > 20 * 2**20
    tracemalloc.start()
    try:
        depth = json_depth(document)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert depth == nesting([entry]) == 4 and peak < len(document) / 4, f"peak {peak / 2**20:.1f} MiB"


def test_file_size_and_row_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("EPIFEEDS_MAX_FILE_MB", "1")
    big = (HEADER + "TS1401050001,某采样点,2022-03-01,10混1,100,10\n" * 30_000).encode()
    assert len(big) > 1_000_000
    assert "EPIFEEDS_MAX_FILE_MB" in refused_within(0.5, read_site_table, big, "csv")
    monkeypatch.setenv("EPIFEEDS_MAX_FILE_MB", "64")
    monkeypatch.setenv("EPIFEEDS_MAX_ROWS", "1000")
    assert "EPIFEEDS_MAX_ROWS" in refused_within(0.5, read_site_table, big, "csv")
    monkeypatch.setenv("EPIFEEDS_MAX_ROWS", "100")
    rows = workbook_bytes(lambda sheet: [sheet.append(["TS1401050001", "点", 1, 1]) for _ in range(150)])
    assert "EPIFEEDS_MAX_ROWS" in refused_within(0.5, read_site_table, rows, "xlsx")


def test_a_csv_field_beyond_the_csv_modules_limit_is_unreadable_not_a_crash():
    from epifeeds.feeds.parsing import UnreadablePayload

    huge_field = (HEADER + 'TS1401050001,"' + "x" * 200_000 + '",2022-03-01,10混1,100,10\n').encode()
    with pytest.raises(UnreadablePayload, match="not a readable CSV"):
        read_site_table(huge_field, "csv")


def test_a_far_cell_under_a_namespace_prefix_or_with_its_reference_last_is_refused_too():
    """The scan reads tags by pattern, not by parser: a prefixed <x:c> or a reference written after the
    other attributes still counts, so the reader never fills the grid they would span."""
    import re

    plain = workbook_bytes(lambda sheet: sheet.append(["TS1401050001", "点", 1, 1]))

    def rewritten(edit) -> bytes:
        packed = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(plain)) as source, zipfile.ZipFile(packed, "w") as target:
            for item in source.infolist():
                data = source.read(item)
                target.writestr(item, edit(data) if item.filename == "xl/worksheets/sheet1.xml" else data)
        return packed.getvalue()

    far = b'<c t="n" r="XFD1048576"><v>1</v></c></row>'
    reference_last = rewritten(lambda xml: xml.replace(b"</row></sheetData>", far + b"</sheetData>", 1))
    assert "1048576 rows by 16384 columns" in refused_within(0.5, read_site_table, reference_last, "xlsx")

    def prefixed(xml: bytes) -> bytes:
        xml = xml.replace(b'<worksheet xmlns="', b'<x:worksheet xmlns:x="', 1).replace(
            b"</worksheet>", b"</x:worksheet>"
        )
        xml = re.sub(rb"<(/?)(sheetData|row|c|v|is|t)\b", rb"<\1x:\2", xml)
        return xml.replace(
            b"</x:row></x:sheetData>", b'<x:c r="XFD1048576"><x:v>1</x:v></x:c></x:row></x:sheetData>', 1
        )

    assert "1048576 rows by 16384 columns" in refused_within(
        0.5, read_site_table, rewritten(prefixed), "xlsx"
    )
