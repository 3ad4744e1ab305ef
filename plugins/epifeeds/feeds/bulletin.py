"""Published city bulletins in the wide layout, landed as district-report deliveries.

A published bulletin file (e.g. Beijing's daily figures, 2022-04-09..2022-05-11) has one row per report
date: the city's own columns (`阳性感染者`, `本土确诊病例`, ...) and, per district, `{区}_{measure}` columns
(`朝阳区_阳性`, `朝阳区_确诊`, `朝阳区_无症状`, ...). Each report date becomes one district-report delivery
(landing.batches row, reporter '*'), whose records are the city row and one row per district; the
file's bytes are archived once, content-addressed, and every delivery points at them.

Decisions (see docs/feeds.md):
- The city row carries the local (本土) figures when the file has them, not the all-inclusive totals:
  the districts' columns count local cases only (imported cases 境外输入 are not attributed to a district),
  so R1 reconciles like with like. The totals and the imported figures are listed as ignored columns.
- Columns the contract has no place for are never dropped silently: each batch message names them
  ("ignored columns: ..."); their values stay in the archived file.
- `received_at` defaults to the publication time, report date + 1 day 10:00 Asia/Shanghai, so C1
  timeliness judges a bulletin as published, not as imported years later.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import District, DistrictRoster, load_district_roster, normalise_label
from epifeeds.feeds.parsing import ParseResult, UnreadablePayload, parse_district_records
from epifeeds.feeds.values import ValueProblem, parse_date
from epifeeds.landing.archive import archive_payload
from epifeeds.landing.loader import Delivery, LandingOutcome, land_delivery
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.settings import REPORT_TIMEZONE

CONTRACT = DISTRICT_REPORTS
PUBLICATION_LOCAL_TIME = time(10, 0)  # bulletins for day D are published by 10:00 Asia/Shanghai on D+1
DISTRICT_SEPARATOR = "_"

# Bulletin spellings of the city's own figures, preferred first. The local (本土) figure wins over the
# all-inclusive total because the districts' columns count local cases only; a bulletin that publishes
# only totals falls back to them. The contract's own header aliases are tried after these.
CITY_HEADERS: dict[str, tuple[str, ...]] = {
    "new_positives": ("本土阳性感染者", "本土新增阳性", "阳性感染者", "新增阳性感染者"),
    "new_confirmed": ("本土确诊病例", "本土新增确诊", "确诊病例", "新增确诊病例"),
    "new_asymptomatic": ("本土无症状感染者", "本土新增无症状", "无症状感染者", "新增无症状感染者"),
    "cumulative_confirmed": ("累计本土确诊", "累计本土确诊病例", "累计确诊病例"),
    "cumulative_positives": ("累计本土阳性感染者", "累计阳性感染者"),
}
# The official source of each row: kept in the batch message (the ledger), not in a contract column.
SOURCE_HEADERS = ("来源", "source", "url", "链接")


class UnreadableBulletin(UnreadablePayload):
    """The file cannot be read as a wide bulletin (encoding, no date column, a row without a date,
    no recognisable city): nothing from it is landed; the message says what to fix."""


@dataclass(frozen=True)
class BulletinLayout:
    """Which column of the file goes where."""

    encoding: str
    city: District
    date_column: str
    city_columns: dict[str, str]  # contract column -> header
    district_columns: dict[
        str, dict[str, str]
    ]  # district name as in the headers -> {contract column -> header}
    source_column: str | None
    ignored_columns: tuple[str, ...]  # headers the contract has no place for, in file order

    @property
    def district_measure_labels(self) -> list[str]:
        """The measure suffixes of the district columns used, e.g. ['阳性', '确诊', '无症状']."""
        labels = {
            h.partition(DISTRICT_SEPARATOR)[2]: None
            for c in self.district_columns.values()
            for h in c.values()
        }
        return list(labels)

    def ignored_summary(self) -> str:
        """The ignored headers, with per-district columns grouped as `{区}_<suffix> ×N`."""
        groups: dict[str, int] = {}
        for header in self.ignored_columns:
            prefix, _, suffix = header.partition(DISTRICT_SEPARATOR)
            key = f"{{区}}_{suffix}" if suffix and prefix in self.district_columns else header
            groups[key] = groups.get(key, 0) + 1
        return ", ".join(f"{key} ×{n}" if key.startswith("{区}_") else key for key, n in groups.items())


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
        """The district-report records of one report date: per file row, the city's (if the file has city
        figures) then each district's.

        Keys are the contract's field names, so `parse_district_records` types and checks them like any
        delivery; `bulletin_line` (not a contract field) lets a reject be traced back to the file.
        """
        layout = self.layout
        records: list[dict[str, Any]] = []
        for row in self.rows_for(report_date):
            common = {"report_date": row.values[layout.date_column], "bulletin_line": row.line_number}
            if layout.city_columns:  # a file with no city figures has no city row to land
                city = {"district": layout.city.district_name, **common}
                city.update({column: row.values[header] for column, header in layout.city_columns.items()})
                records.append(city)
            for name, columns in layout.district_columns.items():
                district = {"district": name, **common}
                district.update({column: row.values[header] for column, header in columns.items()})
                records.append(district)
        return records

    def sources_for(self, report_date: date) -> list[str]:
        column = self.layout.source_column
        if column is None:
            return []
        return sorted({row.values[column].strip() for row in self.rows_for(report_date)} - {""})


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


def _infer_city(roster: DistrictRoster, district_names: list[str]) -> District:
    parents = {
        roster.jurisdiction_of(district_id)
        for name in district_names
        if (district_id := roster.resolve(name)) is not None
    }
    if len(parents) != 1:
        found = ", ".join(sorted(roster.by_id(p).district_name for p in parents)) or "none"
        raise UnreadableBulletin(
            f"cannot tell which city the bulletin is for from its district columns (cities found: {found});"
            " name it with --city (e.g. --city 北京市)"
        )
    return roster.by_id(parents.pop())


def _city_of(roster: DistrictRoster, city: str) -> District:
    city_id = roster.resolve(city)
    if city_id is None or roster.by_id(city_id).district_level != "city":
        known = ", ".join(d.district_name for d in roster.cities)
        raise UnreadableBulletin(
            f"--city {city!r} is not a city on the roster (known: {known}); add it and its districts to"
            " dbt_project/seeds/districts.csv and district_aliases.csv first"
        )
    return roster.by_id(city_id)


def read_bulletin_layout(
    header: list[str], encoding: str, roster: DistrictRoster, *, city: str | None = None
) -> BulletinLayout:
    """Map each header of a wide bulletin to a contract column, the source, or the ignored list."""
    lookup = CONTRACT.header_lookup()
    counts = set(CONTRACT.count_columns)
    by_label = {normalise_label(h): h for h in header}
    if len(by_label) != len(header):
        raise UnreadableBulletin("two columns have the same name (after folding case and width); rename one")

    date_column = _first_present(by_label, (CONTRACT.date_column, *CONTRACT.column("report_date").aliases))
    if date_column is None:
        raise UnreadableBulletin(
            f"no report-date column (expected one of 日期, date, report_date); headers: {', '.join(header[:8])} ..."
        )
    source_column = _first_present(by_label, SOURCE_HEADERS)

    district_columns: dict[str, dict[str, str]] = defaultdict(dict)
    for h in header:
        prefix, _, measure = h.partition(DISTRICT_SEPARATOR)
        column = lookup.get(normalise_label(measure)) if measure else None
        if prefix.strip() and column in counts:
            if (other := district_columns[prefix.strip()].get(column)) is not None:
                raise UnreadableBulletin(
                    f"columns {other!r} and {h!r} both give {prefix.strip()}'s {column}; keep one"
                )
            district_columns[prefix.strip()][column] = h

    chosen = _city_of(roster, city) if city else _infer_city(roster, list(district_columns))
    for name in district_columns:
        district_id = roster.resolve(name)
        if district_id is not None and roster.jurisdiction_of(district_id) != chosen.district_id:
            raise UnreadableBulletin(
                f"column {next(iter(district_columns[name].values()))!r} names {name}, which belongs to"
                f" {roster.by_id(roster.jurisdiction_of(district_id)).district_name}, not {chosen.district_name}:"
                " check --city, or split the file per city"
            )

    city_columns: dict[str, str] = {}
    for column in CONTRACT.columns:
        if column.name in ("district_id", "district_name_reported", CONTRACT.date_column):
            continue
        own = CITY_HEADERS.get(column.name, ())
        found = _first_present(by_label, (*own, column.name, *column.aliases))
        if found is not None and DISTRICT_SEPARATOR not in found:
            city_columns[column.name] = found

    used = {date_column, source_column, *city_columns.values()}
    used |= {h for columns in district_columns.values() for h in columns.values()}
    ignored = tuple(h for h in header if h not in used)
    return BulletinLayout(
        encoding=encoding,
        city=chosen,
        date_column=date_column,
        city_columns=city_columns,
        district_columns=dict(district_columns),
        source_column=source_column,
        ignored_columns=ignored,
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


def publication_time(report_date: date) -> datetime:
    """When a bulletin for `report_date` is published: 10:00 Asia/Shanghai the next day."""
    return datetime.combine(
        report_date + timedelta(days=1), PUBLICATION_LOCAL_TIME, ZoneInfo(REPORT_TIMEZONE)
    )


def batch_note(bulletin: WideBulletin, report_date: date, file_name: str) -> str:
    """What the ledger says about one report date's delivery: where it came from and what was left out."""
    layout = bulletin.layout
    lines = ", ".join(str(row.line_number) for row in bulletin.rows_for(report_date))
    city_columns = (
        ", ".join(f"{header}→{column}" for column, header in layout.city_columns.items()) or "no columns"
    )
    parts = [
        f"bulletin {file_name} line {lines} ({layout.encoding})",
        f"city {layout.city.district_name} ({layout.city.district_id}) from {city_columns}",
        f"{len(layout.district_columns)} districts from {{区}}_{'/'.join(layout.district_measure_labels)} columns",
    ]
    if sources := bulletin.sources_for(report_date):
        parts.append(f"published at {' '.join(sources)}")
    if layout.ignored_columns:
        parts.append(
            f"ignored columns (no place in the {CONTRACT.feed} contract; values kept in the archived file):"
            f" {layout.ignored_summary()}"
        )
    return "; " + "; ".join(parts)


