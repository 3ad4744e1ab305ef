"""The ingest loop the file-drop feeds share (testing-site and hotel reports): list the files that had
arrived by the run's time, then land each one through one IngestRun, every delivery on its own.

One bad file never stops the others. A file beyond the size limit (EPIFEEDS_MAX_FILE_MB, by its listed
size) is never read whole: it is streamed into the archive and ledgered quarantined, with a C3 finding
and an alert like any refused file. A file the drop cannot read (permissions, a link to nowhere, gone
since the listing) is listed with its error, the others land, and the run fails at the end (so Airflow
retries it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg

from epifeeds.feeds.contracts import FeedContract
from epifeeds.feeds.file_drop import DropFile, FileDrop
from epifeeds.feeds.limits import FileTooLarge, file_too_large, load_limits
from epifeeds.feeds.names import DistrictRoster, load_district_roster
from epifeeds.feeds.parsing import ParseResult
from epifeeds.feeds.records import RegisteredReporter, load_registered, outcome_record
from epifeeds.landing.archive import archive_stream
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
    feed: str = "file drop"  # for the messages of files that could not be read

    def read(self, drop_file: DropFile, reporter: str) -> bytes | FileTooLarge | None:
        """The file's bytes; its refusal, unread, when it is beyond EPIFEEDS_MAX_FILE_MB (`land` then streams
        it into the archive and quarantines it); None when the drop cannot read it: then it is listed as
        failed (the run fails at the end) and the caller skips it."""
        try:
            size = self.drop.size(drop_file.relative_path)
            max_bytes = load_limits().max_file_bytes
            if size > max_bytes:
                return file_too_large(size, f"{drop_file.file_format.upper()} file", max_bytes)
            return self.drop.read(drop_file)
        except OSError as error:
            self._unreadable(drop_file, reporter, error)
            return None

    def _unreadable(self, drop_file: DropFile, reporter: str, error: OSError) -> None:
        self.run.failed(
            f"{self.feed} file of reporter {reporter} for {drop_file.report_date} at {drop_file.uri} could not "
            f"be read: {type(error).__name__}: {error}. It is not ledgered and the other files went on; check "
            "the file in the drop (permissions, a link to nowhere, removed), then the retry or the next run takes it"
        )

    def land(
        self,
        contract: FeedContract,
        reporter: str,
        drop_file: DropFile,
        payload: bytes | FileTooLarge,
        parse: Callable[[bytes], ParseResult],
    ) -> dict[str, Any] | None:
        """Land one slice of a file; the delivery's record (also kept in `deliveries`), None for a repeat
        (or for an oversize file the drop could not read to the end, listed as failed)."""
        sha256 = None
        if isinstance(payload, FileTooLarge):  # archived a chunk at a time, ledgered by its hash, refused
            try:
                with self.drop.open(drop_file.relative_path) as source:
                    sha256, _ = archive_stream(self.run.archive_url, contract.feed, source)
            except OSError as error:
                self._unreadable(drop_file, reporter, error)
                return None
            payload, parse = b"", refusing(payload)
        delivery = Delivery(
            contract.feed,
            reporter,
            drop_file.report_date,
            drop_file.uri,
            payload,
            drop_file.arrived_at,
            sha256,
        )
        outcome = self.run.land(contract, delivery, parse)
        if outcome.is_repeat:
            self.repeats += 1
            return None
        record = outcome_record(contract.feed, reporter, drop_file.report_date, drop_file.uri, outcome)
        self.deliveries.append(record)
        return record


def refusing(problem: FileTooLarge) -> Callable[[bytes], ParseResult]:
    """A parse that refuses the delivery unread: the loader quarantines it with the problem, as for any file
    its parser refuses."""

    def refuse(_: bytes) -> ParseResult:
        raise problem

    return refuse


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
        context = DropRun(IngestRun(conn, archive_url, as_of), drop, registered, roster, [], feed=spec.feed)
        for drop_file in files:
            spec.land_file(context, drop_file)
        context.run.finish()  # findings and alerts for what was quarantined; fails, with the list, on load errors
    return {
        "deliveries": context.deliveries,
        "files_seen": len(files),
        "files_already_taken": context.repeats // spec.slices_per_file,
    }
