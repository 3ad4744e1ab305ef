"""Registries (名录) of testing sites and isolation hotels: JSON snapshots, landed as versions per site/hotel.

A registry file is `{"registry": name, "as_of": date, "items": [...]}` (a bare list of items is read too,
as of the run's report date). Each snapshot carries the dates a reporter was active (opened/closed,
requisitioned/released), so the latest snapshot serves every earlier report date: registries are taken
whenever their bytes are new, whatever their file time. A site or hotel whose entry changed becomes a new
`_version`; one that did not change lands nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import psycopg

from epifeeds.feeds.contracts import ISOLATION_HOTELS, TESTING_SITES, FeedContract
from epifeeds.feeds.drop_ingest import refusing
from epifeeds.feeds.file_drop import FileDrop, FileDropUnavailable
from epifeeds.feeds.limits import FileTooLarge, check_json, file_too_large, load_limits
from epifeeds.feeds.names import DistrictRoster, load_district_roster, normalise_label
from epifeeds.feeds.parsing import Reject, UnreadablePayload
from epifeeds.feeds.records import FileParseResult, clean_id, outcome_record, resolve_district, typed_value
from epifeeds.feeds.tabular import decode_text
from epifeeds.feeds.values import ValueProblem, parse_date
from epifeeds.landing.archive import archive_stream, sha256_of
from epifeeds.landing.ingest_run import IngestRun
from epifeeds.landing.loader import LOAD_ERROR_PREFIX, Delivery
from epifeeds.landing.schema import ensure_landing_schema

REGISTRY_FILES: dict[str, str] = {  # registry contract -> file below the registry URL
    TESTING_SITES.feed: "testing_sites.json",
    ISOLATION_HOTELS.feed: "isolation_hotels.json",
}
REGISTRIES = (TESTING_SITES, ISOLATION_HOTELS)


def _items_of(payload: bytes, default_as_of: date) -> tuple[list[Any], date]:
    text, _ = decode_text(payload)
    check_json(text, "registry JSON")  # size and nesting depth (feeds/limits.py)
    try:
        document = json.loads(text)
    except ValueError as error:
        raise UnreadablePayload(f"not JSON ({error})") from None
    if isinstance(document, list):
        return document, default_as_of
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise UnreadablePayload("a registry is a JSON object with an 'items' list (or a bare list of items)")
    as_of = document.get("as_of")
    try:
        return document["items"], default_as_of if as_of is None else parse_date(as_of)
    except ValueProblem as problem:
        raise UnreadablePayload(f"the registry's as_of is not a date: {problem}") from None


def registry_date(payload: bytes, run_report_date: date) -> date:
    """The date a registry delivery is ledgered under: its own `as_of`, so that whichever run takes the
    bytes first ledgers the same row. A bare list (no as_of) or an unreadable file takes the run's report
    date, as its entries do."""
    try:
        return _items_of(payload, run_report_date)[1]
    except UnreadablePayload:
        return run_report_date


def _district_of(fields: dict[str, Any], roster: DistrictRoster) -> str:
    """The entry's district: its code and its name must agree when both are given."""
    code, name = fields.get("district_id"), fields.get("district_name_reported")
    by_code = resolve_district(roster, code) if code not in (None, "") else None
    by_name = roster.resolve(str(name)) if name not in (None, "") else None
    if code not in (None, "") and by_code is None:
        raise ValueProblem(
            f"unknown district code {code!r}: not on the district roster (dbt seed districts.csv)"
        )
    if name not in (None, "") and by_name is None:
        raise ValueProblem(
            f"unknown district {str(name)!r}: not in the district alias table; if it is a real spelling, add it "
            "to dbt_project/seeds/district_aliases.csv, otherwise ask the registry's owner to correct it"
        )
    if by_code and by_name and by_code != by_name:
        raise ValueProblem(f"district code {code} and district name {name!r} ({by_name}) disagree")
    if not (by_code or by_name):
        raise ValueProblem("no district: the entry needs district_id or district_name")
    return by_code or by_name  # type: ignore[return-value]


def parse_registry(
    contract: FeedContract, payload: bytes, *, roster: DistrictRoster, default_as_of: date
) -> FileParseResult:
    """Typed registry rows; an entry with an unknown district, a bad value or a repeated id is rejected."""
    items, as_of = _items_of(payload, default_as_of)
    lookup = contract.header_lookup()
    id_column = contract.key[0]
    result = FileParseResult(notes=[f"{contract.feed} registry as of {as_of}, {len(items)} entries"])
    seen: dict[str, int] = {}
    for row_number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            result.rejects.append(Reject(row_number, {"value": item}, "registry entry is not a JSON object"))
            continue
        fields = {lookup[label]: v for k, v in item.items() if (label := normalise_label(str(k))) in lookup}
        try:
            row = _registry_row(contract, fields, roster, as_of)
            if row[id_column] in seen:
                raise ValueProblem(
                    f"{id_column} {row[id_column]} is listed twice: entry {seen[row[id_column]]} already has it"
                )
        except ValueProblem as problem:
            result.rejects.append(Reject(row_number, item, str(problem)))
            continue
        seen[row[id_column]] = row_number
        result.rows.append(row)
    return result


