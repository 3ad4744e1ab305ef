"""The ingest loop the file-drop feeds share (testing-site and hotel reports): list the files that had
arrived by the run's time, then land each one through one IngestRun, every delivery on its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg

from epifeeds.feeds.contracts import FeedContract
from epifeeds.feeds.file_drop import DropFile, FileDrop
from epifeeds.feeds.names import DistrictRoster, load_district_roster
from epifeeds.feeds.parsing import ParseResult
from epifeeds.feeds.records import RegisteredReporter, load_registered, outcome_record
from epifeeds.landing.ingest_run import IngestRun
from epifeeds.landing.loader import Delivery
from epifeeds.landing.schema import ensure_landing_schema


@dataclass
class DropRun:
    """What landing one file needs: the run, the drop, the registry's reporters and the roster."""

    run: IngestRun
    drop: FileDrop
    registered: Mapping[str, RegisteredReporter]
    roster: DistrictRoster
    deliveries: list[dict[str, Any]]
    repeats: int = 0

    def land(
        self,
        contract: FeedContract,
        reporter: str,
        drop_file: DropFile,
        payload: bytes,
        parse: Callable[[bytes], ParseResult],
    ) -> dict[str, Any] | None:
        """Land one slice of a file; the delivery's record (also kept in `deliveries`), None for a repeat."""
        delivery = Delivery(
            contract.feed, reporter, drop_file.report_date, drop_file.uri, payload, drop_file.arrived_at
        )
        outcome = self.run.land(contract, delivery, parse)
        if outcome.is_repeat:
            self.repeats += 1
            return None
        record = outcome_record(contract.feed, reporter, drop_file.report_date, drop_file.uri, outcome)
        self.deliveries.append(record)
        return record


@dataclass(frozen=True)
class DropFeed:
    """A file-drop feed: its folder, its feed name (for messages), its registry and how one file lands."""

    folder: str
    feed: str
    registry: FeedContract
    land_file: Callable[[DropRun, DropFile], None]
    slices_per_file: int = 1  # a hotel file lands twice (reports and check-ins)


def ingest_drop_files(
    spec: DropFeed,
    warehouse_dsn: str,
    archive_url: str,
    drop_url: str,
    report_dates: list[date],
    as_of: datetime,
) -> dict[str, Any]:
    """Take every file of the feed's folder for the report dates that had arrived by `as_of` and is new; land
    each with `spec.land_file`. Fails at the end (IngestRun.finish) with the list when a delivery could not land."""
    roster = load_district_roster()
    drop = FileDrop(drop_url)
    drop.check_reachable(spec.feed)
    files = drop.files_for(spec.folder, report_dates, arrived_by=as_of)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:  # one transaction per delivery
        ensure_landing_schema(conn)
        registered = load_registered(conn, spec.registry)
        context = DropRun(IngestRun(conn, archive_url, as_of), drop, registered, roster, [])
        for drop_file in files:
            spec.land_file(context, drop_file)
        context.run.finish()  # findings and alerts for what was quarantined; fails, with the list, on load errors
    return {
        "deliveries": context.deliveries,
        "files_seen": len(files),
        "files_already_taken": context.repeats // spec.slices_per_file,
    }
