"""Ledger a delivery, then land its typed rows with COPY as new versions, and its bad rows as rejects.

A delivery is one pull of one feed for one report date. It is archived and recorded in
landing.batches before parsing; its rows are then landed in one transaction. The same bytes
delivered again change nothing; a report whose numbers changed becomes a new _version.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from epifeeds.feeds.contracts import FeedContract
from epifeeds.feeds.parsing import ParseResult, UnreadablePayload
from epifeeds.landing import bulk
from epifeeds.landing.archive import archive_path, archive_payload, sha256_of
from epifeeds.landing.bulk import copy_text, row_hashes
from epifeeds.landing.versioning import latest_versions, place_older


@dataclass(frozen=True)
class Delivery:
    feed: str
    reporter: str  # a reporter id, or "*" for a delivery that covers every reporter of the feed
    report_date: date
    source_uri: str
    payload: bytes
    received_at: datetime
    # Set when the payload is archived already (archive.archive_stream) and not held: a file beyond the
    # size limit, ledgered and refused without being read whole; `payload` is then b"".
    archived_sha256: str | None = None


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


def record_delivery(conn: psycopg.Connection, archive_url: str, delivery: Delivery) -> tuple[int, str]:
    """Archive the payload and ledger it; returns (batch_id, status). A repeat returns the earlier batch."""
    if delivery.archived_sha256 is not None:  # streamed into the archive by the caller
        digest = delivery.archived_sha256
        archived_at = archive_path(archive_url, delivery.feed, digest)
    else:
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


# The change hash and the columns it leaves out live in landing/bulk.py; callers import them from here.
NOT_REVISION_COLUMNS = bulk.NOT_REVISION_COLUMNS
row_hash = bulk.row_hash

# How the message of a delivery quarantined by an error (not by its sender's file) begins: such a
# delivery is attempted again by the next run, so a fixed bug or a passing fault lands it.
LOAD_ERROR_PREFIX = "load error"
# Errors of the connection itself (backend terminated, network gone): the delivery stays 'received' and
# the task fails, so its retry lands it; nothing is quarantined for a fault of ours.
CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


def _sender(delivery: Delivery) -> str:
    return "" if delivery.reporter == "*" else f" of reporter {delivery.reporter}"


def land_delivery(
    conn: psycopg.Connection,
    contract: FeedContract,
    archive_url: str,
    delivery: Delivery,
    parse: Callable[[bytes], ParseResult],
) -> LandingOutcome:
    """Archive, ledger (committed), parse and land one delivery in its own transaction (idempotent).

    A file the parser refuses (UnreadablePayload, a limit) is quarantined for good: its sender must
    resend it. Any other error while parsing or loading quarantines it too, with the error, the feed,
    the reporter and the file named, and the next run tries it again. A dropped connection is raised.
    """
    if not conn.autocommit and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.commit()  # each delivery is its own transaction: nothing of the caller's may ride along
    outcome = _land_alone(conn, contract, archive_url, delivery, parse)
    if not conn.autocommit:
        conn.commit()
    return outcome


def _land_alone(
    conn: psycopg.Connection,
    contract: FeedContract,
    archive_url: str,
    delivery: Delivery,
    parse: Callable[[bytes], ParseResult],
) -> LandingOutcome:
    batch_id, status = record_delivery(conn, archive_url, delivery)
    if not conn.autocommit:
        conn.commit()  # the ledger row outlives whatever happens to the parse
    if _is_settled(conn, batch_id, status):
        return _outcome_of(conn, batch_id, is_repeat=True)
    archived = archive_path(
        archive_url, delivery.feed, delivery.archived_sha256 or sha256_of(delivery.payload)
    )
    step = "parsing"
    try:
        parsed = parse(delivery.payload)
        step = "loading"  # a streamed parse still reads rows here: an unreadable one is caught below too
        return _land_parsed(conn, contract, batch_id, delivery, parsed, archived)
    except UnreadablePayload as problem:
        message = (
            f"{delivery.feed} delivery{_sender(delivery)} for {delivery.report_date} from {delivery.source_uri} "
            f"is unreadable: {problem}. The payload is archived; ask the agency to resend it, then re-run the "
            "ingest for that date."
        )
        return _quarantine(conn, delivery, batch_id, message)
    except CONNECTION_ERRORS:
        raise
    except Exception as error:  # noqa: BLE001 - a parser bug, a hostile file or a value the database refuses
        return _quarantine(conn, delivery, batch_id, _load_error(delivery, step, error))


def _is_settled(conn: psycopg.Connection, batch_id: int, status: str) -> bool:
    """Landed, or quarantined for its sender's file: nothing more to do. A load error is tried again."""
    if status == "landed":
        return True
    if status != "quarantined":
        return False
    message = conn.execute("select message from landing.batches where batch_id = %s", (batch_id,)).fetchone()
    return not (message and message[0] or "").startswith(LOAD_ERROR_PREFIX)


