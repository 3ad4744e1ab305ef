"""Reading a published wide bulletin: which city, which column is which reporter's which measure.

A bulletin has one row per report date: the city's own columns (`阳性感染者`, `累计治愈出院`, ...) and, per
district, `{区}_{measure}` columns (`朝阳区_阳性`, `朝阳区_阳性_来自闭环隔离`, ...). The city is the one whose
districts the column groups name (`bulletin_city`: the onboarded roster first, then the national roster,
so any Chinese city reads without hand edits); names resolve only within that city, short forms included. A column
group that is no district of the city (高新区, a development zone) is an unmatched reporter, with the
reason, never dropped: its values stay in the archived file and are listed in the import report.

Parsing describes, it does not judge: whether a measure is published (rule N1: a blank column, or one
all zeros while its counterpart moves) is recorded with each figure for the checks to read.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from epifeeds.feeds.bulletin_city import (
    UnreadableBulletin,
    chosen_city,
    city_roster,
    infer_city,
    why_unmatched,
)
from epifeeds.feeds.bulletin_measures import (
    CUMULATIVE_OF,
    city_measure_of,
    counterpart_of,
    district_measure_of,
)
from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import District, DistrictRoster, normalise_label
from epifeeds.feeds.values import ValueProblem, parse_count, parse_date

CONTRACT = DISTRICT_REPORTS
DISTRICT_SEPARATOR = "_"
# The city's figures in the district-report contract, preferred first: the local (本土) figure wins over
# the all-inclusive total because the districts' columns count local cases only (so R1 compares like
# with like); a bulletin that publishes only totals falls back to them. Cumulatives are carried as
# bulletin measures (landing.bulletin_measures), where I2 and I5 judge every published pair.
CITY_HEADERS: dict[str, tuple[str, ...]] = {
    "new_positives": ("本土阳性感染者", "本土新增阳性", "阳性感染者", "新增阳性感染者"),
    "new_confirmed": ("本土确诊病例", "本土新增确诊", "确诊病例", "新增确诊病例"),
    "new_asymptomatic": ("本土无症状感染者", "本土新增无症状", "无症状感染者", "新增无症状感染者"),
}
CUMULATIVE_COLUMNS = ("cumulative_confirmed", "cumulative_positives")
SOURCE_HEADERS = ("来源", "source", "url", "链接")


@dataclass(frozen=True)
class MeasureColumn:
    header: str
    reporter_id: str
    measure: str


@dataclass(frozen=True)
class BulletinLayout:
    """Which column of the file goes where."""

    encoding: str
    city: District
    is_onboarded: bool  # False: the city comes from the national roster and is onboarded on import
    date_column: str
    city_columns: dict[str, str]  # district-report contract column -> header
    district_columns: dict[str, dict[str, str]]  # district name as in the headers -> {column -> header}
    district_ids: dict[str, str]  # district name as in the headers -> district_id (matched ones only)
    unmatched_reporters: dict[str, str]  # column-group name -> why it is no district of the city
    measure_columns: tuple[MeasureColumn, ...]  # every recognised figure, for landing.bulletin_measures
    source_column: str | None
    ignored_columns: tuple[str, ...]  # headers outside the district-report contract, in file order
    unmatched_columns: tuple[str, ...]  # headers that match no measure at all (kept in the archive)

    @property
    def district_measure_labels(self) -> list[str]:
        labels = {
            h.partition(DISTRICT_SEPARATOR)[2]: None
            for c in self.district_columns.values()
            for h in c.values()
        }
        return list(labels)

    def _grouped(self, headers: tuple[str, ...]) -> str:
        groups: dict[str, int] = {}
        for header in headers:
            prefix, _, suffix = header.partition(DISTRICT_SEPARATOR)
            key = f"{{区}}_{suffix}" if suffix and prefix in self.district_columns else header
            groups[key] = groups.get(key, 0) + 1
        return ", ".join(f"{key} ×{n}" if key.startswith("{区}_") else key for key, n in groups.items())

    def ignored_summary(self) -> str:
        """The headers outside the contract, with per-district columns grouped as `{区}_<suffix> ×N`."""
        return self._grouped(self.ignored_columns)

    def unmatched_summary(self) -> str:
        return self._grouped(self.unmatched_columns)


@dataclass(frozen=True)
class BulletinRow:
    line_number: int  # 1-based line of the file (the header is line 1)
    report_date: date
    values: dict[str, str]


@dataclass(frozen=True)
class WideBulletin:
    layout: BulletinLayout
    rows: tuple[BulletinRow, ...]

    @property
    def report_dates(self) -> list[date]:
        return sorted({row.report_date for row in self.rows})

    def rows_for(self, report_date: date) -> list[BulletinRow]:
        return [row for row in self.rows if row.report_date == report_date]

    def records_for(self, report_date: date) -> list[dict[str, Any]]:
        """The district-report records of one date: per file row, the city's (if the file has city figures)
        then each district's, unmatched column groups included (landing rejects them with the reason).

        Keys are the contract's field names, so `parse_district_records` types and checks them like any
        delivery; `bulletin_line` (not a contract field) traces a reject back to the file.
        """
        layout = self.layout
        records: list[dict[str, Any]] = []
        for row in self.rows_for(report_date):
            common = {"report_date": row.values[layout.date_column], "bulletin_line": row.line_number}
            if layout.city_columns:
                city = {"district": layout.city.district_name, **common}
                city.update({column: row.values[header] for column, header in layout.city_columns.items()})
                records.append(city)
            for name, columns in layout.district_columns.items():
                district = {"district": name, **common}
                district.update({column: row.values[header] for column, header in columns.items()})
                records.append(district)
        return records

    def unpublished(self) -> set[tuple[str, str]]:
        """(reporter, measure) this file does not publish: every cell blank, or all zeros while the
        measure's counterpart (a cumulative's daily figure, a daily figure's cumulative) moves."""
        series: dict[tuple[str, str], list[int | None]] = defaultdict(list)
        for row in self.rows:
            for column in self.layout.measure_columns:
                try:
                    value = parse_count(row.values[column.header])
                except ValueProblem:
                    value = -1  # unreadable: published, wrongly; landing rejects it
                series[(column.reporter_id, column.measure)].append(value)
        unpublished = set()
        for (reporter, measure), values in series.items():
            if all(v is None for v in values):
                unpublished.add((reporter, measure))
                continue
            counterpart = counterpart_of(measure)
            other = series.get((reporter, counterpart or ""), [])
            if all(v in (0, None) for v in values) and _moves(counterpart or "", other):
                unpublished.add((reporter, measure))
        return unpublished

    def measure_records_for(self, report_date: date, unpublished: set[tuple[str, str]]) -> list[dict]:
        """The long records of one date: one per recognised figure of each file row."""
        layout = self.layout
        return [
            {
                "reporter_id": column.reporter_id,
                "jurisdiction_id": layout.city.district_id,
                "report_date": report_date,
                "measure": column.measure,
                "value": row.values[column.header],
                "is_published": (column.reporter_id, column.measure) not in unpublished,
                "source_header": column.header,
                "bulletin_line": row.line_number,
            }
            for row in self.rows_for(report_date)
            for column in layout.measure_columns
        ]

    def sources_for(self, report_date: date) -> list[str]:
        column = self.layout.source_column
        if column is None:
            return []
        return sorted({row.values[column].strip() for row in self.rows_for(report_date)} - {""})


