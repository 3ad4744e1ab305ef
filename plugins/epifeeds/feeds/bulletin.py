"""Published city bulletins in the wide layout, landed as district reports and as bulletin measures.

Each report date of a bulletin file (e.g. Beijing's daily figures, 2022-04-09..2022-05-11) becomes two
deliveries (landing.batches rows, reporter '*'): a district-report delivery (the city row and one row
per district: new positives, confirmed, asymptomatic) and a bulletin-measures delivery (every figure
the file publishes, long: reporter × date × measure, into landing.bulletin_measures). The file's bytes
are archived once, content-addressed, and every delivery points at them. Reading the layout lives in
`bulletin_layout`; judging the landed figures in `epifeeds.quality.bulletin_checks` (parsing never judges).

Decisions (see docs/feeds.md):
- The city row carries the local (本土) figures when the file has them, not the all-inclusive totals:
  the districts' columns count local cases only, so R1 reconciles like with like. The totals and the
  imported figures are bulletin measures.
- Columns that match no measure are never dropped silently: the import report and each batch message
  name them; their values stay in the archived file.
- `received_at` defaults to the publication time, report date + 1 day 10:00 Asia/Shanghai, so C1
  timeliness judges a bulletin as published, not as imported years later.
- A city not yet onboarded is onboarded by the import (`epifeeds.feeds.roster.onboard_city`), with the
  file's first and last dates as its reporting calendar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from epifeeds.feeds.bulletin_city import city_roster
from epifeeds.feeds.bulletin_layout import (
    CONTRACT,
    UnreadableBulletin,
    WideBulletin,
    decode_bulletin,
    read_wide_bulletin,
)
from epifeeds.feeds.bulletin_measures import BULLETIN_MEASURES
from epifeeds.feeds.contracts import FeedContract
from epifeeds.feeds.names import DistrictRoster, load_district_roster
from epifeeds.feeds.parsing import DUPLICATE_ROW_REASON, ParseResult, Reject, parse_district_records
from epifeeds.feeds.roster import onboard_city
from epifeeds.feeds.values import ValueProblem, parse_count
from epifeeds.landing.archive import archive_payload
from epifeeds.landing.ingest_run import IngestRun
from epifeeds.landing.loader import Delivery, LandingOutcome
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.settings import REPORT_TIMEZONE

__all__ = ["UnreadableBulletin", "decode_bulletin", "read_wide_bulletin", "import_bulletin"]
PUBLICATION_LOCAL_TIME = time(10, 0)  # bulletins for day D are published by 10:00 Asia/Shanghai on D+1


@dataclass(frozen=True)
class BulletinImport:
    """What one import did: the file read, the deliveries landed per date, and whether it onboarded."""

    file_name: str
    bulletin: WideBulletin
    outcomes: list[LandingOutcome]  # district reports, one per report date, oldest first
    measure_outcomes: list[LandingOutcome]  # bulletin measures, one per report date
    onboarded: bool  # the import put the city on the roster

    @property
    def batch_ids(self) -> list[int]:
        return [o.batch_id for o in (*self.outcomes, *self.measure_outcomes)]


def publication_time(report_date: date) -> datetime:
    """When a bulletin for `report_date` is published: 10:00 Asia/Shanghai the next day."""
    return datetime.combine(
        report_date + timedelta(days=1), PUBLICATION_LOCAL_TIME, ZoneInfo(REPORT_TIMEZONE)
    )


def parse_measure_records(records: list[dict[str, Any]]) -> ParseResult:
    """Typed bulletin-measure rows; an unreadable figure or a figure given twice is rejected with why."""
    result = ParseResult()
    seen: dict[tuple[str, str], int] = {}
    for row_number, record in enumerate(records, start=1):
        key = (record["reporter_id"], record["measure"])
        raw = {k: str(v) for k, v in record.items()}
        if key in seen:
            reason = (
                f"{DUPLICATE_ROW_REASON} figure for reporter {key[0]} measure {key[1]} on {record['report_date']}"
                f" (line {record['bulletin_line']} repeats line {seen[key]})"
            )
            result.rejects.append(Reject(row_number, raw, reason, key[0], record["report_date"]))
            continue
        try:
            value = parse_count(record["value"])
        except ValueProblem as problem:
            reason = f"{record['source_header']} (line {record['bulletin_line']}): {problem}"
            result.rejects.append(Reject(row_number, raw, reason, key[0], record["report_date"]))
            continue
        seen[key] = record["bulletin_line"]
        row = {c.name: record[c.name] for c in BULLETIN_MEASURES.columns}
        result.rows.append({**row, "value": value})
    return result


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
        f"{len(layout.district_ids)} districts from {{区}}_{'/'.join(layout.district_measure_labels)} columns",
    ]
    if sources := bulletin.sources_for(report_date):
        parts.append(f"published at {' '.join(sources)}")
    if layout.ignored_columns:
        parts.append(
            f"ignored columns (no place in the {CONTRACT.feed} contract; carried in"
            f" {BULLETIN_MEASURES.landing_table} where they are measures): {layout.ignored_summary()}"
        )
    if layout.unmatched_columns:
        parts.append(f"unmatched columns (kept in the archived file): {layout.unmatched_summary()}")
    return "; " + "; ".join(parts)


def import_bulletin(
    warehouse_dsn: str,
    archive_url: str,
    path: str | Path,
    *,
    received_at: datetime | None = None,
    city: str | None = None,
    roster: DistrictRoster | None = None,
    source_uri: str | None = None,
    run_id: str | None = None,
) -> BulletinImport:
    """Archive a published wide bulletin once and land its deliveries, one pair per report date.

    Importing the same file again changes nothing; a corrected file lands changed figures as new
    versions. `received_at` (all deliveries) defaults to each report date's publication time; `city` (a
    name, alias or code) defaults to the city whose districts the columns name. Lands through
    `IngestRun` like every feed: raises `DeliveriesFailed` after the others when a delivery could not be
    loaded (quarantined with a C3 finding; the next import tries it again).
    """
    if received_at is not None and received_at.tzinfo is None:
        raise ValueError(f"received_at {received_at} has no time zone; pass an aware datetime")
    path = Path(path)
    payload = path.read_bytes()
    archive_payload(archive_url, CONTRACT.feed, payload)  # kept byte for byte before anything is parsed
    bulletin = read_wide_bulletin(payload, roster or load_district_roster(), city=city)
    city_id = bulletin.layout.city.district_id
    onboarded = False
    if not bulletin.layout.is_onboarded:
        dates = bulletin.report_dates
        onboard_city(city_id, active_from=dates[0], active_to=dates[-1])
        onboarded = True
    scoped = city_roster(roster or load_district_roster(), city_id)
    uri = source_uri or path.resolve().as_uri()

    outcomes, measure_outcomes = [], []
    # One driver for every feed: each delivery lands or is quarantined alone, a quarantine is a C3 finding,
    # and a load error fails the import once every other delivery has been tried (DeliveriesFailed).
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:  # one transaction per delivery
        ensure_landing_schema(conn)  # landing.bulletin_measures included
        received = [received_at or publication_time(day) for day in bulletin.report_dates]
        run, unpublished = IngestRun(conn, archive_url, max(received), run_id), bulletin.unpublished()
        for report_date, at in zip(bulletin.report_dates, received, strict=True):
            parsers = _parsers(scoped, city_id, report_date, at, unpublished)
            note = batch_note(bulletin, report_date, path.name)
            for (contract, parser), into in zip(parsers, (outcomes, measure_outcomes), strict=True):
                delivery = Delivery(contract.feed, "*", report_date, uri, payload, at)
                into.append(_with_note(conn, run.land(contract, delivery, parser), note))
        run.finish()
    return BulletinImport(path.name, bulletin, outcomes, measure_outcomes, onboarded)


def _parsers(
    scoped: DistrictRoster, city_id: str, day: date, received_at: datetime, unpublished: set[tuple[str, str]]
) -> tuple[tuple[FeedContract, Callable[[bytes], ParseResult]], ...]:
    """One report date's two deliveries, each parsed from the archived bytes: district reports, measures."""

    def parse_reports(raw: bytes) -> ParseResult:
        records = read_wide_bulletin(raw, scoped, city=city_id).records_for(day)
        return parse_district_records(
            CONTRACT, records, report_date=day, received_at=received_at, roster=scoped
        )

    def parse_measures(raw: bytes) -> ParseResult:
        wide = read_wide_bulletin(raw, scoped, city=city_id)
        return parse_measure_records(wide.measure_records_for(day, unpublished))

    return ((CONTRACT, parse_reports), (BULLETIN_MEASURES, parse_measures))


def _with_note(conn: psycopg.Connection, outcome: LandingOutcome, note: str) -> LandingOutcome:
    """Append the bulletin note to the batch message once (a re-import finds it there already)."""
    with conn.transaction():
        message = conn.execute(
            "update landing.batches set message = case when strpos(message, %s) = 0"
            " then message || %s else message end where batch_id = %s returning message",
            ("; bulletin ", note, outcome.batch_id),
        ).fetchone()[0]
    return dataclasses.replace(outcome, message=message)
