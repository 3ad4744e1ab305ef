"""Turning a delivery's raw records into typed rows for a contract, keeping every bad row with a reason."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from epifeeds.feeds.contracts import FeedContract
from epifeeds.feeds.names import DistrictRoster, normalise_label
from epifeeds.feeds.values import ValueProblem, parse_date, typed

# How a reject's reason begins when the problem is the delivery, not a value (the checks classify by it).
DUPLICATE_ROW_REASON = "duplicate"  # "duplicate record/row/report for ..."
TRUNCATED_FILE_REASON = "the file ends inside this row"


class UnreadablePayload(ValueError):
    """The whole delivery cannot be read (not JSON, wrong shape); it is quarantined, not parsed."""


@dataclass(frozen=True)
class Reject:
    row_number: int  # 1-based position of the record in the delivery
    raw_values: dict[str, Any]
    reason: str
    # Who the row says sent it and for which day, where readable: a report that arrived but was
    # rejected was still delivered (its fault is V1, not a missing report).
    reporter_id: str | None = None
    claimed_report_date: date | None = None


@dataclass
class ParseResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.rows) + len(self.rejects)

    def chunks(self) -> Iterator[ParseResult]:
        """The rows and rejects in pieces, for the loader to land one after the other; a parse held whole
        is one piece. A streamed parse (records.StreamedFileParse) reads its file as the pieces are taken."""
        yield self


def parse_district_records(
    contract: FeedContract,
    records: list[dict[str, Any]],
    *,
    report_date: date,
    received_at: datetime,
    roster: DistrictRoster,
) -> ParseResult:
    """Typed district-report rows for one report date; unknown names, bad values and repeats are rejected."""
    lookup = contract.header_lookup()
    result = ParseResult()
    seen: dict[str, int] = {}
    for row_number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            result.rejects.append(Reject(row_number, {"value": record}, "record is not a JSON object"))
            continue
        fields = {lookup[label]: v for k, v in record.items() if (label := normalise_label(str(k))) in lookup}
        try:
            row = _typed_district_row(contract, fields, report_date, received_at, roster, seen)
        except ValueProblem as problem:
            reporter_id, claimed_date = _claimed_identity(fields, roster)
            result.rejects.append(Reject(row_number, record, str(problem), reporter_id, claimed_date))
            continue
        seen[row["district_id"]] = row_number
        result.rows.append(row)
    return result


def _claimed_identity(fields: dict[str, Any], roster: DistrictRoster) -> tuple[str | None, date | None]:
    name = fields.get("district_name_reported")
    reporter_id = roster.resolve(str(name)) if name is not None else None
    try:
        claimed_date = parse_date(fields["report_date"]) if fields.get("report_date") is not None else None
    except ValueProblem:
        claimed_date = None
    return reporter_id, claimed_date


def _typed_district_row(
    contract: FeedContract,
    fields: dict[str, Any],
    report_date: date,
    received_at: datetime,
    roster: DistrictRoster,
    seen: dict[str, int],
) -> dict[str, Any]:
    """The typed row; raises ValueProblem saying why it cannot be landed."""
    name = fields.get("district_name_reported")
    if name is None or not str(name).strip():
        raise ValueProblem("no district name: the record must name its district in field 'district'")
    district_id = roster.resolve(str(name))
    if district_id is None:
        raise ValueProblem(
            f"unknown district {str(name)!r}: not in the district alias table; if it is a real spelling, "
            "add it to dbt_project/seeds/district_aliases.csv, otherwise ask the agency to correct it"
        )
    row: dict[str, Any] = {"district_id": district_id}
    for column in contract.columns:
        if column.name == "district_id":
            continue
        value = typed(column, fields.get(column.name))  # raises ValueProblem naming the field
        if value is None and column.required:
            raise ValueProblem(f"required field {column.name!r} is missing or blank")
        row[column.name] = value
    if row["report_date"] > received_at.date():
        raise ValueProblem(
            f"report_date {row['report_date']} is in the future (received {received_at:%Y-%m-%d})"
        )
    if row["report_date"] != report_date:
        raise ValueProblem(f"report_date {row['report_date']} does not match the requested day {report_date}")
    if district_id in seen:
        raise ValueProblem(
            f"{DUPLICATE_ROW_REASON} record for district {district_id} on {report_date}: row {seen[district_id]} already has it"
        )
    return row
