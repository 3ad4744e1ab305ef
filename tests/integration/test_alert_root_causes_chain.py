"""Defects planted by hand into a clean simulation's files, run through the chain's task functions
(ingest → landing → S1, rejects, district and file rules, P1–P3 → watchdog → alerts over a real
webhook): each defect is found on its rule, reporter and date, each is one alert with its consequences
listed, errors are told once when they open and once when they resolve, and no measure is emptied
without a finding."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from epifeeds.alerts.notify import process_alerts
from epifeeds.alerts.receiver import webhook_receiver
from epifeeds.alerts.routing import load_alert_config
from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.hotels import ingest_hotel_reports
from epifeeds.feeds.http_client import records_from_pages
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import parse_district_records
from epifeeds.feeds.registries import ingest_registries
from epifeeds.feeds.testing_sites import ingest_testing_site_reports
from epifeeds.landing.loader import Delivery, land_delivery
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.quality.completeness import check_district_completeness, check_file_feed_completeness
from epifeeds.quality.district_checks import check_district_feed
from epifeeds.quality.file_feed_rules import check_file_feed_rules
from epifeeds.tasks import check_file_deliveries
from epifeeds_sim.generate import generate
from epifeeds_sim.server import visible_items
from tests.conftest import create_database, drop_database, dsn_for

pytestmark = pytest.mark.integration

DAYS = 3
FIRST = date(2022, 3, 1)
DATES = [FIRST + timedelta(days=n) for n in range(DAYS)]
D1, D2, D3 = DATES
AFTER = datetime.combine(D3 + timedelta(days=2), datetime.min.time(), UTC)  # every deadline past
XIAODIAN, YINGZE, XINGHUALING, WANBAILIN, CITY = "140105", "140106", "140107", "140109", "140100"
HOTEL = "H140105007"  # reports in JSON
GBK = "gbk"


# ------------------------------------------------------------------------------------- planting


def rewrite_csv(path: Path, change) -> None:
    """Change a site CSV's lines (header first) in its own encoding, line ends kept."""
    raw = path.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else GBK
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        encoding, text = "utf-8", raw.decode("utf-8")
    lines = text.split("\r\n")
    path.write_bytes("\r\n".join(change(lines)).encode(encoding))


def plant_defects(sim_dir: Path) -> dict[str, object]:
    drop = sim_dir / "file_drop"
    # 1. 小店区's site file of D2 renames an optional header: 阳性管数 -> 阳性结果管数.
    rewrite_csv(
        drop / f"testing_sites/{XIAODIAN}/{D2}.csv",
        lambda lines: [lines[0].replace("阳性管数", "阳性结果管数"), *lines[1:]],
    )
    # 2. 迎泽区's site file of D1 has five site rows pasted twice.
    pasted: list[str] = []

    def paste(lines: list[str]) -> list[str]:
        data = [line for line in lines[1:] if line]
        pasted.extend(line.split(",")[0] for line in data[:5])
        return [lines[0], *data, *data[:5], ""]

    rewrite_csv(drop / f"testing_sites/{YINGZE}/{D1}.csv", paste)
    # 3. 杏花岭区 D2: new positives ≠ confirmed + asymptomatic (V2); 4. 万柏林区 D2: cumulative drops (I2).
    path = sim_dir / f"district_reports/{D2}.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    previous = json.loads((sim_dir / f"district_reports/{D1}.json").read_text(encoding="utf-8"))
    names = {d.district_id: d.district_name for d in load_district_roster().districts}
    for item in document["items"]:
        if item["district"] == names[XINGHUALING]:
            item["new_positives"] += 3
        if item["district"] == names[WANBAILIN]:
            [before] = [p for p in previous["items"] if p["district"] == names[WANBAILIN]]
            item["cumulative_confirmed"] = before["cumulative_confirmed"] - 3
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    # 5. A hotel on D3 reports its guests in far too few rooms (P1).
    path = drop / f"hotel_reports/{HOTEL}/{D3}.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    report["rooms_occupied"] = report["guests"] // 3
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return {"pasted_sites": pasted, "guests": report["guests"], "rooms": report["rooms_occupied"]}


