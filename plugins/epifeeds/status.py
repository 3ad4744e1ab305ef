"""What the platform holds right now, for the CLI's summary and `epifeeds status`."""

from __future__ import annotations

import psycopg

TABLES = (
    "landing.batches",
    "landing.district_reports",
    "landing.rejects",
    "landing.testing_sites",
    "landing.testing_site_reports",
    "landing.isolation_hotels",
    "landing.hotel_reports",
    "landing.hotel_check_ins",
    "staging.stg_districts__daily_reports",
    "marts.fct_district_daily",
    "dq.check_results",
    "dq.findings",
    "dq.alerts",
    "dq.notifications",
)


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]


def platform_status(warehouse_dsn: str) -> dict:
    with psycopg.connect(warehouse_dsn) as conn:
        rows = {
            t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES if _exists(conn, t)
        }
        status: dict = {"rows": rows}
        if _exists(conn, "dq.check_results"):
            status["checks"] = dict(
                conn.execute(
                    "select status, count(*) from dq.check_results group by status order by status"
                ).fetchall()
            )
            status["failed_checks_by_rule"] = dict(
                conn.execute(
                    "select rule, count(*) from dq.check_results where status = 'fail' group by rule order by rule"
                ).fetchall()
            )
        if _exists(conn, "dq.alerts"):
            status["alerts"] = [
                {"title": title, "status": state, "notified": count}
                for title, state, count in conn.execute(
                    "select title, status, notify_count from dq.alerts order by report_date, reporter"
                )
            ]
            status["notifications_delivered"] = conn.execute(
                "select count(*) from dq.notifications where is_delivered"
            ).fetchone()[0]
        if _exists(conn, "landing.rejects"):
            status["rejects"] = [
                {"reporter": reporter, "report_date": str(day), "row": row, "reason": reason}
                for reporter, day, row, reason in conn.execute(
                    "select reporter, report_date, row_number, reason from landing.rejects"
                    " order by report_date, row_number limit 20"
                )
            ]
    return status