def import_bulletin(
    warehouse_dsn: str,
    archive_url: str,
    path: str | Path,
    *,
    received_at: datetime | None = None,
    city: str | None = None,
    roster: DistrictRoster | None = None,
) -> list[LandingOutcome]:
    """Archive a published wide bulletin once and land one district-report delivery per report date.

    Returns one outcome per report date, oldest first. Importing the same file again changes nothing;
    a corrected file lands changed figures as new versions. `received_at` (all deliveries) defaults to
    each report date's publication time; `city` (a name or alias) defaults to the city whose districts
    the columns name.
    """
    if received_at is not None and received_at.tzinfo is None:
        raise ValueError(f"received_at {received_at} has no time zone; pass an aware datetime")
    roster = roster or load_district_roster()
    path = Path(path)
    payload = path.read_bytes()
    archive_payload(archive_url, CONTRACT.feed, payload)  # kept byte for byte before anything is parsed
    bulletin = read_wide_bulletin(payload, roster, city=city)
    city_name = bulletin.layout.city.district_name
    source_uri = path.resolve().as_uri()

    outcomes = []
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        for report_date in bulletin.report_dates:
            received = received_at or publication_time(report_date)

            def parse(raw: bytes, day: date = report_date, at: datetime = received) -> ParseResult:
                records = read_wide_bulletin(raw, roster, city=city_name).records_for(day)
                return parse_district_records(
                    CONTRACT, records, report_date=day, received_at=at, roster=roster
                )

            delivery = Delivery(
                feed=CONTRACT.feed,
                reporter="*",
                report_date=report_date,
                source_uri=source_uri,
                payload=payload,
                received_at=received,
            )
            outcome = land_delivery(conn, CONTRACT, archive_url, delivery, parse)
            outcomes.append(_with_note(conn, outcome, batch_note(bulletin, report_date, path.name)))
    return outcomes


