"""`epifeeds findings` and `epifeeds status` in a 100-column terminal: one line per finding group."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from epifeeds.quality.findings import group_findings
from epifeeds.status import finding_group_lines, status_lines

pytestmark = pytest.mark.unit

NAMES = {"140110": "晋源区", "140100": "太原市"}


def _columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in line)


def _finding(rule: str, reporter: str, day: int, summary: str, status: str = "open") -> dict:
    return {
        "rule": rule,
        "feed": "district_reports",
        "reporter": reporter,
        "report_date": date(2022, 3, day),
        "severity": "error",
        "status": status,
        "summary": summary,
    }


FINDINGS = [
    _finding(
        "C1", "140110", 3, "晋源区 (140110) did not deliver its district report for 2022-03-03: due 09:00 CST"
    ),
    *[
        _finding(
            "R1",
            "140100",
            day,
            f"太原市 (140100) 2022-03-0{day}: the city bulletin's {m} is 9 but its districts sum to 6 " * 3,
        )
        for day in (2, 3)
        for m in ("volunteers", "home_isolation", "samples_collected")
    ],
    _finding(
        "C1", "140110", 1, "晋源区 (140110) did not deliver its district report for 2022-03-01", "resolved"
    ),
]


def test_one_line_per_rule_reporter_and_status_within_100_columns():
    groups = group_findings(FINDINGS)
    lines = finding_group_lines(groups, NAMES)
    assert len(lines) == 3  # C1 open, R1 open (six findings on two days), C1 resolved
    assert all(_columns(line) <= 100 for line in lines), [_columns(line) for line in lines]
    c1, r1, resolved = lines
    assert c1.startswith("open     C1  晋源区 140110") and "2022-03-03" in c1 and "did not deliver" in c1
    assert "2022-03-02..03-03" in r1 and "6×" in r1 and "the city bulletin's volunteers" in r1
    assert resolved.startswith("resolved C1")


def test_details_list_every_finding_in_full_under_its_group():
    lines = finding_group_lines(group_findings(FINDINGS), NAMES, details=True)
    assert len(lines) == 3 + len(FINDINGS)
    assert any(line.strip().endswith("due 09:00 CST") for line in lines)


def test_status_fits_the_terminal_and_lists_open_alerts_only_by_default():
    status = {
        "rows": {f"landing.table_{n}": n * 1000 for n in range(12)},
        "checks": {"pass": 12080, "fail": 57},
        "failed_checks_by_rule": {"C1": 6, "R1": 34},
        "alerts": [
            {
                "title": "[ERROR] 晋源区: district_reports for 2022-03-03 is missing",
                "status": "open",
                "notified": 1,
            },
            {
                "title": "[RESOLVED] 迎泽区: district_reports for 2022-03-01 has arrived",
                "status": "resolved",
                "notified": 2,
            },
        ],
        "notifications_delivered": 21,
        "rejects_total": 1,
        "rejects": [
            {"reporter": "140105", "report_date": "2022-03-01", "row": 4, "reason": "new_positives is -1"}
        ],
    }
    short = status_lines(status)
    assert all(_columns(line) <= 100 for line in short)
    assert "checks: 12080 passed, 57 failed, 0 silenced; failed by rule: C1 6 · R1 34" in short
    assert sum("晋源区" in line for line in short) == 1 and not any("迎泽区" in line for line in short)
    detailed = status_lines(status, details=True)
    assert any("迎泽区" in line for line in detailed) and any(
        "new_positives is -1" in line for line in detailed
    )
