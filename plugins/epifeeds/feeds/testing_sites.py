"""Testing-site daily reports (采样点日报): one CSV or XLSX per district and day, taken from the file drop.

`<drop>/testing_sites/<district>/<report date>.csv|xlsx`; the folder names the reporting district (a code,
or a name resolved through the alias table). One row per site; each site must be in the testing_sites
registry and belong to that district. Totals rows (合计) and blank rows are dropped and noted in the batch;
a row the upload cut short is rejected; the file's encoding is detected.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import psycopg

from epifeeds.feeds.contracts import TESTING_SITE_REPORTS, TESTING_SITES
from epifeeds.feeds.file_drop import FileDrop
from epifeeds.feeds.names import DistrictRoster, load_district_roster
from epifeeds.feeds.parsing import TRUNCATED_FILE_REASON, Reject, UnreadablePayload
from epifeeds.feeds.records import (
    FileParseResult,
    RegisteredReporter,
    clean_id,
    header_report,
    load_registered,
    local_date,
    map_header,
    outcome_record,
    parse_pool_size,
    require_columns,
    resolve_district,
    typed_value,
)
from epifeeds.feeds.tabular import RawTable, is_totals_row, read_csv_table, read_xlsx_table
from epifeeds.feeds.values import ValueProblem
from epifeeds.landing.ingest_run import IngestRun
from epifeeds.landing.loader import Delivery
from epifeeds.landing.schema import ensure_landing_schema

DROP_FOLDER = "testing_sites"
CONTRACT = TESTING_SITE_REPORTS


def read_site_table(payload: bytes, file_format: str) -> RawTable:
    known = set(CONTRACT.header_lookup())
    if file_format == "csv":
        return read_csv_table(payload, known)
    if file_format == "xlsx":
        return read_xlsx_table(payload, known)
    raise UnreadablePayload(f"testing-site reports come as CSV or XLSX, not {file_format!r}")


def parse_testing_site_file(
    payload: bytes,
    *,
    file_format: str,
    district_id: str | None,
    district_label: str,
    report_date: date,
    received_at: datetime,
    sites: Mapping[str, RegisteredReporter],
) -> FileParseResult:
    """Typed rows of one district's file for one day; every row that cannot land is a reject with its reason."""
    table = read_site_table(payload, file_format)
    mapping, unmatched = map_header(table.header, CONTRACT.header_lookup())
    what = f"testing-site file of {district_label} for {report_date}"
    derived = {"district_id", "report_date"}
    require_columns(CONTRACT, set(mapping.values()), derived, what)
    result = FileParseResult(
        notes=list(table.notes), header=header_report(CONTRACT, table.header, mapping, unmatched, derived)
    )
    if unmatched:
        result.notes.append(f"ignored column(s) {', '.join(unmatched)}")
    if table.blank_rows:
        result.notes.append(f"skipped {table.blank_rows} blank row(s)")
    seen: dict[str, int] = {}
    data_rows: list[dict[str, Any]] = []
    for row_number, cells in table.rows:
        values = {name: cells[index] for index, name in mapping.items()}
        if is_totals_row(cells) or is_totals_row([values.get("site_id"), values.get("site_name_reported")]):
            result.notes.append(_totals_note(row_number, values, data_rows))
            continue
        try:
            row = _site_row(values, district_id, district_label, report_date, received_at, sites)
            if row["site_id"] in seen:
                raise ValueProblem(
                    f"duplicate row for site {row['site_id']} on {report_date}: row {seen[row['site_id']]} already has it"
                )
        except ValueProblem as problem:
            result.rejects.append(Reject(row_number, table.as_dict(cells), str(problem)))
            continue
        seen[row["site_id"]] = row_number
        data_rows.append(row)
    result.rows = data_rows
    if table.truncated_row is not None:
        row_number, text = table.truncated_row
        result.rejects.append(
            Reject(
                row_number,
                {"truncated_line": text},
                f"{TRUNCATED_FILE_REASON} (the upload of {what} was cut short): the row and any after it "
                f"are missing; ask {district_label} to upload the whole file again",
            )
        )
    return result