def _load_error(delivery: Delivery, step: str, error: BaseException) -> str:
    where = getattr(getattr(error, "diag", None), "context", None)
    row = f" ({where.strip().splitlines()[0]})" if where else ""
    return (
        f"{LOAD_ERROR_PREFIX} while {step} the {delivery.feed} delivery{_sender(delivery)} for "
        f"{delivery.report_date} from {delivery.source_uri}{row}: {type(error).__name__}: {str(error)[:500]}. "
        "The payload is archived and the other deliveries went on; the next run tries this one again."
    )


def _slice_lock(conn: psycopg.Connection, contract: FeedContract, delivery: Delivery) -> None:
    """Serialise landings of one slice, (feed, reporter, report date), or the whole feed when its key has
    no report date (a registry): versions are numbered under this lock, so two runs at once land once."""
    day = delivery.report_date if "report_date" in contract.key else "*"
    conn.execute(
        "select pg_advisory_xact_lock(hashtext(%s))",
        (f"epifeeds.landing:{delivery.feed}:{delivery.reporter}:{day}",),
    )


def _quarantine(conn: psycopg.Connection, delivery: Delivery, batch_id: int, message: str) -> LandingOutcome:
    with conn.transaction():
        conn.execute(
            "update landing.batches set status = 'quarantined', message = %s,"
            " rows_read = 0, rows_landed = 0, rows_rejected = 0 where batch_id = %s and status <> 'landed'",
            (safe_text(message), batch_id),
        )
    return _outcome_of(conn, batch_id, is_repeat=False)


def _land_parsed(
    conn: psycopg.Connection,
    contract: FeedContract,
    batch_id: int,
    delivery: Delivery,
    parsed: ParseResult,
    archived: str,
) -> LandingOutcome:
    with conn.transaction():
        _slice_lock(conn, contract, delivery)
        status, message, loaded_at, received_at = conn.execute(
            "select status, message, clock_timestamp(), received_at from landing.batches"
            " where batch_id = %s for update",
            (batch_id,),
        ).fetchone()
        if status == "landed" or (status == "quarantined" and not message.startswith(LOAD_ERROR_PREFIX)):
            return _outcome_of(conn, batch_id, is_repeat=True)  # a concurrent run of the same slice took it
        new_versions = landed = rejected = 0
        for chunk in parsed.chunks():  # a streamed parse reads its file as the chunks are taken
            new_versions += _land_rows(conn, contract, batch_id, chunk.rows, loaded_at, received_at)
            _store_rejects(conn, contract, batch_id, delivery, chunk)
            landed, rejected = landed + len(chunk.rows), rejected + len(chunk.rejects)
        if parsed.rows_read != landed + rejected:  # nothing may disappear between reading and landing
            raise AssertionError(
                f"batch {batch_id}: {parsed.rows_read} read != {landed} landed + {rejected} rejected"
            )
        # A parser may say what it noticed about the delivery (encoding, a totals row it dropped, a cut-short
        # file): kept in the ledger next to the counts.
        notes = "".join(f"; {note}" for note in getattr(parsed, "notes", ()))
        if parsed.rows_read == 0:  # landed, and said: rule C3 judges an empty delivery on an expected day
            notes += "; no data rows: the delivery holds no report (a header alone, or an empty list)"
        header = getattr(parsed, "header", None)  # a file's header report: rule S1 reads it from here
        conn.execute(
            "update landing.batches set status = 'landed', rows_read = %s, rows_landed = %s, rows_rejected = %s,"
            " message = %s, header = %s where batch_id = %s",
            (
                parsed.rows_read,
                landed,
                rejected,
                safe_text(f"archived at {archived}; {new_versions} new versions{notes}"),
                None if header is None else Jsonb(safe_json(header.as_dict())),
                batch_id,
            ),
        )
    return _outcome_of(conn, batch_id, is_repeat=False, rows_new_versions=new_versions)


