"""Ledger a delivery, then land its typed rows with COPY as new versions, and its bad rows as rejects.

A delivery is one pull of one feed for one report date. It is archived and recorded in
landing.batches before parsing; its rows are then landed in one transaction. The same bytes
delivered again change nothing; a report whose numbers changed becomes a new _version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from epifeeds.feeds.contracts import FeedContract
from epifeeds.feeds.parsing import ParseResult, UnreadablePayload
from epifeeds.landing.archive import archive_payload

# Columns that describe the delivery rather than the report: a change in them is not a revision.
NOT_REVISION_COLUMNS = frozenset({"district_name_reported", "submitted_at"})


@dataclass(frozen=True)
class Delivery:
    feed: str
    reporter: str  # a reporter id, or "*" for a delivery that covers every reporter of the feed
    report_date: date
    source_uri: str
    payload: bytes
    received_at: datetime


@dataclass(frozen=True)
class LandingOutcome:
    batch_id: int
    status: str  # landed | quarantined
    is_repeat: bool  # the same bytes had been landed before: nothing changed
    rows_read: int
    rows_landed: int
    rows_new_versions: int
    rows_rejected: int
    message: str = ""


def row_hash(contract: FeedContract, row: dict[str, Any]) -> str:
    ignored = NOT_REVISION_COLUMNS | contract.not_revision_columns
    material = {c.name: row.get(c.name) for c in contract.columns if c.name not in ignored}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def record_delivery(conn: psycopg.Connection, archive_url: str, delivery: Delivery) -> tuple[int, str]:
    """Archive the payload and ledger it; returns (batch_id, status). A repeat returns the earlier batch."""
    digest, archived_at = archive_payload(archive_url, delivery.feed, delivery.payload)
    with conn.transaction():
        found = conn.execute(
            """
            insert into landing.batches (feed, reporter, report_date, source_uri, sha256, received_at, status, message)
            values (%s, %s, %s, %s, %s, %s, 'received', %s)
            on conflict (feed, reporter, report_date, sha256) do nothing
            returning batch_id, status
            """,
            (
                delivery.feed,
                delivery.reporter,
                delivery.report_date,
                delivery.source_uri,
                digest,
                delivery.received_at,
                f"archived at {archived_at}",
            ),
        ).fetchone()
        if found is None:
            found = conn.execute(
                "select batch_id, status from landing.batches"
                " where feed = %s and reporter = %s and report_date = %s and sha256 = %s",
                (delivery.feed, delivery.reporter, delivery.report_date, digest),
            ).fetchone()
            return found[0], found[1]
    return found[0], "new"


def land_delivery(
    conn: psycopg.Connection,
    contract: FeedContract,
    archive_url: str,
    delivery: Delivery,
    parse: Callable[[bytes], ParseResult],
) -> LandingOutcome:
    """Archive, ledger, parse and land one delivery (idempotent)."""
    batch_id, status = record_delivery(conn, archive_url, delivery)
    if status in ("landed", "quarantined"):
        return _outcome_of(conn, batch_id, is_repeat=True)
    try:
        parsed = parse(delivery.payload)
    except UnreadablePayload as problem:
        sender = "" if delivery.reporter == "*" else f" of reporter {delivery.reporter}"
        message = (
            f"{delivery.feed} delivery{sender} for {delivery.report_date} from {delivery.source_uri} is unreadable: {problem}. "
            "The payload is archived; ask the agency to resend it, then re-run the ingest for that date."
        )
        with conn.transaction():
            conn.execute(
                "update landing.batches set status = 'quarantined', message = %s,"
                " rows_read = 0, rows_landed = 0, rows_rejected = 0 where batch_id = %s",
                (message, batch_id),
            )
        return _outcome_of(conn, batch_id, is_repeat=False)

    with conn.transaction():
        new_versions = _land_rows(conn, contract, batch_id, parsed.rows)
        _store_rejects(conn, contract, batch_id, delivery, parsed)
        landed, rejected = len(parsed.rows), len(parsed.rejects)
        if parsed.rows_read != landed + rejected:  # nothing may disappear between reading and landing
            raise AssertionError(
                f"batch {batch_id}: {parsed.rows_read} read != {landed} landed + {rejected} rejected"
            )
        # A parser may say what it noticed about the delivery (encoding, a totals row it dropped, a cut-short
        # file): kept in the ledger next to the counts.
        notes = "".join(f"; {note}" for note in getattr(parsed, "notes", ()))
        conn.execute(
            "update landing.batches set status = 'landed', rows_read = %s, rows_landed = %s, rows_rejected = %s,"
            " message = message || %s where batch_id = %s",
            (parsed.rows_read, landed, rejected, f"; {new_versions} new versions{notes}", batch_id),
        )
    return _outcome_of(conn, batch_id, is_repeat=False, rows_new_versions=new_versions)


def _land_rows(
    conn: psycopg.Connection, contract: FeedContract, batch_id: int, rows: list[dict[str, Any]]
) -> int:
    """COPY the rows that differ from their key's latest version; returns how many new versions were written."""
    if not rows:
        return 0
    key = contract.key
    latest = {
        tuple(found[:-2]): (found[-2], found[-1])
        for found in conn.execute(
            f"select distinct on ({', '.join(key)}) {', '.join(key)}, _version, _row_hash"
            f" from {contract.landing_table} where ({', '.join(key)}) in"
            f" (select * from unnest({', '.join(f'%s::{contract.column(k).pg_type}[]' for k in key)}))"
            f" order by {', '.join(key)}, _version desc",
            [[row[k] for row in rows] for k in key],
        ).fetchall()
    }
    columns = [c.name for c in contract.columns]
    loaded_at = conn.execute("select clock_timestamp()").fetchone()[0]
    written = 0
    copy_sql = f"copy {contract.landing_table} ({', '.join(columns)}, _batch_id, _loaded_at, _version, _row_hash) from stdin"
    with conn.cursor().copy(copy_sql) as copy:
        for row in rows:
            digest = row_hash(contract, row)
            version, previous_hash = latest.get(tuple(row[k] for k in key), (0, None))
            if digest == previous_hash:
                continue
            copy.write_row([row[c] for c in columns] + [batch_id, loaded_at, version + 1, digest])
            written += 1
    return written


