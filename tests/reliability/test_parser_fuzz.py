"""Every parser, fuzzed with hypothesis: district JSON, site CSV and XLSX, hotel JSON and XLSX, registries,
bulletins. Whatever the input, a parser either refuses the whole file (UnreadablePayload, which
quarantines it) or accounts for every record: each one a row or a reject with a reason, and no row
outside its contract's bounds. Two of them land through the real loader on a real Postgres, where a
hostile value must become a reject, never a failed COPY: rows_read = rows_landed + rows_rejected for
every batch, and the archive holds every payload byte for byte.

Example counts are small (CI time) and derandomized, so a run is repeatable and a failure reproduces.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from epifeeds.feeds.contracts import (
    DISTRICT_REPORTS,
    HOTEL_REPORTS,
    ISOLATION_HOTELS,
    TESTING_SITE_REPORTS,
    TESTING_SITES,
    FeedContract,
)
from epifeeds.feeds.hotels import parse_hotel_report
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import ParseResult, UnreadablePayload, parse_district_records
from epifeeds.feeds.records import RegisteredReporter
from epifeeds.feeds.registries import parse_registry
from epifeeds.feeds.testing_sites import parse_testing_site_file
from epifeeds.feeds.values import control_characters_in
from epifeeds.landing.archive import read_archived
from epifeeds.landing.loader import Delivery, land_delivery
from epifeeds.landing.schema import ensure_landing_schema
from tests.conftest import BEIJING_CSV

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)
DAY = date(2022, 3, 1)
RECEIVED = datetime(2022, 3, 2, 1, 0, tzinfo=UTC)
ROSTER = load_district_roster()
SITES = {
    f"TS14010500{n:02d}": RegisteredReporter(f"TS14010500{n:02d}", "140105", date(2022, 1, 1), None)
    for n in range(1, 20)
}
HOTELS = {"H140105001": RegisteredReporter("H140105001", "140105", date(2022, 1, 1), None)}

HOSTILE = st.sampled_from(
    ["3000000000", "1e30", "-1", "nan", "inf", "１２３", "1,234", "\x00", "a\x00b", "\x1b[31m", chr(0xD800),
     "合计", "10混1", "99999999999混1", "2022-03-01", "2022-13-45", "", " ", "9" * 5000, "小店区", "太原市小店区"]
)  # fmt: skip
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**40), 10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    HOSTILE,
)
JSON_VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)  # fmt: skip


def labels_of(contract: FeedContract) -> list[str]:
    return [label for column in contract.columns for label in (column.name, *column.aliases)]


def records(contract: FeedContract) -> st.SearchStrategy[list[Any]]:
    """Records keyed by the contract's own spellings (and strangers), holding anything."""
    keys = st.one_of(st.sampled_from(labels_of(contract)), st.text(max_size=6), HOSTILE)
    record = st.dictionaries(keys, st.one_of(SCALAR, JSON_VALUE), max_size=12)
    return st.lists(st.one_of(record, record, record, JSON_VALUE), max_size=8)


def assert_accounted(result: ParseResult, contract: FeedContract, expected_records: int | None) -> None:
    """Every record is a row or a reject with a reason; rows within the contract's bounds."""
    if expected_records is not None:
        assert len(result.rows) + len(result.rejects) == expected_records
    assert all(reject.reason.strip() for reject in result.rejects)
    for row in result.rows:
        for column in contract.columns:
            value = row.get(column.name)
            if column.is_count and value is not None:
                assert 0 <= value <= column.upper_bound
            if isinstance(value, str):
                assert not control_characters_in(value), (column.name, value)


# --- district JSON ----------------------------------------------------------------------------------------


@FUZZ
@given(records(DISTRICT_REPORTS))
def test_district_records(items):
    result = parse_district_records(
        DISTRICT_REPORTS, items, report_date=DAY, received_at=RECEIVED, roster=ROSTER
    )
    assert_accounted(result, DISTRICT_REPORTS, len(items))


# --- registries ---------------------------------------------------------------------------------------------