def _with_note(conn: psycopg.Connection, outcome: LandingOutcome, note: str) -> LandingOutcome:
    """Append the bulletin note to the batch message once (a re-import finds it there already)."""
    with conn.transaction():
        message = conn.execute(
            "update landing.batches set message = case when strpos(message, %s) = 0"
            " then message || %s else message end where batch_id = %s returning message",
            ("; bulletin ", note, outcome.batch_id),
        ).fetchone()[0]
    return dataclasses.replace(outcome, message=message)


def _rejected_reasons(conn: psycopg.Connection, batch_ids: list[int]) -> list[tuple[str, str, int]]:
    return conn.execute(
        "select report_date::text, reason, count(*) from landing.rejects where batch_id = any(%s)"
        " group by 1, 2 order by 1, 2",
        (batch_ids,),
    ).fetchall()


def cmd_import_bulletin(args: argparse.Namespace) -> int:
    """`epifeeds import-bulletin FILE [--city NAME]`: land the file and say where every row went."""
    from epifeeds.settings import load_settings

    settings = load_settings()
    try:
        outcomes = import_bulletin(
            settings.warehouse_dsn,
            settings.archive_url,
            args.file,
            city=args.city,
            received_at=args.received_at,
        )
    except (UnreadablePayload, FileNotFoundError) as problem:
        print(f"epifeeds import-bulletin: {args.file}: {problem}")
        return 2
    bulletin = read_wide_bulletin(Path(args.file).read_bytes(), load_district_roster(), city=args.city)
    print(
        f"{args.file}: {len(outcomes)} report dates {bulletin.report_dates[0]}..{bulletin.report_dates[-1]},"
        f" city {bulletin.layout.city.district_name} ({bulletin.layout.city.district_id}),"
        f" {len(bulletin.layout.district_columns)} districts, {bulletin.layout.encoding}"
    )
    print(
        f"{'report date':<12} {'batch':>6} {'status':<11} {'read':>5} {'landed':>6} {'new':>4} {'rejected':>8}"
    )
    for report_date, o in zip(bulletin.report_dates, outcomes, strict=True):
        status = f"{o.status}{' (again)' if o.is_repeat else ''}"
        print(
            f"{report_date!s:<12} {o.batch_id:>6} {status:<11} {o.rows_read:>5} {o.rows_landed:>6}"
            f" {o.rows_new_versions:>4} {o.rows_rejected:>8}"
        )
    read, landed, rejected = (
        sum(getattr(o, f) for o in outcomes) for f in ("rows_read", "rows_landed", "rows_rejected")
    )
    new = sum(o.rows_new_versions for o in outcomes)
    print(
        f"rows: {read} read = {landed} landed ({new} new versions) in {CONTRACT.landing_table}"
        f" + {rejected} rejected to landing.rejects; deliveries ledgered in landing.batches"
    )
    with psycopg.connect(settings.warehouse_dsn) as conn:
        for day, reason, count in _rejected_reasons(conn, [o.batch_id for o in outcomes]):
            print(f"  rejected {day} ×{count}: {reason}")
    if bulletin.layout.ignored_columns:
        print(
            f"ignored columns (no place in the {CONTRACT.feed} contract; kept in the archive):"
            f" {bulletin.layout.ignored_summary()}"
        )
    from epifeeds.quality.district_checks import check_district_feed

    with psycopg.connect(settings.warehouse_dsn) as conn:
        results = check_district_feed(
            conn,
            bulletin.report_dates,
            f"import-bulletin:{Path(args.file).name}",
            max(_receipt_times(conn, outcomes)),
        )
    failing = Counter(r.rule for r in results if r.status == "fail")
    first, last = bulletin.report_dates[0], bulletin.report_dates[-1]
    print(
        f"checks: {len(results)} run, failures by rule: {dict(sorted(failing.items())) or 'none'};"
        f" see `epifeeds findings --from {first} --to {last}`"
    )
    return 0