def _store_rejects(
    conn: psycopg.Connection, contract: FeedContract, batch_id: int, delivery: Delivery, parsed: ParseResult
) -> None:
    if not parsed.rejects:
        return
    with conn.cursor() as cursor:
        cursor.executemany(
            "insert into landing.rejects (batch_id, feed, reporter, report_date, row_number, raw_values, reason,"
            " reporter_id, claimed_report_date) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    batch_id,
                    contract.feed,
                    _reporter_of(reject.raw_values, delivery.reporter),
                    delivery.report_date,
                    reject.row_number,
                    Jsonb(reject.raw_values),
                    reject.reason,
                    reject.reporter_id,
                    reject.claimed_report_date,
                )
                for reject in parsed.rejects
            ],
        )


def _reporter_of(raw: dict[str, Any], fallback: str) -> str:
    """The reporter as the bad row itself names it, so a reject can be traced to who sent it."""
    for key in ("district", "区县", "reporter", "site_id", "hotel_id", "采样点编号", "隔离点编号"):
        if raw.get(key):
            return str(raw[key])
    return fallback


def _outcome_of(
    conn: psycopg.Connection, batch_id: int, *, is_repeat: bool, rows_new_versions: int = 0
) -> LandingOutcome:
    status, read, landed, rejected, message = conn.execute(
        "select status, rows_read, rows_landed, rows_rejected, message from landing.batches where batch_id = %s",
        (batch_id,),
    ).fetchone()
    return LandingOutcome(
        batch_id, status, is_repeat, read or 0, landed or 0, rows_new_versions, rejected or 0, message
    )
