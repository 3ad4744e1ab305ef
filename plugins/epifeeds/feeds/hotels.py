"""Isolation-hotel daily reports (隔离点日报): one XLSX (merged two-row header) or JSON per hotel and day.

`<drop>/hotel_reports/<hotel_id>/<report date>.xlsx|json`; the folder names the reporting hotel, which must
be in the isolation_hotels registry. One file lands twice, as two slices of the same (hotel, day):
`hotel_reports` (rooms, guests, check-ins, check-outs, staff) and `hotel_check_ins` (check-ins by source
district, one row per district of the hotel's city, zeros included, so a corrected count of zero
supersedes an earlier one). Source districts are resolved through the alias table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from epifeeds.feeds.contracts import HOTEL_CHECK_INS, HOTEL_REPORTS, ISOLATION_HOTELS
from epifeeds.feeds.drop_ingest import DropFeed, DropRun, ingest_drop_files
from epifeeds.feeds.file_drop import DropFile
from epifeeds.feeds.limits import check_json
from epifeeds.feeds.names import DistrictRoster, normalise_label
from epifeeds.feeds.parsing import Reject, UnreadablePayload
from epifeeds.feeds.records import (
    FileParseResult,
    HeaderReport,
    RegisteredReporter,
    clean_id,
    header_report,
    local_date,
    map_header,
    require_columns,
    typed_value,
)
from epifeeds.feeds.tabular import HeaderCell, decode_text, is_totals_row, read_xlsx_table
from epifeeds.feeds.values import ValueProblem

DROP_FOLDER = "hotel_reports"


def _group_labels() -> set[str]:
    """Spellings of the group header over the per-district check-in columns (新入住人员来源（区县）)."""
    return {normalise_label(label) for label in HOTEL_CHECK_INS.column("check_ins").aliases}


@dataclass
class HotelRecord:
    """One report row as the file has it: its fields, and check-ins by source district as labelled."""

    row_number: int
    fields: dict[str, Any]
    check_ins_by_district: list[tuple[str, Any]]  # (district label as written, count as written)
    raw: dict[str, Any]
    lists_every_district: bool  # XLSX has a column per district; JSON lists non-zero districts only


@dataclass
class HotelParse:
    reports: FileParseResult
    check_ins: FileParseResult


XLSX_DERIVED = {"district_id", "submitted_at"}  # from the registry; XLSX has no submission time
JSON_DERIVED = {"district_id"}


def _records_from_xlsx(payload: bytes) -> tuple[list[HotelRecord], list[str], HeaderReport]:
    lookup = HOTEL_REPORTS.header_lookup()
    groups = _group_labels()
    table = read_xlsx_table(payload, set(lookup) | groups)
    district_columns = {
        index: cell.sub
        for index, cell in enumerate(table.header)
        if normalise_label(cell.top) in groups and cell.sub != cell.top
    }
    other = [
        cell if index not in district_columns else HeaderCell("", "")
        for index, cell in enumerate(table.header)
    ]
    mapping, unmatched = map_header(other, lookup)
    require_columns(
        HOTEL_REPORTS, set(mapping.values()), {"district_id", "report_date", "hotel_id"}, "hotel report"
    )
    notes = list(table.notes)
    if unmatched:
        notes.append(f"ignored column(s) {', '.join(unmatched)}")
    if table.blank_rows:
        notes.append(f"skipped {table.blank_rows} blank row(s)")
    records = []
    for row_number, cells in table.rows:
        if is_totals_row(cells):
            notes.append(f"dropped totals row {row_number} (合计)")
            continue
        records.append(
            HotelRecord(
                row_number=row_number,
                fields={name: cells[index] for index, name in mapping.items()},
                check_ins_by_district=[(label, cells[index]) for index, label in district_columns.items()],
                raw=table.as_dict(cells),
                lists_every_district=True,
            )
        )
    return records, notes, header_report(HOTEL_REPORTS, table.header, mapping, unmatched, XLSX_DERIVED)


def _json_header(documents: list[dict], lookup: dict[str, str], groups: set[str]) -> HeaderReport:
    """The keys of a JSON report as its header: matched, unknown and missing fields."""
    keys = list(dict.fromkeys(str(k) for d in documents for k in d))
    known = [k for k in keys if normalise_label(k) in lookup]
    unknown = [k for k in keys if normalise_label(k) not in lookup and normalise_label(k) not in groups]
    header = [HeaderCell(k, k) for k in known]
    mapping = {i: lookup[normalise_label(k)] for i, k in enumerate(known)}
    return header_report(HOTEL_REPORTS, header, mapping, unknown, JSON_DERIVED)


def _records_from_json(payload: bytes) -> tuple[list[HotelRecord], list[str], HeaderReport]:
    text, encoding = decode_text(payload)
    check_json(text, "hotel report JSON")  # size and nesting depth (feeds/limits.py)
    try:
        document = json.loads(text)
    except ValueError as error:
        raise UnreadablePayload(f"not JSON ({error})") from None
    documents = document if isinstance(document, list) else [document]
    if not documents or not all(isinstance(d, dict) for d in documents):
        raise UnreadablePayload("a hotel report in JSON is an object (or a list of objects), one per day")
    lookup = HOTEL_REPORTS.header_lookup()
    groups = _group_labels()
    records = []
    for row_number, item in enumerate(documents, start=1):
        fields = {lookup[label]: v for k, v in item.items() if (label := normalise_label(str(k))) in lookup}
        by_district = next((v for k, v in item.items() if normalise_label(str(k)) in groups), None) or {}
        if not isinstance(by_district, dict):
            raise UnreadablePayload("check_ins_by_district must be an object {district name: count}")
        records.append(
            HotelRecord(row_number, fields, list(by_district.items()), item, lists_every_district=False)
        )
    return records, [f"read as {encoding} JSON"], _json_header(documents, lookup, groups)


def parse_hotel_report(
    payload: bytes,
    *,
    file_format: str,
    hotel_label: str,
    report_date: date,
    received_at: datetime,
    hotels: Mapping[str, RegisteredReporter],
    roster: DistrictRoster,
) -> HotelParse:
    """Both slices of one hotel's file: the report row(s) and the check-ins by source district."""
    if file_format == "xlsx":
        records, notes, header = _records_from_xlsx(payload)
    elif file_format == "json":
        records, notes, header = _records_from_json(payload)
    else:
        raise UnreadablePayload(f"hotel reports come as XLSX or JSON, not {file_format!r}")
    parsed = HotelParse(FileParseResult(notes=list(notes), header=header), FileParseResult(notes=list(notes)))
    seen: dict[str, int] = {}
    for record in records:
        try:  # who and when: without these neither slice can land
            hotel_id, day = _identity(record, hotel_label, report_date, received_at, hotels)
            if hotel_id in seen:
                raise ValueProblem(
                    f"duplicate report for hotel {hotel_id} on {day}: row {seen[hotel_id]} already has it"
                )
        except ValueProblem as problem:
            parsed.reports.rejects.append(Reject(record.row_number, record.raw, str(problem)))
            for label, count in record.check_ins_by_district:
                raw = {"hotel_id": hotel_label, "source_district": label, "check_ins": _plain(count)}
                parsed.check_ins.rejects.append(Reject(record.row_number, raw, str(problem)))
            continue
        seen[hotel_id] = record.row_number
        try:
            parsed.reports.rows.append(_report_row(record, hotel_id, day, hotels[hotel_id]))
        except ValueProblem as problem:
            parsed.reports.rejects.append(Reject(record.row_number, record.raw, str(problem)))
        _check_in_rows(record, hotel_id, day, roster, hotels[hotel_id].district_id, parsed.check_ins)
    return parsed


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float) else str(value)


