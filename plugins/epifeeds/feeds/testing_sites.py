"""Testing-site daily reports (采样点日报): one CSV or XLSX per district and day, taken from the file drop.

`<drop>/testing_sites/<district>/<report date>.csv|xlsx`; the folder names the reporting district (a code,
or a name resolved through the alias table). One row per site; each site must be in the testing_sites
registry and belong to that district. Totals rows (合计) and blank rows are dropped and noted in the batch;
a row the upload cut short is rejected; the file's encoding is detected.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from itertools import islice
from typing import Any

from epifeeds.feeds.contracts import TESTING_SITE_REPORTS, TESTING_SITES
from epifeeds.feeds.drop_ingest import DropFeed, DropRun, ingest_drop_files
from epifeeds.feeds.file_drop import DropFile
from epifeeds.feeds.names import DistrictRoster
from epifeeds.feeds.parsing import TRUNCATED_FILE_REASON, ParseResult, Reject, UnreadablePayload
from epifeeds.feeds.records import (
    FileParseResult,
    RegisteredReporter,
    StreamedFileParse,
    clean_id_column,
    header_report,
    local_date,
    map_header,
    pool_size_column,
    require_columns,
    resolve_district,
)
from epifeeds.feeds.tabular import RawTable, read_csv_table, read_xlsx_table, totals_flags
from epifeeds.feeds.values import typed_column

DROP_FOLDER = "testing_sites"
CONTRACT = TESTING_SITE_REPORTS


def read_site_table(payload: bytes, file_format: str) -> RawTable:
    known = set(CONTRACT.header_lookup())
    if file_format == "csv":
        return read_csv_table(payload, known)
    if file_format == "xlsx":
        return read_xlsx_table(payload, known)
    raise UnreadablePayload(f"testing-site reports come as CSV or XLSX, not {file_format!r}")


CHUNK_ROWS = 5_000  # rows typed, checked and landed at a time: a file's memory is one chunk's, not its size


def parse_testing_site_file(
    payload: bytes,
    *,
    file_format: str,
    district_id: str | None,
    district_label: str,
    report_date: date,
    received_at: datetime,
    sites: Mapping[str, RegisteredReporter],
    streamed: bool = False,
) -> FileParseResult:
    """Typed rows of one district's file for one day; every row that cannot land is a reject with its reason.
    `streamed`: the rows are read chunk by chunk as the loader takes them (`StreamedFileParse.chunks`).
    A file whose folder is no district is refused whole: one cause, not a reject (and a finding) per site."""
    if district_id is None:
        raise UnreadablePayload(
            f"the file's folder {district_label!r} is not a district: not in the district alias table; rename "
            "the folder to the district's code, or add the spelling to dbt_project/seeds/district_aliases.csv"
        )
    table = read_site_table(payload, file_format)
    mapping, unmatched = map_header(table.header, CONTRACT.header_lookup())
    what = f"testing-site file of {district_label} for {report_date}"
    derived = {"district_id", "report_date"}
    require_columns(CONTRACT, set(mapping.values()), derived, what)
    result = StreamedFileParse(
        list(table.notes), header_report(CONTRACT, table.header, mapping, unmatched, derived)
    )
    if unmatched:
        result.notes.append(f"ignored column(s) {', '.join(unmatched)}")
    context = _SiteFile(table, mapping, district_id, district_label, report_date, received_at, sites, result)
    result.pieces = context.pieces(what)
    return result if streamed else result.collect()


@dataclass
class _SiteFile:
    """One file's rows, typed and checked a chunk at a time, column by column (C-level passes over each
    column, one Python step per row for the checks that need the registry)."""

    table: RawTable
    mapping: dict[int, str]
    district_id: str | None
    district_label: str
    report_date: date
    received_at: datetime
    sites: Mapping[str, RegisteredReporter]
    result: StreamedFileParse
    seen: dict[str, int] = field(default_factory=dict)  # site id -> row number, over the whole file
    samples_so_far: int = 0  # of the rows landed so far: what a totals row is compared with
    received_on: date = field(init=False)

    def __post_init__(self) -> None:
        self.received_on = local_date(self.received_at)

    def pieces(self, what: str) -> Iterator[ParseResult]:
        blank_note_at = len(self.result.notes)
        rows = iter(self.table.rows)
        while chunk := list(islice(rows, CHUNK_ROWS)):
            yield self._piece(chunk)
        if self.table.blank_rows:
            self.result.notes.insert(blank_note_at, f"skipped {self.table.blank_rows} blank row(s)")
        if self.table.truncated_row is not None:
            row_number, text = self.table.truncated_row
            reason = (
                f"{TRUNCATED_FILE_REASON} (the upload of {what} was cut short): the row and any after it "
                f"are missing; ask {self.district_label} to upload the whole file again"
            )
            yield ParseResult(rejects=[Reject(row_number, {"truncated_line": text}, reason)])

    def _piece(self, chunk: list[tuple[int, list[Any]]]) -> ParseResult:
        columns = _SiteColumns.of(chunk, self.mapping, self.report_date)
        if self._all_clean(columns):
            return self._clean_piece(chunk, columns)
        piece = ParseResult()
        for position, (row_number, cells) in enumerate(chunk):
            if columns.is_totals[position]:
                self.result.notes.append(
                    _totals_note(row_number, columns.samples(position), self.samples_so_far)
                )
                continue
            problem = self._problem(columns, position)
            if problem is not None:
                piece.rejects.append(Reject(row_number, self.table.as_dict(cells), problem))
                continue
            row = columns.row(position, self.district_id)
            self.seen[row["site_id"]] = row_number
            self.samples_so_far += row["samples_collected"]
            piece.rows.append(row)
        return piece

    def _all_clean(self, columns: _SiteColumns) -> bool:
        """No row of the chunk has a problem or is a totals row: every check at once, over whole columns."""
        ids = columns.ids
        if columns.id_problems or columns.flagged or any(columns.is_totals):
            return False
        if len(set(ids)) != len(ids) or not self.seen.keys().isdisjoint(ids):
            return False
        registered = list(map(self.sites.get, ids))
        if None in registered or self.report_date > self.received_on or not all(ids):
            return False
        district, day = self.district_id, self.report_date
        return all(site.district_id == district and site.active_from <= day for site in registered)

    def _clean_piece(self, chunk: list[tuple[int, list[Any]]], columns: _SiteColumns) -> ParseResult:
        """A chunk every row of which lands: the rows built at once (what `_piece` row by row would give)."""
        district = self.district_id
        rows = [dict(zip(ROW_KEYS, (site, district, *values), strict=True))
                for site, values in zip(columns.ids, columns.value_rows, strict=True)]  # fmt: skip
        self.seen.update(zip(columns.ids, (row_number for row_number, _ in chunk), strict=True))
        self.samples_so_far += sum(columns.values["samples_collected"])
        return ParseResult(rows=rows)

    def _problem(self, columns: _SiteColumns, position: int) -> str | None:
        """Why the row cannot land, in the order the checks read it: who, then what, then when."""
        site_id = columns.ids[position]
        problem = columns.id_problems.get(position) or self._site_problem(site_id)
        if problem is None:
            problem = columns.value_problem(position) or self._day_problem(site_id)
        if problem is None and site_id in self.seen:
            problem = f"duplicate row for site {site_id} on {self.report_date}: row {self.seen[site_id]} already has it"
        return problem

    def _site_problem(self, site_id: str) -> str | None:
        if not site_id:
            return "no site id: the row must name its site in 采样点编号"
        site = self.sites.get(site_id)
        if site is None:
            return (
                f"unknown site {site_id}: not in the testing_sites registry; if the site is new, the registry must "
                f"list it first (then replay this file), otherwise ask {self.district_label} to correct the id"
            )
        if site.district_id != self.district_id:
            return (
                f"site {site_id} belongs to district {site.district_id} per the registry, but came in the file of "
                f"district {self.district_id}"
            )
        return None

    def _day_problem(self, site_id: str) -> str | None:
        day, received = self.report_date, self.received_on
        if day > received:
            return f"report_date {day} is in the future (received {received})"
        if day < (opened := self.sites[site_id].active_from):
            return f"site {site_id} reports for {day}, before it opened on {opened} per the registry"
        return None


VALUE_COLUMNS = [c for c in CONTRACT.columns if c.name not in ("site_id", "district_id")]
ROW_KEYS = ["site_id", "district_id", *(c.name for c in VALUE_COLUMNS)]


@dataclass
class _SiteColumns:
    """A chunk's cells as typed columns: values, and the problem of each cell that has one."""

    ids: list[str]
    id_problems: dict[int, str]
    values: dict[str, list[Any]]
    problems: dict[str, dict[int, str]]
    is_totals: list[bool]
    report_date: date
    flagged: set[int] = field(default_factory=set)  # rows with a value problem: the others skip the search
    value_rows: list[tuple] = field(default_factory=list)  # the values, row by row

    @classmethod
    def of(
        cls, chunk: list[tuple[int, list[Any]]], mapping: dict[int, str], report_date: date
    ) -> _SiteColumns:
        raw = {name: [cells[index] for _, cells in chunk] for index, name in mapping.items()}
        blank = [None] * len(chunk)
        ids, id_problems = clean_id_column(raw.get("site_id", blank))
        values, problems = {}, {}
        for column in VALUE_COLUMNS:
            cells = raw.get(column.name, blank)
            convert = pool_size_column if column.name == "pool_size" else partial(typed_column, column)
            values[column.name], problems[column.name] = convert(cells)
        values["report_date"] = [
            day or report_date for day in values["report_date"]
        ]  # no date: the file's day
        flags = [totals_flags([cells[i] if i < len(cells) else None for _, cells in chunk]) for i in (0, 1)]
        flags += [totals_flags(raw[name]) for name in ("site_id", "site_name_reported") if name in raw]
        typed = cls(ids, id_problems, values, problems, list(map(any, zip(*flags, strict=True))), report_date)
        typed.flagged = _flagged(values, problems, report_date)
        typed.value_rows = list(zip(*(values[c.name] for c in VALUE_COLUMNS), strict=True))
        return typed

    def samples(self, position: int) -> int | None:
        return self.values["samples_collected"][position]

    def value_problem(self, position: int) -> str | None:
        if position not in self.flagged:
            return None
        for column in VALUE_COLUMNS:
            if problem := self.problems[column.name].get(position):
                return problem
            if column.required and self.values[column.name][position] is None:
                return f"required field {column.name!r} is missing or blank"
        day = self.values["report_date"][position]
        if day != self.report_date:
            return f"report_date {day} does not match the file's day {self.report_date}"
        return None

    def row(self, position: int, district_id: str | None) -> dict[str, Any]:
        return dict(zip(ROW_KEYS, (self.ids[position], district_id, *self.value_rows[position]), strict=True))