def _receipt_times(conn: psycopg.Connection, outcomes: list[LandingOutcome]) -> list[datetime]:
    """When the imported deliveries were received: the checks are stamped with that time, not the clock."""
    rows = conn.execute(
        "select received_at from landing.batches where batch_id = any(%s)", ([o.batch_id for o in outcomes],)
    )
    return [received_at for (received_at,) in rows]


def _received_at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; write e.g. 2022-05-12T10:00+08:00")
    return moment


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `import-bulletin` command to a parser's subparsers."""
    parser = subparsers.add_parser(
        "import-bulletin",
        help="land a published city bulletin (wide CSV: city columns + {区}_{measure}) as district reports",
        description=(
            "Archive the file once and land one district-report delivery per report date: the city row"
            " (local 本土 figures where published) and one row per district from {区}_阳性/确诊/无症状."
            " Re-importing the same file changes nothing."
        ),
    )
    parser.add_argument("file", type=Path, help="the bulletin CSV (UTF-8, UTF-8 with BOM, or GBK)")
    parser.add_argument(
        "--city",
        help="the city the bulletin is for, e.g. 北京市 (default: inferred from the district columns)",
    )
    parser.add_argument(
        "--received-at",
        type=_received_at,
        help="when the bulletin was received, ISO 8601 with zone (default: report date + 1 day 10:00 Asia/Shanghai)",
    )
    parser.set_defaults(func=cmd_import_bulletin)
    return parser
