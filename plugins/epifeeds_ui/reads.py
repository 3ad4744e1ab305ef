"""How the feed-health view reads the warehouse: read-only connections, tolerance of a schema that lacks
a table or column (read as empty), and who each reporter is (name, district, city)."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from epifeeds.feeds.names import load_district_roster


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, row_factory=dict_row, options="-c default_transaction_read_only=on")


def exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null as present", (relation,)).fetchone()["present"]


def has_column(conn: psycopg.Connection, schema: str, table: str, column: str) -> bool:
    return bool(
        conn.execute(
            "select 1 from information_schema.columns where table_schema = %s and table_name = %s"
            " and column_name = %s",
            (schema, table, column),
        ).fetchone()
    )


# --- who reports: names, districts and cities ------------------------------------------------------------


def reporter_directory(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    """reporter id -> name, district and city, from the roster and the hotel registry."""
    roster = load_district_roster()
    directory: dict[str, dict[str, str]] = {}

    def place(district_id: str) -> dict[str, str]:
        try:
            district = roster.by_id(district_id)
        except (KeyError, LookupError):
            return {"district_id": district_id, "district_name": district_id, "city_id": "", "city_name": ""}
        city_id = roster.jurisdiction_of(district_id)
        return {
            "district_id": district_id,
            "district_name": district.district_name,
            "city_id": city_id,
            "city_name": roster.by_id(city_id).district_name,
        }

    for district in roster.districts:
        directory[district.district_id] = {"name": district.district_name, **place(district.district_id)}
    if exists(conn, "landing.isolation_hotels__current"):
        for row in conn.execute(
            "select hotel_id, hotel_name, district_id from landing.isolation_hotels__current"
        ):
            directory[row["hotel_id"]] = {
                "name": row["hotel_name"] or row["hotel_id"],
                **place(row["district_id"]),
            }
    return directory


def describe(directory: dict[str, dict[str, str]], reporter: str) -> dict[str, str]:
    known = directory.get(reporter)
    if known:
        return known
    return {"name": reporter, "district_id": "", "district_name": "", "city_id": "", "city_name": ""}


def reporter_names(dsn: str) -> dict[str, str]:
    with connect(dsn) as conn:
        return {reporter: who["name"] for reporter, who in reporter_directory(conn).items()}