def _flagged(
    values: dict[str, list[Any]], problems: dict[str, dict[int, str]], report_date: date
) -> set[int]:
    """Positions with a problem, a required value missing or another day (counted at C speed first)."""
    flagged = set().union(*problems.values())
    for column in VALUE_COLUMNS:
        cells = values[column.name]
        if column.required and cells.count(None):
            flagged.update(p for p, value in enumerate(cells) if value is None)
    days = values["report_date"]
    if days.count(report_date) != len(days):
        flagged.update(p for p, day in enumerate(days) if day != report_date)
    return flagged


def _totals_note(row_number: int, stated: int | None, summed: int) -> str:
    agreement = "equal to" if stated == summed else f"{stated} against"
    return f"dropped totals row {row_number} (合计: samples {agreement} the sum of the site rows, {summed})"


def district_of_folder(roster: DistrictRoster, label: str) -> str | None:
    resolved = resolve_district(roster, label)
    if resolved is None or roster.by_id(resolved).district_level != "district":
        return None
    return resolved


def _land_site_file(context: DropRun, drop_file: DropFile) -> None:
    roster = context.roster
    district_id = district_of_folder(roster, drop_file.reporter_label)

    def parse(raw: bytes) -> FileParseResult:
        result = parse_testing_site_file(
            raw,
            file_format=drop_file.file_format,
            district_id=district_id,
            district_label=drop_file.reporter_label if district_id is None else _label(roster, district_id),
            report_date=drop_file.report_date,
            received_at=drop_file.arrived_at,
            sites=context.registered,
            streamed=True,  # read chunk by chunk as the loader lands them
        )
        return result

    reporter = district_id or drop_file.reporter_label
    payload = context.read(drop_file, reporter)
    if payload is None:
        return  # the drop could not read it: listed, and the run fails at the end
    context.land(CONTRACT, reporter, drop_file, payload, parse)


def _label(roster: DistrictRoster, district_id: str) -> str:
    return f"{roster.by_id(district_id).district_name} ({district_id})"


SITE_DROP = DropFeed(DROP_FOLDER, CONTRACT.feed, TESTING_SITES, _land_site_file)


def ingest_testing_site_reports(
    warehouse_dsn: str, archive_url: str, drop_url: str, report_dates: list[date], as_of: datetime
) -> dict[str, Any]:
    """Take every district file for the report dates that had arrived by `as_of` and is new; land each."""
    return ingest_drop_files(SITE_DROP, warehouse_dsn, archive_url, drop_url, report_dates, as_of)