@FUZZ
@given(
    st.sampled_from([TESTING_SITES, ISOLATION_HOTELS]),
    records(TESTING_SITES),
    st.booleans(),
    st.binary(max_size=40),
)
def test_registries(contract, items, wrapped, noise):
    document = {"registry": contract.feed, "as_of": "2022-03-01", "items": items} if wrapped else items
    payload = json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    for candidate, expected in ((payload, len(items)), (noise, None), (payload[: len(payload) // 2], None)):
        try:
            result = parse_registry(contract, candidate, roster=ROSTER, default_as_of=DAY)
        except UnreadablePayload as refused:
            assert str(refused)
            continue
        assert_accounted(result, contract, expected)


# --- testing-site CSV and XLSX ----------------------------------------------------------------------------

SITE_HEADER = ["采样点编号", "采样点名称", "日期", "混采模式", "采样人次", "采管数", "送检管数", "阳性管数"]
SITE_ID = st.one_of(st.sampled_from(sorted(SITES)), st.text(min_size=1, max_size=12).map(lambda t: "TS" + t), HOSTILE.filter(lambda t: t.strip() and t not in ("合计",)).map(lambda t: "TS" + t))  # fmt: skip
SITE_ROW = st.tuples(SITE_ID, *[st.one_of(SCALAR, HOSTILE)] * (len(SITE_HEADER) - 1))


def cell_text(value: Any) -> str:
    return "" if value is None else str(value)


def site_csv(header: list[str], rows: list[tuple], encoding: str) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[cell_text(v) for v in row] for row in rows])
    return text.getvalue().encode(encoding, "replace" if encoding == "gbk" else "surrogatepass")


def xlsx_of(grid: list[list[Any]]) -> bytes:
    workbook = Workbook()
    for cells in grid:
        workbook.active.append([_xlsx_safe(v) for v in cells])
    packed = io.BytesIO()
    workbook.save(packed)
    return packed.getvalue()


def _xlsx_safe(value: Any) -> Any:
    """What a spreadsheet can hold (XLSX refuses control characters and huge integers itself)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    if isinstance(value, str):
        return "".join(c for c in value if c.isprintable())
    if isinstance(value, float) and value != value:
        return "nan"
    return value if not isinstance(value, float) or abs(value) != float("inf") else "inf"


def parse_site(payload: bytes, file_format: str) -> ParseResult | None:
    try:
        return parse_testing_site_file(
            payload,
            file_format=file_format,
            district_id="140105",
            district_label="小店区 (140105)",
            report_date=DAY,
            received_at=RECEIVED,
            sites=SITES,
        )
    except UnreadablePayload as refused:
        assert str(refused)
        return None


@FUZZ
@given(
    st.lists(SITE_ROW, min_size=1, max_size=8),
    st.sampled_from(["utf-8", "utf-8-sig", "gbk"]),
    st.integers(0, 400),
)
def test_site_csv(rows, encoding, cut):
    payload = site_csv(SITE_HEADER, rows, encoding)
    result = parse_site(payload, "csv")
    if result is not None:  # at most one row or reject per record the file holds (blank and totals rows go)
        written = payload.decode(encoding, "replace").removeprefix("\ufeff")
        records_in_file = sum(1 for _ in csv.reader(io.StringIO(written, newline=""))) - 1
        assert_accounted(result, TESTING_SITE_REPORTS, None)
        assert len(result.rows) + len(result.rejects) <= records_in_file
    cut_short = parse_site(payload[: min(cut, len(payload))], "csv")  # an upload cut anywhere
    if cut_short is not None:
        assert_accounted(cut_short, TESTING_SITE_REPORTS, None)


@settings(
    max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)
@given(st.lists(SITE_ROW, min_size=1, max_size=6))
def test_site_xlsx(rows):
    result = parse_site(xlsx_of([SITE_HEADER, *[list(row) for row in rows]]), "xlsx")
    if result is not None:
        assert_accounted(result, TESTING_SITE_REPORTS, None)
        assert len(result.rows) + len(result.rejects) <= len(rows)


# --- hotel JSON and XLSX ------------------------------------------------------------------------------------


def parse_hotel(payload: bytes, file_format: str):
    try:
        return parse_hotel_report(
            payload,
            file_format=file_format,
            hotel_label="H140105001",
            report_date=DAY,
            received_at=RECEIVED,
            hotels=HOTELS,
            roster=ROSTER,
        )
    except UnreadablePayload as refused:
        assert str(refused)
        return None


@FUZZ
@given(
    records(HOTEL_REPORTS),
    st.dictionaries(st.one_of(HOSTILE, st.sampled_from(["小店区", "迎泽区"])), SCALAR, max_size=4),
)
def test_hotel_json(items, by_district):
    documents = [
        item | {"check_ins_by_district": by_district} if isinstance(item, dict) else item for item in items
    ]
    payload = json.dumps(documents, ensure_ascii=False).encode("utf-8", "surrogatepass")
    parsed = parse_hotel(payload, "json")
    if parsed is not None:
        assert_accounted(parsed.reports, HOTEL_REPORTS, len(documents))
        assert all(reject.reason for reject in parsed.check_ins.rejects)


@pytest.fixture(scope="module")
def hotel_xlsx(small_sim: Path) -> bytes:
    return next((small_sim / "file_drop" / "hotel_reports").rglob("*.xlsx")).read_bytes()


@settings(
    max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)
@given(st.lists(st.one_of(SCALAR, HOSTILE), min_size=12, max_size=12))
def test_hotel_xlsx(hotel_xlsx, values):
    """The simulator's real two-row-header workbook, its data cells replaced by anything."""
    workbook = load_workbook(io.BytesIO(hotel_xlsx))
    sheet = workbook.active
    for column, value in enumerate(values, start=1):
        sheet.cell(row=3, column=column, value=_xlsx_safe(value))
    packed = io.BytesIO()
    workbook.save(packed)
    parsed = parse_hotel(packed.getvalue(), "xlsx")
    if parsed is not None:
        assert_accounted(parsed.reports, HOTEL_REPORTS, None)


# --- bulletins ----------------------------------------------------------------------------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 60), st.one_of(SCALAR, HOSTILE)), max_size=6))
def test_bulletin(changes):
    """Beijing's real published bulletin (first days), cells replaced by anything."""
    from epifeeds.feeds.bulletin import parse_measure_records
    from epifeeds.feeds.bulletin_layout import CONTRACT, city_roster, read_wide_bulletin

    lines = BEIJING_CSV.read_text(encoding="utf-8-sig").splitlines()[:7]
    grid = [line.split(",") for line in lines]
    for row, column, value in changes:
        if column < len(grid[row]):
            grid[row][column] = cell_text(value).replace(",", "").replace("\n", "")
    payload = "\n".join(",".join(cells) for cells in grid).encode("utf-8", "surrogatepass")
    try:
        bulletin = read_wide_bulletin(payload, ROSTER)
    except UnreadablePayload as refused:
        assert str(refused)
        return
    scoped = city_roster(ROSTER, bulletin.layout.city.district_id)
    unpublished = bulletin.unpublished()
    for day in bulletin.report_dates:
        items = bulletin.records_for(day)
        published = datetime(2030, 1, 1, tzinfo=UTC)
        result = parse_district_records(
            CONTRACT, items, report_date=day, received_at=published, roster=scoped
        )
        assert_accounted(result, CONTRACT, len(items))
        measures = bulletin.measure_records_for(day, unpublished)
        assert len(parse_measure_records(measures).rows) + len(
            parse_measure_records(measures).rejects
        ) == len(measures)


# --- through the loader, on a real Postgres -----------------------------------------------------------------


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Any:
    from tests.conftest import create_database, drop_database, dsn_for

    name = create_database("epifeeds_test_fuzz")
    archive = str(tmp_path_factory.mktemp("fuzz-archive"))
    try:
        with psycopg.connect(dsn_for(name), autocommit=True) as conn:
            ensure_landing_schema(conn)
            yield conn, archive
    finally:
        drop_database(name)


def land_and_check(conn, archive: str, contract: FeedContract, payload: bytes, parse) -> None:
    delivery = Delivery(contract.feed, "140105", DAY, "file:///fuzz/2022-03-01", payload, RECEIVED)
    outcome = land_delivery(conn, contract, archive, delivery, parse)
    assert outcome.status in ("landed", "quarantined"), outcome
    assert not outcome.message.startswith("load error"), outcome.message
    if outcome.status == "landed":
        assert outcome.rows_read == outcome.rows_landed + outcome.rows_rejected
        in_table = conn.execute(
            f"select count(*) from {contract.landing_table} where _batch_id = %s", (outcome.batch_id,)
        ).fetchone()[0]
        assert in_table == outcome.rows_new_versions <= outcome.rows_landed
    sha = conn.execute(
        "select sha256 from landing.batches where batch_id = %s", (outcome.batch_id,)
    ).fetchone()[0]
    assert read_archived(archive, contract.feed, sha) == payload


@FUZZ
@given(records(DISTRICT_REPORTS))
def test_district_payloads_land_or_are_refused_never_crash(landing, items):
    conn, archive = landing
    pages = [json.dumps({"items": items}, ensure_ascii=True)]
    payload = json.dumps({"feed": "district_reports", "report_date": str(DAY), "pages": pages}).encode()

    def parse(raw: bytes) -> ParseResult:
        from epifeeds.feeds.http_client import records_from_pages

        return parse_district_records(DISTRICT_REPORTS, records_from_pages(raw), report_date=DAY, received_at=RECEIVED, roster=ROSTER)  # fmt: skip

    land_and_check(conn, archive, DISTRICT_REPORTS, payload, parse)


@FUZZ
@given(st.lists(SITE_ROW, min_size=1, max_size=8), st.sampled_from(["utf-8", "gbk"]))
def test_site_files_land_or_are_refused_never_crash(landing, rows, encoding):
    conn, archive = landing
    payload = site_csv(SITE_HEADER, rows, encoding)
    land_and_check(
        conn, archive, TESTING_SITE_REPORTS, payload, lambda raw: parse_site(raw, "csv") or _refuse()
    )


def _refuse() -> ParseResult:
    raise UnreadablePayload("refused by the parser (see test_site_csv)")