# ------------------------------------------------------------------------------------- the chain


def land_district_feed(conn: psycopg.Connection, archive: str, sim_dir: Path) -> None:
    roster = load_district_roster()
    for day in DATES:
        stored = json.loads((sim_dir / f"district_reports/{day}.json").read_text(encoding="utf-8"))["items"]
        page = json.dumps({"items": visible_items(stored, AFTER)}, ensure_ascii=False)
        payload = json.dumps({"pages": [page]}, ensure_ascii=False).encode()

        def parse(raw: bytes, day: date = day):
            return parse_district_records(
                DISTRICT_REPORTS, records_from_pages(raw), report_date=day, received_at=AFTER, roster=roster
            )

        land_delivery(conn, DISTRICT_REPORTS, archive, Delivery("district_reports", "*", day, "http://sim", payload, AFTER), parse)  # fmt: skip


def run_checks(
    dsn: str, archive: str, sim_dir: Path, as_of: datetime, run_id: str, watch: bool = True
) -> list[dict]:
    """What the ingest DAGs' validate tasks and (`watch`) the watchdog run, for every day at once. The
    simulation ends on D3: a watchdog a day later would rightly miss D4's reports."""
    drop = str(sim_dir / "file_drop")
    deliveries = ingest_testing_site_reports(dsn, archive, drop, DATES, as_of)["deliveries"]
    deliveries += ingest_hotel_reports(dsn, archive, drop, DATES, as_of)["deliveries"]
    with psycopg.connect(dsn) as conn:
        check_district_feed(conn, DATES, run_id, as_of)
        summaries = check_file_deliveries(conn, deliveries, run_id, as_of)
        check_file_feed_rules(conn, DATES, run_id, as_of)
        if not watch:
            return summaries
        check_district_completeness(conn, load_district_roster(), as_of, run_id, lookback_days=DAYS)
        check_file_feed_completeness(conn, as_of, run_id, lookback_days=DAYS)
    return summaries


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    sim_dir = tmp_path_factory.mktemp("sim-planted")
    generate(sim_dir, days=DAYS, seed=7, faults="none", scale="small")
    planted = plant_defects(sim_dir)
    name = create_database()
    dsn, archive = dsn_for(name), str(sim_dir.parent / "archive-planted")
    try:
        with psycopg.connect(dsn) as conn:
            ensure_landing_schema(conn)
            land_district_feed(conn, archive, sim_dir)
        ingest_registries(dsn, archive, str(sim_dir / "registries"), D3, AFTER)
        with webhook_receiver() as (url, received):
            config = load_alert_config(env={"EPIFEEDS_ALERT_WEBHOOK_URL": url})
            run_checks(dsn, archive, sim_dir, AFTER, "planted")
            with psycopg.connect(dsn) as conn:
                process_alerts(conn, AFTER, run_id="planted", config=config)
                first = list(received.messages)
                process_alerts(conn, AFTER + timedelta(days=1), run_id="next-day", config=config)
                next_day = received.messages[len(first) :]
            # 小店区 resends D2 with the standard header: S1 resolves, and so does its alert.
            rewrite_csv(
                sim_dir / f"file_drop/testing_sites/{XIAODIAN}/{D2}.csv",
                lambda lines: [lines[0].replace("阳性结果管数", "阳性管数"), *lines[1:]],
            )
            later = AFTER + timedelta(days=1, hours=1)
            run_checks(dsn, archive, sim_dir, later, "resent", watch=False)
            with psycopg.connect(dsn) as conn:
                process_alerts(conn, later, run_id="resent", config=config)
            resent = received.messages[len(first) + len(next_day) :]
        yield dsn, planted, first, next_day, resent
    finally:
        drop_database(name)


def findings(dsn: str) -> dict[tuple[str, str, str], dict]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select rule, reporter, report_date::text, severity, status, summary, details from dq.findings"
        ).fetchall()
    return {(r, rep, d): {"severity": s, "status": st, "summary": su, "details": de} for r, rep, d, s, st, su, de in rows}  # fmt: skip


