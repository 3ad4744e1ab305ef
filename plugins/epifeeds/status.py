"""What the platform holds right now, for the CLI's summary and `epifeeds status`."""

from __future__ import annotations

import re
import unicodedata

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
            status["rejects_total"] = conn.execute("select count(*) from landing.rejects").fetchone()[0]
            status["rejects"] = [
                {"reporter": reporter, "report_date": str(day), "row": row, "reason": reason}
                for reporter, day, row, reason in conn.execute(
                    "select reporter, report_date, row_number, reason from landing.rejects"
                    " order by report_date, row_number limit 20"
                )
            ]
    return status


# --- terminal rendering: one line per item, within WIDTH columns -------------------------------------------------

WIDTH = 100
_SUMMARY_PREFIX = re.compile(
    r"^(?:isolation hotel \S+(?: \(\S+\))?|district \S+|[^\s(]+ \(\w+\))\s*(?:\d{4}-\d{2}-\d{2})?:?\s*"
)


def _fit(text: str, width: int) -> str:
    """Cut to `width` terminal columns (CJK characters take two), marking the cut with an ellipsis."""
    used, kept = 0, []
    for char in text:
        cells = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if used + cells > width - 1:
            return "".join(kept) + "…"
        used, kept = used + cells, [*kept, char]
    return text


def _pad(text: str, cells: int) -> str:
    width = sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)
    return text + " " * max(cells - width, 0)


def _dates(days: list) -> str:
    if not days:
        return ""
    first, last = str(days[0]), str(days[-1])
    if len(days) == 1:
        return first
    return f"{first}..{last[5:]}" + (f" {len(days)}d" if len(days) > 2 else "")


def reporter_label(reporter: str, names: dict[str, str]) -> str:
    return f"{names[reporter]} {reporter}" if reporter in names else reporter


def finding_group_lines(
    groups: list[dict], names: dict[str, str], *, details: bool = False, width: int = WIDTH
) -> list[str]:
    """One line per finding group: status, rule, reporter, dates, how many, the first one's summary."""
    lines = []
    for group in groups:
        first = group["findings"][0]
        count = len(group["findings"])
        summary = _SUMMARY_PREFIX.sub("", first["summary"], count=1) or first["summary"]
        head = (
            f"{group['status']:<8} {group['rule']:<3} {_pad(_fit(reporter_label(group['reporter'], names), 18), 18)} "
            f"{_dates(group['report_dates']):<17} {f'{count}×' if count > 1 else '':>3} "
        )
        lines.append(_fit(head + summary, width))
        if details:
            for finding in group["findings"]:
                lines.append(
                    _fit(
                        f"    {finding['report_date']} {finding['severity']:<5} {finding['summary']}",
                        width * 4,
                    )
                )
    return lines


def status_lines(status: dict, *, details: bool = False, width: int = WIDTH) -> list[str]:
    """`epifeeds status` for a terminal: rows, checks, alerts (open ones listed), rejects."""
    lines = ["rows per table:"]
    cells = [f"{table} {count}" for table, count in status.get("rows", {}).items()]
    line = " "
    for cell in cells:
        if len(line) + len(cell) + 3 > width:
            lines.append(line.rstrip(" ·"))
            line = " "
        line += f" {cell} ·"
    lines.append(line.rstrip(" ·"))
    checks = status.get("checks", {})
    by_rule = " · ".join(f"{rule} {n}" for rule, n in status.get("failed_checks_by_rule", {}).items())
    lines.append(
        _fit(
            f"checks: {checks.get('pass', 0)} passed, {checks.get('fail', 0)} failed, {checks.get('silenced', 0)} silenced"
            + (f"; failed by rule: {by_rule}" if by_rule else ""),
            width,
        )
    )
    alerts = status.get("alerts", [])
    open_alerts = [a for a in alerts if a["status"] == "open"]
    lines.append(
        f"alerts: {len(open_alerts)} open, {len(alerts) - len(open_alerts)} resolved;"
        f" {status.get('notifications_delivered', 0)} notifications delivered"
    )
    for alert in alerts if details else open_alerts:
        lines.append(_fit(f"  {alert['status']:<8} {alert['title']} (notified {alert['notified']}×)", width))
    rejects = status.get("rejects", [])
    total = status.get("rejects_total", len(rejects))
    lines.append(
        f"rejected rows: {total}" + ("" if details or not rejects else " (--details lists the first 20)")
    )
    if details:
        for reject in rejects:
            lines.append(
                _fit(
                    f"  {reject['report_date']} row {reject['row']} {reject['reporter']}: {reject['reason']}",
                    width,
                )
            )
    return lines
