"""Consequences join the alert of their root cause along the registry's `explains` links; a delivery's
row findings alert once; the catalogue in the docs is the registry's; the notification budget."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from epifeeds.alerts.grouping import Finding, group_findings
from epifeeds.alerts.incidents import _due_kind
from epifeeds.alerts.routing import load_alert_config
from epifeeds.feeds.names import load_district_roster
from epifeeds.quality.registry import CATALOGUE_BEGIN, CATALOGUE_END, RULES, catalogue_table

pytestmark = pytest.mark.unit

DAY = date(2022, 3, 2)
NEXT = DAY + timedelta(days=1)
SEEN = datetime(2022, 3, 3, 3, tzinfo=UTC)
XINGHUALING, XIAODIAN, CITY = "140107", "140105", "140100"
DOCS = Path(__file__).resolve().parents[2] / "docs"
_ids = iter(range(1, 10_000))


def finding(rule: str, kind: str, reporter: str, day: date = DAY, feed: str = "district_reports",
            severity: str = "error", **details) -> Finding:  # fmt: skip
    return Finding(f"{rule}:{kind}:{feed}:{reporter}:{day}", feed, rule, reporter, day, severity,
                   f"{rule} {reporter}", details, "open", next(_ids), SEEN)  # fmt: skip


def grouped(*findings: Finding) -> dict[str, list[tuple[str, str, str]]]:
    incidents = group_findings(list(findings), load_district_roster(), None)
    return {
        key: sorted((m.rule, m.reporter, str(m.report_date)) for m in incident.members)
        for key, incident in incidents.items()
    }


def test_a_districts_v2_explains_the_citys_r1_on_its_measures_and_its_own_i5():
    v2 = finding("V2", "positives_identity", XINGHUALING)
    r1 = finding("R1", "new_positives", CITY, measure="new_positives")
    r1_other = finding("R1", "sealed_zones", CITY, measure="sealed_zones")  # not a V2 measure
    i5 = finding("I5", "increment_matches_cumulative", XINGHUALING,
                 measures={"cumulative_positives": {"previous": 9, "current": 12, "new_positives": 5}})  # fmt: skip
    assert grouped(v2, r1, r1_other, i5) == {
        f"V2:district_reports:{XINGHUALING}:{DAY}": [
            ("I5", XINGHUALING, str(DAY)), ("R1", CITY, str(DAY)), ("V2", XINGHUALING, str(DAY))
        ],
        f"R1:district_reports:{CITY}:{DAY}": [("R1", CITY, str(DAY))],
    }  # fmt: skip


def test_a_cumulative_that_dropped_is_one_alert_with_its_i5s_and_the_citys_r1():
    measures = {"cumulative_confirmed": {"previous": 50, "current": 40}}
    i2 = finding("I2", "cumulative_never_decreases", XIAODIAN, measures=measures)
    i5 = finding("I5", "increment_matches_cumulative", XIAODIAN, measures=measures)
    i5_next = finding("I5", "increment_matches_cumulative", XIAODIAN, day=NEXT, measures=measures)
    r1 = finding("R1", "cumulative_confirmed", CITY, measure="cumulative_confirmed")
    incidents = group_findings([i5_next, r1, i5, i2], load_district_roster(), None)
    [incident] = incidents.values()
    assert incident.lead is i2 and len(incident.members) == 4
    assert sorted((m.rule, str(m.report_date)) for m in incident.absorbed) == [
        ("I5", str(DAY)), ("I5", str(NEXT)), ("R1", str(DAY))
    ]  # fmt: skip


def test_five_pasted_site_rows_in_one_file_are_one_alert_for_the_district_file():
    sites = [f"TS14010500{n:02d}" for n in range(5)]
    dups = [
        finding(
            "I1", "rejected_rows", site, feed="testing_site_reports", delivery_reporter=XIAODIAN, batch_id=7
        )
        for site in sites
    ]
    other_file = finding("I1", "rejected_rows", "TS1401070001", feed="testing_site_reports",
                         delivery_reporter=XINGHUALING, batch_id=8)  # fmt: skip
    incidents = group_findings([*dups, other_file], load_district_roster(), None)
    assert sorted(incidents) == [
        f"I1:testing_site_reports:{XIAODIAN}:{DAY}",
        f"I1:testing_site_reports:{XINGHUALING}:{DAY}",
    ]
    assert incidents[f"I1:testing_site_reports:{XIAODIAN}:{DAY}"].reporter == XIAODIAN
    assert len(incidents[f"I1:testing_site_reports:{XIAODIAN}:{DAY}"].members) == 5


def test_a_site_files_header_drift_explains_its_districts_r4_but_not_another_districts():
    drift = finding("S1", "drift", XIAODIAN, feed="testing_site_reports", columns=["positive_tubes"],
                    delivery_reporter=XIAODIAN)  # fmt: skip
    r4 = finding("R4", "positive_tubes", XIAODIAN, feed="testing_site_reports")
    r4_other = finding("R4", "positive_tubes", XINGHUALING, feed="testing_site_reports")
    assert grouped(drift, r4, r4_other) == {
        f"S1:testing_site_reports:{XIAODIAN}:{DAY}": [("R4", XIAODIAN, str(DAY)), ("S1", XIAODIAN, str(DAY))],
        f"R4:testing_site_reports:{XINGHUALING}:{DAY}": [("R4", XINGHUALING, str(DAY))],
    }


def test_a_missing_report_still_explains_everything_it_did_and_is_never_explained():
    missing = finding("C1", "missing", XIAODIAN)
    r1 = finding("R1", "new_positives", CITY, measure="new_positives")
    late = finding("C1", "late", XINGHUALING, severity="warn")
    assert grouped(missing, r1, late) == {
        f"C1:district_reports:{XIAODIAN}:{DAY}": [("C1", XIAODIAN, str(DAY)), ("R1", CITY, str(DAY))]
    }


def test_every_rule_has_a_meaning_bearing_name_severity_owner_and_known_link_targets():
    for spec in RULES.values():
        assert spec.name and spec.name != spec.rule and spec.owner and spec.severity and spec.runs_in
        for link in spec.explains:
            assert set(link.rules) <= set(RULES) | {"*"}, (spec.rule, link.rules)
    assert {"S1", "P1", "P2", "P3"} <= set(RULES)


def test_the_docs_catalogue_is_the_registrys():
    text = (DOCS / "data_quality.md").read_text(encoding="utf-8")
    assert CATALOGUE_BEGIN in text and CATALOGUE_END in text, (
        "docs/data_quality.md lost its catalogue markers"
    )
    in_docs = text[text.index(CATALOGUE_BEGIN) : text.index(CATALOGUE_END) + len(CATALOGUE_END)]
    assert in_docs == catalogue_table(), (
        "docs/data_quality.md's catalogue differs from plugins/epifeeds/quality/registry.py: paste "
        "`python -c 'from epifeeds.quality.registry import catalogue_table; print(catalogue_table())'`"
    )


@pytest.mark.parametrize(
    ("severity", "env", "kinds"),
    [
        ("error", {}, ["open", None, None, "resolved"]),  # told twice: open and resolved
        ("critical", {}, ["open", "reminder", "reminder", "resolved"]),  # escalated at once, daily reminder
        (
            "error",
            {"EPIFEEDS_ALERT_REMIND_SEVERITIES": "error"},
            ["open", "reminder", "reminder", "resolved"],
        ),
        ("error", {"EPIFEEDS_ALERT_ESCALATE_AFTER_HOURS": "24"}, ["open", "escalated", None, "resolved"]),
    ],
)
def test_the_notification_budget_per_severity(severity, env, kinds):
    config = load_alert_config(env={"EPIFEEDS_ALERT_SUPPRESSION_MINUTES": "1440", **env})
    opened = SEEN
    sent: list[str | None] = []
    last, count, escalated_at = None, 0, None
    for day in range(3):  # three daily watchdog runs while open, then it resolves
        as_of = opened + timedelta(days=day)
        kind, is_escalated = _due_kind("open", severity, opened, last, count, escalated_at, None, as_of,
                                       config.suppression, config)  # fmt: skip
        sent.append(kind)
        if kind:
            last, count = as_of, count + 1
            escalated_at = escalated_at or (as_of if is_escalated else None)
    kind, _ = _due_kind("resolved", severity, opened, last, count, escalated_at, None, opened + timedelta(days=3),
                        config.suppression, config)  # fmt: skip
    assert [*sent, kind] == kinds


def test_a_hotels_wrong_count_is_one_alert_with_the_next_days_broken_identity():
    today = finding("I3", "flow_identity", "H140105001", feed="hotel_reports")
    tomorrow = finding("I3", "flow_identity", "H140105001", day=NEXT, feed="hotel_reports")
    assert grouped(tomorrow, today) == {
        f"I3:hotel_reports:H140105001:{DAY}": [
            ("I3", "H140105001", str(DAY)),
            ("I3", "H140105001", str(NEXT)),
        ]
    }


def test_a_file_cut_short_is_one_alert_with_its_missing_sites_and_its_districts_r2():
    cut = finding("C3", "rejected_rows", XIAODIAN, feed="testing_site_reports", delivery_reporter=XIAODIAN)
    missing_sites = finding("C1", "missing", XIAODIAN, feed="testing_site_reports", missing_site_ids=["TS1"])
    r2 = finding("R2", "samples_collected", XIAODIAN, feed="testing_site_reports")
    other_missing = finding("C1", "missing", XINGHUALING, feed="testing_site_reports")
    assert grouped(missing_sites, r2, cut, other_missing) == {
        f"C3:testing_site_reports:{XIAODIAN}:{DAY}": [
            ("C1", XIAODIAN, str(DAY)), ("C3", XIAODIAN, str(DAY)), ("R2", XIAODIAN, str(DAY))
        ],
        f"C1:testing_site_reports:{XINGHUALING}:{DAY}": [("C1", XINGHUALING, str(DAY))],
    }  # fmt: skip