def test_each_planted_defect_is_found_on_its_rule_reporter_and_date(chain):
    dsn, planted, *_ = chain
    found = findings(dsn)
    drift = found[("S1", XIAODIAN, str(D2))]
    assert drift["severity"] == "error" and drift["details"]["columns"] == ["positive_tubes"]
    assert drift["details"]["likely_matches"] == {
        "positive_tubes": {"unknown_label": "阳性结果管数", "expected_spelling": "阳性管数"}
    }
    assert "阳性结果管数" in drift["summary"] and "positive_tubes" in drift["summary"]
    duplicates = {rep for (rule, rep, day) in found if rule == "I1" and day == str(D1)}
    assert duplicates == set(planted["pasted_sites"])
    assert ("V2", XINGHUALING, str(D2)) in found
    assert ("I2", WANBAILIN, str(D2)) in found
    p1 = found[("P1", HOTEL, str(D3))]
    assert (
        p1["details"]["guests"] == planted["guests"] and p1["details"]["rooms_occupied"] == planted["rooms"]
    )
    # Nothing else: no plausibility or drift finding on the clean parts of the simulation.
    assert {k for k in found if k[0] in ("S1", "P1", "P2", "P3")} == {
        ("S1", XIAODIAN, str(D2)),
        ("P1", HOTEL, str(D3)),
    }


def test_one_alert_per_root_cause_with_its_consequences_listed(chain):
    dsn, planted, first, *_ = chain
    opened = sorted((m["rule"], m["reporter"], m["report_date"]) for m in first)
    assert opened == sorted(
        [
            ("S1", XIAODIAN, str(D2)),
            ("I1", YINGZE, str(D1)),
            ("V2", XINGHUALING, str(D2)),
            ("I2", WANBAILIN, str(D2)),
            ("P1", HOTEL, str(D3)),
        ]
    )
    by_rule = {m["rule"]: m for m in first}
    members = {rule: sorted((f["rule"], f["reporter"]) for f in m["findings"]) for rule, m in by_rule.items()}
    assert members["I1"] == sorted(("I1", site) for site in planted["pasted_sites"])  # one alert for the file
    assert ("R1", CITY) in members["V2"] and ("I5", XINGHUALING) in members["V2"]
    assert members["I2"].count(("I5", WANBAILIN)) == 2 and ("R1", CITY) in members["I2"]
    assert "Explained by this root cause" in by_rule["V2"]["body"]
    assert "阳性结果管数" in by_rule["S1"]["body"] and "positive_tubes" in by_rule["S1"]["body"]
    with psycopg.connect(dsn) as conn:
        absorbed = dict(conn.execute("select rule, details->'absorbed' from dq.alerts").fetchall())
    assert f"R1 {CITY} {D2}" in absorbed["V2"] and f"I5 {WANBAILIN} {D3}" in absorbed["I2"]


def test_notifications_are_one_when_an_alert_opens_and_one_when_it_resolves(chain):
    _, _, first, next_day, resent = chain
    assert [m["kind"] for m in first] == ["open"] * 5
    assert next_day == []  # errors are not reminded or escalated by default
    assert [(m["kind"], m["rule"], m["reporter"]) for m in resent] == [("resolved", "S1", XIAODIAN)]


def test_no_measure_is_emptied_without_a_finding(chain):
    dsn, *_ = chain
    with psycopg.connect(dsn) as conn:
        emptied = conn.execute(
            """
            select b.reporter, b.report_date::text
            from landing.batches as b
            join landing.testing_site_reports as r on r._batch_id = b.batch_id
            where b.feed = 'testing_site_reports'
            group by b.batch_id, b.reporter, b.report_date
            having count(r.positive_tubes) = 0
            """
        ).fetchall()
        s1 = conn.execute("select reporter, report_date::text from dq.findings where rule = 'S1'").fetchall()
    assert emptied == [(XIAODIAN, str(D2))]
    assert set(emptied) <= set(s1)
