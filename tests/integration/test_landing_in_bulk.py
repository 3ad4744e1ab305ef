"""Landing in bulk stays exact: the column-wise change hash equals the row-by-row one, text COPY writes
back every character it was given, and a file of several chunks lands every row once, with duplicates
across a chunk boundary rejected, versions numbered and the ledger balanced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import psycopg
import pytest

from epifeeds.feeds import testing_sites
from epifeeds.feeds.contracts import CONTRACTS, HOTEL_REPORTS, TESTING_SITE_REPORTS
from epifeeds.feeds.records import RegisteredReporter
from epifeeds.feeds.testing_sites import parse_testing_site_file
from epifeeds.landing.bulk import row_hash, row_hashes
from epifeeds.landing.loader import Delivery, land_delivery
from epifeeds.landing.schema import ensure_landing_schema

pytestmark = pytest.mark.integration

DAY = date(2022, 3, 1)
RECEIVED = datetime(2022, 3, 2, 1, tzinfo=UTC)
HEADER = "采样点编号,采样点名称,日期,混采模式,采样人次,采管数,送检管数,阳性管数\n"


def sites(count: int) -> dict[str, RegisteredReporter]:
    return {
        f"TS14010{n:05d}": RegisteredReporter(f"TS14010{n:05d}", "140105", date(2022, 1, 1), None)
        for n in range(count)
    }


def test_bulk_hashes_equal_the_row_by_row_hash_for_every_type_a_row_holds():
    odd = ["小店\\区", 'a"b', "tab\there", "é", "\u2028", None, "", "x" * 300]
    rows = [
        {
            "site_id": f"TS{n}",
            "site_name_reported": odd[n % len(odd)],
            "district_id": "140105",
            "report_date": DAY + timedelta(days=n % 3) if n % 5 else None,
            "pool_size": [None, 1, 10, 20][n % 4],
            "samples_collected": n * 7,
            "tubes": n,
            "tubes_sent_to_lab": None if n % 2 else n,
            "positive_tubes": True if n == 3 else 0,  # a bool is JSON's true, not 1
        }
        for n in range(40)
    ]
    assert row_hashes(TESTING_SITE_REPORTS, rows) == [row_hash(TESTING_SITE_REPORTS, r) for r in rows]
    zones = [None, UTC, timezone(timedelta(hours=8))]
    stamped = [
        {"hotel_id": "H1", "submitted_at": datetime(2022, 3, 1, n, tzinfo=zones[n % 3])} for n in range(6)
    ]
    assert row_hashes(HOTEL_REPORTS, stamped) == [row_hash(HOTEL_REPORTS, r) for r in stamped]
    for contract in CONTRACTS.values():  # a column a row leaves out hashes as null either way
        assert row_hashes(contract, [{}]) == [row_hash(contract, {})]


def test_a_file_of_several_chunks_lands_every_row_once(warehouse_dsn, tmp_path, monkeypatch):
    monkeypatch.setattr(testing_sites, "CHUNK_ROWS", 7)  # 30 rows: five chunks, the last one short
    registered = sites(25)
    names = ["普通点", "带\\反斜杠", "带\t制表", '带"引号', "带,逗号"]
    lines = [
        f'{site},"{names[n % 5]}",2022-03-01,10混1,{100 + n},{10 + n},{10 + n},\n'
        for n, site in enumerate(sorted(registered))
    ]
    lines.insert(9, f"{sorted(registered)[2]},重复,2022-03-01,10混1,1,1,1,\n")  # a repeat, in another chunk
    lines += [
        "TS9999999,未登记,2022-03-01,10混1,5,1,1,\n",
        "合计,,,,1,1,1,\n",
        "TS14010000",
    ]  # unknown, totals, cut
    payload = (HEADER + "".join(lines)).encode("utf-8")

    def parse(raw: bytes):
        return parse_testing_site_file(
            raw, file_format="csv", district_id="140105", district_label="小店区 (140105)",
            report_date=DAY, received_at=RECEIVED, sites=registered, streamed=True,
        )  # fmt: skip

    whole = parse_testing_site_file(
        payload, file_format="csv", district_id="140105", district_label="小店区 (140105)",
        report_date=DAY, received_at=RECEIVED, sites=registered,
    )  # fmt: skip
    assert len(whole.rows) == 25 and len(whole.rejects) == 3 and whole.rows_read == 28
    assert (
        "duplicate row for site TS1401000002" in whole.rejects[0].reason and whole.rejects[0].row_number == 11
    )
    assert any("dropped totals row 29" in note for note in whole.notes)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        ensure_landing_schema(conn)
        delivery = Delivery(
            TESTING_SITE_REPORTS.feed, "140105", DAY, "file:///drop/140105.csv", payload, RECEIVED
        )
        outcome = land_delivery(conn, TESTING_SITE_REPORTS, str(tmp_path), delivery, parse)
        assert (outcome.status, outcome.rows_read, outcome.rows_landed, outcome.rows_rejected) == (
            "landed",
            28,
            25,
            3,
        )
        landed = conn.execute(
            "select site_id, site_name_reported, samples_collected, _version, _row_hash"
            " from landing.testing_site_reports order by site_id"
        ).fetchall()
        assert [(r[0], r[1], r[2]) for r in landed] == sorted(
            (r["site_id"], r["site_name_reported"], r["samples_collected"]) for r in whole.rows
        )  # every character written back as parsed: backslash, tab, quote, comma
        by_site = {r["site_id"]: r for r in whole.rows}
        assert all(r[3] == 1 and r[4] == row_hash(TESTING_SITE_REPORTS, by_site[r[0]]) for r in landed)
        assert (
            conn.execute("select count(distinct _loaded_at) from landing.testing_site_reports").fetchone()[0]
            == 1
        )
        reasons = [r[0] for r in conn.execute("select reason from landing.rejects order by reject_id")]
        assert [reason.split(" ")[0] for reason in reasons] == ["duplicate", "unknown", "the"]

        changed = payload.replace(b",100,10,10,", b",101,10,10,")  # one site's figure corrected
        resent = Delivery(
            TESTING_SITE_REPORTS.feed, "140105", DAY, "file:///drop/140105.csv", changed, RECEIVED
        )
        again = land_delivery(conn, TESTING_SITE_REPORTS, str(tmp_path), resent, parse)
        assert (again.status, again.rows_landed, again.rows_new_versions) == ("landed", 25, 1)
        versions = conn.execute(
            "select site_id, _version, samples_collected from landing.testing_site_reports where _version > 1"
        ).fetchall()
        assert versions == [("TS1401000000", 2, 101)]