def _registry_row(
    contract: FeedContract, fields: dict[str, Any], roster: DistrictRoster, as_of: date
) -> dict[str, Any]:
    id_column = contract.key[0]
    row: dict[str, Any] = {
        id_column: clean_id(fields.get(id_column)),
        "district_id": _district_of(fields, roster),
    }
    if not row[id_column]:
        raise ValueProblem(f"no {id_column}: every registry entry needs its id")
    fields = {**fields, "registry_as_of": as_of}
    for column in contract.columns:
        if column.name in row:
            continue
        value = typed_value(contract, column.name, fields.get(column.name))
        if column.accepted_values and value is not None:
            value = str(value).lower()
            if value not in column.accepted_values:
                raise ValueProblem(
                    f"field {column.name!r}: {fields.get(column.name)!r} is not one of {', '.join(column.accepted_values)}"
                )
        if value is None and column.required:
            raise ValueProblem(f"required field {column.name!r} is missing or blank")
        row[column.name] = value
    return row


def already_taken(conn: psycopg.Connection, feed: str, sha256: str) -> bool:
    """The ledger remembers every delivery: these bytes were landed (or refused) before. A delivery left
    'received' (a run killed mid-way) or quarantined by a load error is taken again."""
    return (
        conn.execute(
            "select 1 from landing.batches where feed = %s and sha256 = %s and (status = 'landed'"
            " or (status = 'quarantined' and message not like %s)) limit 1",
            (feed, sha256, f"{LOAD_ERROR_PREFIX}%"),
        ).fetchone()
        is not None
    )


def ingest_registries(
    warehouse_dsn: str, archive_url: str, registry_url: str, report_date: date, as_of: datetime
) -> list[dict]:
    """Take each registry file whose bytes are new and land it; returns one record per new delivery."""
    roster = load_district_roster()
    drop = FileDrop(registry_url)
    drop.check_reachable("registries")
    records = []
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:  # one transaction per delivery
        ensure_landing_schema(conn)
        run = IngestRun(conn, archive_url, as_of)
        for contract in REGISTRIES:
            try:
                delivery, refusal = _registry_delivery(drop, archive_url, contract, report_date, as_of)
            except (OSError, FileDropUnavailable) as error:  # the other registry goes on; listed at the end
                run.failed(
                    f"the {contract.feed} registry {REGISTRY_FILES[contract.feed]} under {registry_url} could "
                    f"not be read: {type(error).__name__}: {error}. It is not ledgered; check the file, then the "
                    "retry or the next run takes it"
                )
                continue
            with _registry_lock(conn, contract.feed):
                record = _take(conn, run, contract, delivery, roster, refusal)
            if record is not None:
                records.append(record)
        run.finish()  # findings and alerts for what was quarantined; fails, with the list, on load errors
    return records


def _registry_delivery(
    drop: FileDrop, archive_url: str, contract: FeedContract, report_date: date, as_of: datetime
) -> tuple[Delivery, FileTooLarge | None]:
    """The registry file as a delivery, ledgered under its own as_of; one beyond EPIFEEDS_MAX_FILE_MB is
    never read whole: archived a chunk at a time, it comes with its refusal (ledgered under the run's date)."""
    relative = REGISTRY_FILES[contract.feed]
    arrived_at, uri = drop.located(relative)
    received_at = min(arrived_at, as_of)
    size, max_bytes = drop.size(relative), load_limits().max_file_bytes
    if size > max_bytes:
        with drop.open(relative) as source:
            sha256, _ = archive_stream(archive_url, contract.feed, source)
        refusal = file_too_large(size, "registry JSON", max_bytes)
        return Delivery(contract.feed, "*", report_date, uri, b"", received_at, sha256), refusal
    with drop.open(relative) as source:
        payload = source.read()
    return Delivery(contract.feed, "*", registry_date(payload, report_date), uri, payload, received_at), None


@contextmanager
def _registry_lock(conn: psycopg.Connection, feed: str) -> Iterator[None]:
    """The loader's slice lock of the whole registry feed, held by the session across the ledger check and
    the landing: two runs at once would otherwise both find the bytes new and both ledger them."""
    key = f"epifeeds.landing:{feed}:*:*"  # the key loader._slice_lock takes for a feed without a report date
    conn.execute("select pg_advisory_lock(hashtext(%s))", (key,))
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(hashtext(%s))", (key,))


def _take(
    conn: psycopg.Connection,
    run: IngestRun,
    contract: FeedContract,
    delivery: Delivery,
    roster: DistrictRoster,
    refusal: FileTooLarge | None = None,
) -> dict | None:
    """Land one registry delivery unless its bytes were taken before (a refused one is quarantined with
    `refusal`); the record of a new delivery."""
    if already_taken(conn, contract.feed, delivery.archived_sha256 or sha256_of(delivery.payload)):
        return None  # the registry has not changed since a run took it (for whatever report date)

    def parse(raw: bytes) -> FileParseResult:
        return parse_registry(contract, raw, roster=roster, default_as_of=delivery.report_date)

    outcome = run.land(contract, delivery, parse if refusal is None else refusing(refusal))
    if outcome.is_repeat:
        return None  # the registry has not changed since a run took it
    record = outcome_record(contract.feed, "*", delivery.report_date, delivery.source_uri, outcome)
    record["slice_dates"] = [
        str(day)
        for (day,) in conn.execute(
            f"select distinct registry_as_of from {contract.landing_table} where _batch_id = %s",
            (outcome.batch_id,),
        )
    ]
    return record
