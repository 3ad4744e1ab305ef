"""Versions follow the deliveries' received_at, not the order they land in: a delivery that lands after a
newer one (a backfill's earlier run finishing late) never becomes the newest version."""

from itertools import permutations

import psycopg
import pytest

from epifeeds.landing.schema import ensure_landing_schema
from tests.integration.test_landing import api_payload, land, report

pytestmark = pytest.mark.integration

ORIGINAL = api_payload([report("小店区", 3), report("迎泽区", 4)])  # received 01:00
REVISION = api_payload([report("小店区", 5), report("迎泽区", 4)])  # 03:00: 小店区 revised
LATER = api_payload([report("小店区", 5), report("迎泽区", 4), report("杏花岭区", 2)])  # 05:00: one more
DELIVERIES = {1: ORIGINAL, 3: REVISION, 5: LATER}


def versions(conn) -> list[tuple]:
    """Each version with the hour its delivery was received, and whether it is the current one."""
    return conn.execute(
        "select r.district_id, r._version, r.new_positives, extract(hour from b.received_at)::int,"
        " (r._version = c._version)"
        " from landing.district_reports r join landing.batches b on b.batch_id = r._batch_id"
        " join landing.district_reports__current c"
        " on c.district_id = r.district_id and c.report_date = r.report_date"
        " order by 1, 2"
    ).fetchall()


def land_in(conn, archive: str, hours) -> list[tuple]:
    conn.execute("truncate landing.batches cascade")  # every landing table refers to it
    for hour in hours:
        land(conn, archive, DELIVERIES[hour], received_hour=hour)
    return versions(conn)


def test_an_original_landing_after_its_revision_is_the_earlier_version(warehouse_dsn, tmp_path):
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        ensure_landing_schema(conn)
        revision = land(conn, str(tmp_path), REVISION, received_hour=3)
        original = land(conn, str(tmp_path), ORIGINAL, received_hour=1)
        found = versions(conn)
    # the original holds 迎泽区's too: it had it first, so it takes that version's place
    assert (revision.rows_new_versions, original.rows_new_versions) == (2, 2)
    xiaodian = [row for row in found if row[2] in (3, 5)]
    assert xiaodian == [("140105", 1, 3, 1, False), ("140105", 2, 5, 3, True)]
    assert [row[1:] for row in found if row[2] == 4] == [(1, 4, 1, True)]  # held first by the original


@pytest.mark.parametrize("order", [p for p in permutations(DELIVERIES) if p != (1, 3, 5)])
def test_any_landing_order_lands_what_landing_in_order_does(warehouse_dsn, tmp_path, order):
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        ensure_landing_schema(conn)
        in_order = land_in(conn, str(tmp_path), (1, 3, 5))
        assert land_in(conn, str(tmp_path), order) == in_order
    assert [row[1:] for row in in_order if row[2] in (3, 5)] == [(1, 3, 1, False), (2, 5, 3, True)]
    assert [row[1:] for row in in_order if row[2] == 2] == [(1, 2, 5, True)]
