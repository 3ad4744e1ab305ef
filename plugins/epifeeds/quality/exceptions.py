"""Rule X1: a reviewed file of known exceptions, loaded into dq.exceptions, silences named rules for
named reporters and dates. Silenced findings stay in dq.findings (status 'silenced', with the reason);
removing an entry brings its findings back."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
import yaml

from epifeeds.landing.ingest_run import FINDINGS_LOCK
from epifeeds.quality.registry import RULES
from epifeeds.settings import EXPECTATIONS_DIR

DEFAULT_EXCEPTIONS_FILE = EXPECTATIONS_DIR / "known_exceptions.yml"

DDL = """
create table if not exists dq.exceptions (
    exception_id integer primary key,
    rule text not null,
    feed text not null,
    reporter text not null,
    valid_from date not null,
    valid_to date not null,
    reason text not null,
    reviewed_by text not null,
    reviewed_on date not null
);
"""


@dataclass(frozen=True)
class KnownException:
    rule: str
    feed: str
    reporter: str  # a reporter id, or "*" for every reporter of the feed
    valid_from: date
    valid_to: date
    reason: str
    reviewed_by: str
    reviewed_on: date


def exceptions_file() -> Path:
    return Path(os.environ.get("EPIFEEDS_EXCEPTIONS_FILE") or DEFAULT_EXCEPTIONS_FILE)


def load_exceptions(path: Path | None = None) -> list[KnownException]:
    """The reviewed entries; a malformed one is an error naming the entry and what to fix."""
    path = path or exceptions_file()
    if not path.exists():
        return []
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    loaded = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path} entry {number}"
        missing = {"rule", "feed", "reporter", "from", "to", "reason", "reviewed_by", "reviewed_on"} - set(
            entry
        )
        if missing:
            raise ValueError(f"{where} lacks {', '.join(sorted(missing))}")
        if entry["rule"] not in RULES:
            raise ValueError(f"{where}: unknown rule {entry['rule']!r}; one of {', '.join(sorted(RULES))}")
        if entry["to"] < entry["from"]:
            raise ValueError(f"{where}: 'to' {entry['to']} is before 'from' {entry['from']}")
        loaded.append(
            KnownException(
                entry["rule"],
                entry["feed"],
                str(entry["reporter"]),
                entry["from"],
                entry["to"],
                " ".join(str(entry["reason"]).split()),
                entry["reviewed_by"],
                entry["reviewed_on"],
            )
        )
    return loaded


def sync_exceptions(conn: psycopg.Connection, exceptions: list[KnownException]) -> None:
    """dq.exceptions holds exactly the reviewed file's entries.

    Concurrent callers (validate tasks, ingest runs, the watchdog) take turns on the findings lock: a
    delete and re-insert by two sessions at once would collide on the primary key. The lock is held to
    the end of the caller's transaction, so when the table already holds the file (the usual case) no
    lock is taken and no row is touched."""
    rows = [
        (n, e.rule, e.feed, e.reporter, e.valid_from, e.valid_to, e.reason, e.reviewed_by, e.reviewed_on)
        for n, e in enumerate(exceptions, start=1)
    ]
    with conn.transaction():
        if _stored(conn) == rows:
            return
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (FINDINGS_LOCK,))
        conn.execute(DDL)
        if _stored(conn) == rows:  # another session synced it while this one waited
            return
        conn.execute("delete from dq.exceptions")
        with conn.cursor() as cursor:
            cursor.executemany("insert into dq.exceptions values (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)


def _stored(conn: psycopg.Connection) -> list[tuple] | None:
    """dq.exceptions' rows in file order; None when the table does not exist yet."""
    if not conn.execute("select to_regclass('dq.exceptions') is not null").fetchone()[0]:
        return None
    return conn.execute("select * from dq.exceptions order by exception_id").fetchall()


def apply_exceptions(conn: psycopg.Connection, path: Path | None = None) -> int:
    """Silence open findings an exception covers, reopen silenced ones no exception covers any more."""
    with conn.transaction():
        sync_exceptions(conn, load_exceptions(path))
        silenced = conn.execute(
            """
            update dq.findings as f
            set status = 'silenced',
                details = f.details || jsonb_build_object('silenced_by', jsonb_build_object(
                    'exception_id', e.exception_id, 'reason', e.reason, 'reviewed_by', e.reviewed_by))
            from dq.exceptions as e
            where f.status = 'open' and f.rule = e.rule and f.feed = e.feed
                and (e.reporter = '*' or f.reporter = e.reporter)
                and f.report_date between e.valid_from and e.valid_to
            """
        ).rowcount
        conn.execute(
            """
            update dq.findings as f set status = 'open', details = f.details - 'silenced_by'
            where f.status = 'silenced' and not exists (
                select 1 from dq.exceptions as e
                where f.rule = e.rule and f.feed = e.feed and (e.reporter = '*' or f.reporter = e.reporter)
                    and f.report_date between e.valid_from and e.valid_to
            )
            """
        )
    return silenced
