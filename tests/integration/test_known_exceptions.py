"""Rule X1 on real Postgres: the reviewed exceptions file silences findings, which stay visible."""

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from epifeeds.feeds.bulletin import import_bulletin
from epifeeds.quality.district_checks import check_district_feed
from epifeeds.quality.exceptions import DEFAULT_EXCEPTIONS_FILE, load_exceptions
from tests.conftest import BEIJING_CSV

pytestmark = pytest.mark.integration

AT = datetime(2022, 5, 12, 2, tzinfo=UTC)


def import_and_check(dsn: str, archive: Path) -> None:
    outcomes = import_bulletin(dsn, str(archive), BEIJING_CSV).outcomes
    with psycopg.connect(dsn) as conn:
        dates = [
            d for (d,) in conn.execute("select distinct report_date from landing.district_reports order by 1")
        ]
        check_district_feed(conn, dates, "test", AT)
    assert outcomes


def statuses(dsn: str, rule: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return dict(
            conn.execute("select status, count(*) from dq.findings where rule = %s group by 1", (rule,))
        )


V2_EXCEPTION = """\
- rule: V2
  feed: district_reports
  reporter: "*"
  from: 2022-04-09
  to: 2022-05-11
  reason: >-
    Beijing's district columns of asymptomatic cases count reclassified cases twice in this period.
  reviewed_by: data-platform
  reviewed_on: 2026-12-03
"""


def test_a_reviewed_exception_silences_its_rule_and_keeps_the_findings_visible(
    warehouse_dsn, tmp_path, monkeypatch
):
    exceptions = tmp_path / "exceptions.yml"
    exceptions.write_text(V2_EXCEPTION, encoding="utf-8")
    monkeypatch.setenv("EPIFEEDS_EXCEPTIONS_FILE", str(exceptions))
    import_and_check(warehouse_dsn, tmp_path)
    assert statuses(warehouse_dsn, "V2") == {"silenced": 45}
    assert "silenced" not in statuses(warehouse_dsn, "R1")  # other rules for the same reporters untouched
    with psycopg.connect(warehouse_dsn) as conn:
        reason = conn.execute(
            "select details -> 'silenced_by' ->> 'reason' from dq.findings where rule = 'V2' limit 1"
        ).fetchone()[0]
    assert "reclassified cases twice" in reason


def test_removing_an_exception_brings_its_findings_back(warehouse_dsn, tmp_path, monkeypatch):
    exceptions = tmp_path / "exceptions.yml"
    exceptions.write_text(V2_EXCEPTION, encoding="utf-8")
    monkeypatch.setenv("EPIFEEDS_EXCEPTIONS_FILE", str(exceptions))
    import_and_check(warehouse_dsn, tmp_path)
    exceptions.write_text("[]\n", encoding="utf-8")
    with psycopg.connect(warehouse_dsn) as conn:
        dates = [d for (d,) in conn.execute("select distinct report_date from landing.district_reports")]
        check_district_feed(conn, dates, "test", AT)
    assert statuses(warehouse_dsn, "V2") == {"open": 45}


def test_a_malformed_entry_is_refused_with_what_to_fix(tmp_path):
    bad = tmp_path / "exceptions.yml"
    bad.write_text("- rule: Z9\n  feed: x\n  reporter: '*'\n  from: 2022-01-02\n  to: 2022-01-01\n"
                   "  reason: r\n  reviewed_by: me\n  reviewed_on: 2022-01-01\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(ValueError, match="entry 1: unknown rule 'Z9'"):
        load_exceptions(bad)
    assert load_exceptions(DEFAULT_EXCEPTIONS_FILE) == []  # the committed file parses; none is in force