def safe_text(text: str) -> str:
    """Text Postgres accepts: NUL and lone surrogates escaped (a hostile value quoted in a message)."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def safe_json(value: Any) -> Any:
    """A raw row as jsonb accepts it: strings made safe, non-finite numbers as text, keys as text."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {safe_text(str(k)): safe_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return safe_text(str(value))


def _land_rows(
    conn: psycopg.Connection,
    contract: FeedContract,
    batch_id: int,
    rows: list[dict[str, Any]],
    loaded_at: datetime,
    received_at: datetime,
) -> int:
    """COPY the rows that differ from their key's latest version; returns how many new versions were written.

    Versions follow the deliveries' `received_at` (the API's as_of, a file's arrival), not the order they
    land in: a row of a delivery older than the one holding its key's latest version is placed among the
    earlier versions (landing/versioning.py), so a run that lands late never makes an old report the newest."""
    if not rows:
        return 0
    keys = list(zip(*([row[k] for row in rows] for k in contract.key), strict=True))
    latest = {found[0]: found[1:] for found in latest_versions(conn, contract, keys)}
    written, older = [], []  # (row, version, digest) of the new versions; (row, key, digest) to place
    for row, row_key, digest in zip(rows, keys, row_hashes(contract, rows), strict=True):
        version, previous_hash, previous_at = latest.get(row_key, (0, None, None))
        if previous_at is not None and received_at < previous_at:
            older.append((row, row_key, digest))
        elif digest != previous_hash:
            written.append((row, version + 1, digest))
    if older:
        written += place_older(conn, contract, older, received_at)
    _copy_versions(conn, contract, batch_id, loaded_at, written)
    return len(written)


def _copy_versions(
    conn: psycopg.Connection, contract: FeedContract, batch_id: int, loaded_at: datetime, written: list[tuple]
) -> None:
    columns = [c.name for c in contract.columns]
    copy_sql = f"copy {contract.landing_table} ({', '.join(columns)}, _batch_id, _loaded_at, _version, _row_hash) from stdin"
    with conn.cursor().copy(copy_sql) as copy:
        block = copy_text(
            [[row[c] for row, _, _ in written] for c in columns]
            + [[batch_id] * len(written), [loaded_at] * len(written)]
            + [[version for _, version, _ in written], [digest for _, _, digest in written]]
        )
        if block is not None:
            copy.write(block)
        else:  # a value copy_text does not write itself: psycopg's adapters, row by row
            for row, version, digest in written:
                copy.write_row([row[c] for c in columns] + [batch_id, loaded_at, version, digest])


def _store_rejects(
    conn: psycopg.Connection, contract: FeedContract, batch_id: int, delivery: Delivery, parsed: ParseResult
) -> None:
    if not parsed.rejects:
        return
    copy_sql = (
        "copy landing.rejects (batch_id, feed, reporter, report_date, row_number, raw_values, reason,"
        " reporter_id, claimed_report_date) from stdin"
    )
    with conn.cursor().copy(copy_sql) as copy:
        for reject in parsed.rejects:
            copy.write_row(
                (
                    batch_id,
                    contract.feed,
                    safe_text(_reporter_of(reject.raw_values, delivery.reporter)),
                    delivery.report_date,
                    reject.row_number,
                    Jsonb(safe_json(reject.raw_values)),
                    safe_text(reject.reason),
                    reject.reporter_id and safe_text(reject.reporter_id),
                    reject.claimed_report_date,
                )
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