def _moves(measure: str, values: list[int | None]) -> bool:
    """A daily figure moves when it is ever above zero; a cumulative when it ever grows."""
    if measure not in CUMULATIVE_OF:
        return any(v not in (0, None) for v in values)
    known = [v for v in values if v is not None]
    return any(after > before for before, after in zip(known, known[1:], strict=False))


def decode_bulletin(payload: bytes) -> tuple[str, str]:
    """The file's text and its encoding: a BOM decides; otherwise strict UTF-8, then GBK (as GB18030)."""
    if payload.startswith(b"\xef\xbb\xbf"):
        return payload[3:].decode("utf-8"), "utf-8-sig"
    if payload.startswith((b"\xff\xfe", b"\xfe\xff")):
        return payload.decode("utf-16"), "utf-16"
    for encoding in ("utf-8", "gb18030"):
        try:
            return payload.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UnreadableBulletin(
        "the file is neither UTF-8 nor GBK/GB18030 text; re-export it as UTF-8 CSV and import it again"
    )


def _first_present(headers: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        if (found := headers.get(normalise_label(candidate))) is not None:
            return found
    return None


def _district_groups(header: list[str]) -> dict[str, dict[str, str]]:
    """`{区}_{measure}` columns by group name: {group -> {measure -> header}}; a measure given twice fails."""
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    for h in header:
        prefix, _, label = h.partition(DISTRICT_SEPARATOR)
        measure = district_measure_of(label) if prefix.strip() and label else None
        if measure is None:
            continue
        if (other := grouped[prefix.strip()].get(measure)) is not None:
            raise UnreadableBulletin(
                f"columns {other!r} and {h!r} both give {prefix.strip()}'s {measure}; keep one"
            )
        grouped[prefix.strip()][measure] = h
    return grouped


def _none_matched(
    grouped: dict[str, dict[str, str]], unmatched: dict[str, str], city: District
) -> UnreadableBulletin:
    """A city named with --city whose districts no column group names: the file is for another city."""
    named = "; ".join(
        f"column {next(iter(grouped[n].values()))!r}: {why}" for n, why in list(unmatched.items())[:3]
    )
    more = f" (and {len(unmatched) - 3} more)" if len(unmatched) > 3 else ""
    return UnreadableBulletin(
        f"none of the district columns names a district of {city.district_name}: {named}{more};"
        " check --city, or split the file per city"
    )


def _city_columns(by_label: dict[str, str], counts: set[str]) -> dict[str, str]:
    """The city's own figure for each district-report count: contract column -> header."""
    found_columns: dict[str, str] = {}
    for column in CONTRACT.columns:
        if column.name not in counts:
            continue
        found = _first_present(by_label, (*CITY_HEADERS.get(column.name, ()), column.name, *column.aliases))
        if found is not None and DISTRICT_SEPARATOR not in found:
            found_columns[column.name] = found
    return found_columns


def _measure_columns(header: list[str], city_id: str, district_ids: dict[str, str]) -> list[MeasureColumn]:
    """Every recognised figure: the city's (first column of each measure) and each matched district's."""
    columns: list[MeasureColumn] = []
    city_measures: set[str] = set()
    for h in header:
        prefix, _, label = h.partition(DISTRICT_SEPARATOR)
        if (measure := city_measure_of(h)) is not None and measure not in city_measures:
            city_measures.add(measure)
            columns.append(MeasureColumn(h, city_id, measure))
        elif prefix.strip() in district_ids and (measure := district_measure_of(label)) is not None:
            columns.append(MeasureColumn(h, district_ids[prefix.strip()], measure))
    return columns


def _date_column(by_label: dict[str, str], header: list[str]) -> str:
    found = _first_present(by_label, (CONTRACT.date_column, *CONTRACT.column("report_date").aliases))
    if found is None:
        raise UnreadableBulletin(
            f"no report-date column (expected one of 日期, date, report_date); headers: {', '.join(header[:8])} ..."
        )
    return found


def read_bulletin_layout(
    header: list[str], encoding: str, roster: DistrictRoster, *, city: str | None = None
) -> BulletinLayout:
    """Map each header of a wide bulletin to a reporter's measure, the date, the source, or the lists of
    columns outside the contract and matching nothing."""
    by_label = {normalise_label(h): h for h in header}
    if len(by_label) != len(header):
        raise UnreadableBulletin("two columns have the same name (after folding case and width); rename one")
    date_column, source_column = _date_column(by_label, header), _first_present(by_label, SOURCE_HEADERS)
    grouped = _district_groups(header)
    city_id = chosen_city(roster, city) if city else infer_city(roster, list(grouped))
    scoped = city_roster(roster, city_id)
    chosen = scoped.by_id(city_id)
    district_ids = {name: did for name in grouped if (did := scoped.resolve(name)) not in (None, city_id)}
    unmatched = {
        name: why_unmatched(roster, scoped, chosen, name) for name in grouped if name not in district_ids
    }
    if grouped and not district_ids and city:
        raise _none_matched(grouped, unmatched, chosen)

    counts = set(CONTRACT.count_columns) - set(CUMULATIVE_COLUMNS)
    district_columns = {
        name: columns
        for name, measures in grouped.items()
        if (columns := {m: h for m, h in measures.items() if m in counts})
    }
    city_columns = _city_columns(by_label, counts)
    measure_columns = _measure_columns(header, city_id, district_ids)
    used = {date_column, source_column, *city_columns.values()}
    used |= {h for columns in district_columns.values() for h in columns.values()}
    carried = {c.header for c in measure_columns} | {h for g in unmatched for h in grouped[g].values()}
    return BulletinLayout(
        encoding=encoding,
        city=chosen,
        is_onboarded=roster.is_onboarded(city_id),
        date_column=date_column,
        city_columns=city_columns,
        district_columns=district_columns,
        district_ids=district_ids,
        unmatched_reporters=unmatched,
        measure_columns=tuple(measure_columns),
        source_column=source_column,
        ignored_columns=tuple(h for h in header if h not in used),
        unmatched_columns=tuple(h for h in header if h not in used | carried),
    )


def read_wide_bulletin(payload: bytes, roster: DistrictRoster, *, city: str | None = None) -> WideBulletin:
    """The bulletin's layout and rows; raises UnreadableBulletin (with what to fix) when it is not one."""
    text, encoding = decode_bulletin(payload)
    lines = list(csv.reader(io.StringIO(text, newline="")))
    if not lines or not any(cell.strip() for cell in lines[0]):
        raise UnreadableBulletin("the file is empty: expected a header row and one row per report date")
    header = [cell.strip() for cell in lines[0]]
    layout = read_bulletin_layout(header, encoding, roster, city=city)

    rows: list[BulletinRow] = []
    problems: list[str] = []
    for line_number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line holds no value
        if len(cells) != len(header):
            problems.append(f"line {line_number} has {len(cells)} cells, the header {len(header)}")
            continue
        values = dict(zip(header, cells, strict=True))
        try:
            rows.append(BulletinRow(line_number, parse_date(values[layout.date_column]), values))
        except ValueProblem as problem:
            problems.append(f"line {line_number}: {layout.date_column} {problem}")
    if problems:
        raise UnreadableBulletin(
            "; ".join(problems) + ". Every row must be one report date with every column filled in"
            " (remove totals or notes rows); fix the file and import it again"
        )
    if not rows:
        raise UnreadableBulletin("the file has a header but no rows")
    return WideBulletin(layout=layout, rows=tuple(rows))
