import pytest

from epifeeds_sim.score import render_table, score

pytestmark = pytest.mark.unit

TRUTH = {
    "seed": 7,
    "fault_profile": "all",
    "faults": [
        {"fault_id": "F001", "kind": "missing_report", "rule": "C1", "reporter": "140110", "reporter_name": "晋源区",
         "report_date": "2022-03-03", "consequences": [{"rule": "R1", "reporter": "140100", "report_date": "2022-03-03"}]},
        {"fault_id": "F002", "kind": "revised_report", "rule": "H1", "reporter": "140105", "reporter_name": "小店区",
         "report_date": "2022-03-02",
         "consequences": [{"rule": "R1", "reporter": "140100", "report_date": "2022-03-02", "only_before": "x"}]},
        {"fault_id": "F003", "kind": "alias_spelling", "rule": None, "reporter": "140106", "reporter_name": "Yingze",
         "report_date": "2022-03-01", "consequences": []},
    ],
}  # fmt: skip


def test_everything_found_and_nothing_else_scores_full_marks():
    found = [("C1", "140110", "2022-03-03"), ("R1", "140100", "2022-03-03"), ("H1", "140105", "2022-03-02")]
    rules = score(TRUTH, found)["rules"]
    assert {rule: (row["recall"], row["precision"]) for rule, row in rules.items()} == {
        "C1": (1.0, 1.0),
        "H1": (1.0, 1.0),
        "R1": (1.0, 1.0),
    }


def test_a_consequence_that_holds_only_before_a_revision_is_neither_required_nor_wrong():
    found = [("C1", "140110", "2022-03-03"), ("R1", "140100", "2022-03-03"), ("R1", "140100", "2022-03-02")]
    r1 = score(TRUTH, found)["rules"]["R1"]
    assert (r1["expected"], r1["recall"], r1["precision"], r1["unexpected"]) == (1, 1.0, 1.0, [])


def test_misses_and_false_alarms_are_named():
    found = [("C1", "140107", "2022-03-03"), ("V2", "140105", "2022-03-01")]
    result = score(TRUTH, found)
    c1 = result["rules"]["C1"]
    assert (c1["recall"], c1["precision"]) == (0.0, 0.0)
    assert c1["missed"] == [
        {"rule": "C1", "reporter": "140110", "report_date": "2022-03-03", "cause": "F001 missing_report"}
    ]
    assert c1["unexpected"] == [{"rule": "C1", "reporter": "140107", "report_date": "2022-03-03"}]
    assert result["rules"]["V2"]["recall"] is None  # nothing planted for V2, one false alarm
    table = render_table(result)
    assert (
        "missed 140110 2022-03-03 (F001 missing_report)" in table and "unexpected 140105 2022-03-01" in table
    )


def test_alert_precision_is_root_causes_alerted_per_alert_and_names_split_and_unmatched_alerts():
    from epifeeds_sim.score import score_alerts

    missing, city = ("C1", "140110", "2022-03-03"), ("R1", "140100", "2022-03-03")
    one_each = score_alerts(TRUTH, {missing: {missing, city}, ("H1", "140105", "2022-03-02"): set()})
    assert (one_each["alerts"], one_each["root_causes_alerted"], one_each["alert_precision"]) == (2, 2, 1.0)
    # The city's R1 alerted apart from its missing district, and an alert nothing planted explains.
    split = score_alerts(TRUTH, {missing: {missing}, city: {city}, ("V2", "140105", "2022-03-01"): set()})
    assert (split["alerts"], split["root_causes_alerted"], round(split["alert_precision"], 2)) == (3, 1, 0.33)
    assert list(split["split"]) == ["F001 missing_report"]
    assert split["unmatched"] == [{"rule": "V2", "reporter": "140105", "report_date": "2022-03-01"}]
    assert "alerts 3 for 1 root causes: alert precision 33%" in render_table(
        score(TRUTH, [missing]) | {"alerts": split}
    )