def _identity(
    record: HotelRecord,
    hotel_label: str,
    report_date: date,
    received_at: datetime,
    hotels: Mapping[str, RegisteredReporter],
) -> tuple[str, date]:
    """The row's hotel and day, checked against the file's folder, its name and the registry."""
    hotel_id = clean_id(record.fields.get("hotel_id")) or clean_id(hotel_label)
    if hotel_id != clean_id(hotel_label):
        raise ValueProblem(
            f"the row names hotel {hotel_id}, but the file came from hotel {hotel_label}'s folder"
        )
    hotel = hotels.get(hotel_id)
    if hotel is None:
        raise ValueProblem(
            f"unknown hotel {hotel_id}: not in the isolation_hotels registry; if it was requisitioned recently, "
            "the registry must list it first (then replay this file), otherwise ask the hotel to correct its id"
        )
    day = typed_value(HOTEL_REPORTS, "report_date", record.fields.get("report_date")) or report_date
    if day != report_date:
        raise ValueProblem(f"report_date {day} does not match the file's day {report_date}")
    if report_date > local_date(received_at):
        raise ValueProblem(f"report_date {report_date} is in the future (received {local_date(received_at)})")
    if report_date < hotel.active_from:
        raise ValueProblem(
            f"hotel {hotel_id} reports for {report_date}, before it was requisitioned on {hotel.active_from}"
        )
    return hotel_id, report_date