def _totals_note(row_number: int, values: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    try:
        stated = typed_value(CONTRACT, "samples_collected", values.get("samples_collected"))
    except ValueProblem:
        stated = None
    summed = sum(r["samples_collected"] for r in rows)
    agreement = "equal to" if stated == summed else f"{stated} against"
    return f"dropped totals row {row_number} (合计: samples {agreement} the sum of the site rows, {summed})"


def _site_row(
    values: dict[str, Any],
    district_id: str | None,
    district_label: str,
    report_date: date,
    received_at: datetime,
    sites: Mapping[str, RegisteredReporter],
) -> dict[str, Any]:
    """The typed row; raises ValueProblem saying why it cannot be landed."""
    site_id = clean_id(values.get("site_id"))
    if not site_id:
        raise ValueProblem("no site id: the row must name its site in 采样点编号")
    if district_id is None:
        raise ValueProblem(
            f"unknown district {district_label!r} (the file's folder): not in the district alias table; rename "
            "the folder to the district's code or add the spelling to dbt_project/seeds/district_aliases.csv"
        )
    site = sites.get(site_id)
    if site is None:
        raise ValueProblem(
            f"unknown site {site_id}: not in the testing_sites registry; if the site is new, the registry must "
            f"list it first (then replay this file), otherwise ask {district_label} to correct the id"
        )
    if site.district_id != district_id:
        raise ValueProblem(
            f"site {site_id} belongs to district {site.district_id} per the registry, but came in the file of "
            f"district {district_id}"
        )
    row: dict[str, Any] = {"site_id": site_id, "district_id": district_id}
    for column in CONTRACT.columns:
        if column.name in row:
            continue
        value = values.get(column.name)
        if column.name == "pool_size":
            row[column.name] = parse_pool_size(value)
            continue
        typed = typed_value(CONTRACT, column.name, value)
        if column.name == "report_date" and typed is None:
            typed = report_date  # a file without a date column describes the day its name says
        if typed is None and column.required:
            raise ValueProblem(f"required field {column.name!r} is missing or blank")
        row[column.name] = typed
    if row["report_date"] != report_date:
        raise ValueProblem(f"report_date {row['report_date']} does not match the file's day {report_date}")
    if report_date > local_date(received_at):
        raise ValueProblem(f"report_date {report_date} is in the future (received {local_date(received_at)})")
    if report_date < site.active_from:
        raise ValueProblem(
            f"site {site_id} reports for {report_date}, before it opened on {site.active_from} per the registry"
        )
    return row


def district_of_folder(roster: DistrictRoster, label: str) -> str | None:
    resolved = resolve_district(roster, label)
    if resolved is None or roster.by_id(resolved).district_level != "district":
        return None
    return resolved


def ingest_testing_site_reports(
    warehouse_dsn: str, archive_url: str, drop_url: str, report_dates: list[date], as_of: datetime
) -> dict[str, Any]:
    """Take every district file for the report dates that had arrived by `as_of` and is new; land each."""
    roster = load_district_roster()
    drop = FileDrop(drop_url)
    drop.check_reachable(CONTRACT.feed)
    files = drop.files_for(DROP_FOLDER, report_dates, arrived_by=as_of)
    deliveries, repeats = [], 0
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:  # one transaction per delivery
        ensure_landing_schema(conn)
        sites = load_registered(conn, TESTING_SITES)
        run = IngestRun(conn, archive_url, as_of)
        for drop_file in files:
            district_id = district_of_folder(roster, drop_file.reporter_label)

            seen_header: dict[str, Any] = {}

            def parse(
                raw: bytes, f=drop_file, district_id=district_id, seen_header=seen_header
            ) -> FileParseResult:
                result = parse_testing_site_file(
                    raw,
                    file_format=f.file_format,
                    district_id=district_id,
                    district_label=f.reporter_label if district_id is None else _label(roster, district_id),
                    report_date=f.report_date,
                    received_at=f.arrived_at,
                    sites=sites,
                )
                if result.header is not None:
                    seen_header.update(result.header.as_dict())
                return result

            reporter = district_id or drop_file.reporter_label
            delivery = Delivery(
                CONTRACT.feed,
                reporter,
                drop_file.report_date,
                drop_file.uri,
                drop.read(drop_file),
                drop_file.arrived_at,
            )
            outcome = run.land(CONTRACT, delivery, parse)
            if outcome.is_repeat:
                repeats += 1
                continue
            record = outcome_record(CONTRACT.feed, reporter, drop_file.report_date, drop_file.uri, outcome)
            deliveries.append(record | ({"header": seen_header} if seen_header else {}))
        run.finish()  # findings and alerts for what was quarantined; fails, with the list, on load errors
    return {"deliveries": deliveries, "files_seen": len(files), "files_already_taken": repeats}


def _label(roster: DistrictRoster, district_id: str) -> str:
    return f"{roster.by_id(district_id).district_name} ({district_id})"
