"""Versions in delivery order: where a row of a delivery that lands after a newer one goes.

A report's `_version`s follow the `received_at` of the deliveries that hold them (the district API's
as_of, a file's arrival): a run that lands late, as a backfill's earlier run finishing after a later
one, places its rows among the earlier versions and the newer ones move up; `__current` stays newest.
"""

from __future__ import annotations

from datetime import datetime
from itertools import takewhile

import psycopg

from epifeeds.feeds.contracts import FeedContract
from epifeeds.landing.bulk import array_literal


def latest_versions(conn: psycopg.Connection, contract: FeedContract, keys: list[tuple]) -> list[tuple]:
    """(key, _version, _row_hash, received_at of its delivery) of the keys' latest versions."""
    return _versions(conn, contract, keys, latest_only=True)


def _key_filter(contract: FeedContract, keys: list[tuple]) -> tuple[str, list[str]]:
    """`(t.k1, t.k2) in (unnest of the keys)`, with its parameters (one array literal per key column)."""
    columns = ", ".join(f"t.{k}" for k in contract.key)
    arrays = ", ".join(f"%s::{contract.column(k).pg_type}[]" for k in contract.key)
    return f"({columns}) in (select * from unnest({arrays}))", [
        array_literal(values) for values in zip(*keys, strict=True)
    ]


def _versions(
    conn: psycopg.Connection, contract: FeedContract, keys: list[tuple], *, latest_only: bool
) -> list[tuple]:
    """(key, _version, _row_hash, received_at of its delivery) of the keys' versions, oldest first, or of
    their latest versions only."""
    where, params = _key_filter(contract, keys)
    columns = ", ".join(f"t.{k}" for k in contract.key)
    distinct = f"distinct on ({columns})" if latest_only else ""
    found = conn.execute(
        f"select {distinct} {columns}, t._version, t._row_hash, b.received_at"
        f" from {contract.landing_table} t join landing.batches b on b.batch_id = t._batch_id"
        f" where {where} order by {columns}, t._version {'desc' if latest_only else ''}",
        params,
    ).fetchall()
    width = len(contract.key)
    return [(tuple(row[:width]), *row[width:]) for row in found]


def place_older(
    conn: psycopg.Connection, contract: FeedContract, older: list[tuple], received_at: datetime
) -> list[tuple]:
    """Place rows of a delivery older than their keys' latest versions where landing in order would have
    put them: after the versions delivered before (or with) it, before the later ones, which move up one.

    The same report as the version before it lands nothing; the same as the one after it takes that
    version's place (in order, this delivery would have held the report first). Returns the rows to COPY."""
    history: dict[tuple, list[tuple]] = {}
    for row_key, version, digest, at in _versions(
        conn, contract, [k for _, k, _ in older], latest_only=False
    ):
        history.setdefault(row_key, []).append((version, digest, at))
    placed, replaced, shifted = [], [], []
    for row, row_key, digest in older:
        versions = history[row_key]
        before = sum(1 for _ in takewhile(lambda v: v[2] <= received_at, versions))
        if before and versions[before - 1][1] == digest:
            continue
        (replaced if versions[before][1] == digest else shifted).append(row_key + (before + 1,))
        placed.append((row, before + 1, digest))
    _make_room(conn, contract, replaced, shifted)
    return placed


def _make_room(conn: psycopg.Connection, contract: FeedContract, replaced: list, shifted: list) -> None:
    """Delete the versions `replaced` names; move up one every version from each of `shifted`'s on (through
    negative numbers: the primary key is checked row by row)."""
    key, table = contract.key, contract.landing_table
    match = " and ".join(f"t.{k} = s.{k}" for k in key)
    arrays = ", ".join(f"%s::{contract.column(k).pg_type}[]" for k in key)
    alias = f"s({', '.join(key)}, _place)"
    for places, change in (
        (replaced, "delete from {table} t using"),
        (shifted, "update {table} t set _version = -(t._version + 1) from"),
    ):
        if not places:
            continue
        columns = list(zip(*places, strict=True))
        params = [array_literal(values) for values in columns[:-1]] + [list(columns[-1])]
        compare = "=" if places is replaced else ">="
        conn.execute(
            f"{change.format(table=table)} unnest({arrays}, %s::int[]) as {alias}"
            f" where {match} and t._version {compare} s._place",
            params,
        )
    if shifted:
        where, params = _key_filter(contract, [place[:-1] for place in shifted])
        conn.execute(f"update {table} t set _version = -t._version where {where} and t._version < 0", params)