def _report_row(record: HotelRecord, hotel_id: str, day: date, hotel: RegisteredReporter) -> dict[str, Any]:
    row: dict[str, Any] = {"hotel_id": hotel_id, "district_id": hotel.district_id, "report_date": day}
    for column in HOTEL_REPORTS.columns:
        if column.name in row:
            continue
        typed = typed_value(HOTEL_REPORTS, column.name, record.fields.get(column.name))
        if typed is None and column.required:
            raise ValueProblem(f"required field {column.name!r} is missing or blank")
        row[column.name] = typed
    return row


def _check_in_rows(
    record: HotelRecord,
    hotel_id: str,
    day: date,
    roster: DistrictRoster,
    hotel_district: str,
    out: FileParseResult,
) -> None:
    """One row per source district; districts a JSON report leaves out checked in nobody (0)."""
    listed: dict[str, str] = {}
    for label, count in record.check_ins_by_district:
        raw = {"hotel_id": hotel_id, "source_district": label, "check_ins": _plain(count)}
        district_id = roster.resolve(str(label)) if label else None
        try:
            if district_id is None:
                raise ValueProblem(
                    f"unknown source district {label!r}: not in the district alias table; if it is a real spelling, "
                    "add it to dbt_project/seeds/district_aliases.csv, otherwise ask the hotel to correct it"
                )
            if district_id in listed:
                raise ValueProblem(
                    f"source district {district_id} is listed twice (also as {listed[district_id]!r})"
                )
            checked_in = typed_value(HOTEL_CHECK_INS, "check_ins", count)
        except ValueProblem as problem:
            out.rejects.append(Reject(record.row_number, raw, str(problem)))
            continue
        listed[district_id] = str(label)
        out.rows.append(_check_in(hotel_id, day, district_id, str(label), checked_in or 0))
    if not record.lists_every_district:
        city = roster.jurisdiction_of(hotel_district)
        implied = [d for d in roster.districts_of(city) if d.district_id not in listed]
        for district in implied:
            out.rows.append(_check_in(hotel_id, day, district.district_id, None, 0))
        if implied:
            out.notes.append(f"{len(implied)} source district(s) not listed: 0 check-ins from each")


def _check_in(hotel_id: str, day: date, district_id: str, label: str | None, count: int) -> dict[str, Any]:
    return {
        "hotel_id": hotel_id,
        "report_date": day,
        "source_district_id": district_id,
        "source_district_name_reported": label,
        "check_ins": count,
    }


def _land_hotel_file(context: DropRun, drop_file: DropFile) -> None:
    reporter = clean_id(drop_file.reporter_label)
    payload = context.read(drop_file, reporter)
    if payload is None:
        return  # the drop could not read it: listed, and the run fails at the end
    cache: dict[str, HotelParse] = {}

    def parse_once(raw: bytes) -> HotelParse:
        if "parsed" not in cache:
            cache["parsed"] = parse_hotel_report(
                raw,
                file_format=drop_file.file_format,
                hotel_label=drop_file.reporter_label,
                report_date=drop_file.report_date,
                received_at=drop_file.arrived_at,
                hotels=context.registered,
                roster=context.roster,
            )
        return cache["parsed"]

    for contract, pick in ((HOTEL_REPORTS, "reports"), (HOTEL_CHECK_INS, "check_ins")):
        context.land(
            contract, reporter, drop_file, payload, lambda raw, pick=pick: getattr(parse_once(raw), pick)
        )


HOTEL_DROP = DropFeed(DROP_FOLDER, HOTEL_REPORTS.feed, ISOLATION_HOTELS, _land_hotel_file, slices_per_file=2)


def ingest_hotel_reports(
    warehouse_dsn: str, archive_url: str, drop_url: str, report_dates: list[date], as_of: datetime
) -> dict[str, Any]:
    """Take every hotel file for the report dates that had arrived by `as_of` and is new; land both slices."""
    return ingest_drop_files(HOTEL_DROP, warehouse_dsn, archive_url, drop_url, report_dates, as_of)
