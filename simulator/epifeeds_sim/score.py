"""`epifeeds sim score`: the platform's findings against a simulation's ground truth, per rule.

A planted fault is expected as a finding of its rule for its reporter and report date; so is each of
its `consequences` (the further findings it explains), except those marked `only_before`, which hold
only while a first version is current: finding them is right, missing them is not wrong. A finding
that matches nothing expected is a false positive. Findings are read from `dq.findings` whatever their
status (open, resolved, silenced): a late report that was missing for a while was still caught.

Alert-level precision (`score_alerts`): each alert in `dq.alerts`, with the findings linked to it,
matches the planted faults whose finding or consequences it holds. Root causes alerted are the faults
some alert matches; precision is root causes alerted / alerts (one alert per root cause is 100 %); a
fault in two alerts is named as split, an alert matching no fault as unmatched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Key = tuple[str, str, str]  # (rule, reporter, report_date)


@dataclass(frozen=True)
class Expectations:
    required: dict[Key, str]  # key -> the fault that requires it (its id and kind)
    optional: set[Key]


def expected_findings(truth: dict[str, Any]) -> Expectations:
    required: dict[Key, str] = {}
    optional: set[Key] = set()
    for fault in truth["faults"]:
        if not fault.get("rule"):
            continue  # format quirks the parser must absorb, not data-quality faults
        label = f"{fault['fault_id']} {fault['kind']}"
        reporter = fault["reporter"] or fault["reporter_name"]
        required.setdefault((fault["rule"], str(reporter), fault["report_date"]), label)
        for consequence in fault.get("consequences", []):
            key = (consequence["rule"], str(consequence["reporter"]), consequence["report_date"])
            if consequence.get("only_before"):
                optional.add(key)
            else:
                required.setdefault(key, f"{label} (consequence)")
    return Expectations(required, optional - set(required))


def score(truth: dict[str, Any], findings: list[Key]) -> dict[str, Any]:
    """Recall and precision per rule, with what was missed and what was unexpected."""
    expectations = expected_findings(truth)
    found = set(findings)
    rules = sorted({k[0] for k in expectations.required} | {k[0] for k in found})
    per_rule: dict[str, Any] = {}
    for rule in rules:
        expected = {k for k in expectations.required if k[0] == rule}
        reported = {k for k in found if k[0] == rule}
        true_positives = expected & reported
        false_positives = reported - expected - expectations.optional
        counted = len(reported - (expectations.optional - expected))
        per_rule[rule] = {
            "expected": len(expected),
            "found": len(reported),
            "true_positives": len(true_positives),
            "recall": len(true_positives) / len(expected) if expected else None,
            "precision": (counted - len(false_positives)) / counted if counted else None,
            "missed": [_describe(k, expectations.required[k]) for k in sorted(expected - reported)],
            "unexpected": [_describe(k) for k in sorted(false_positives)],
        }
    return {"seed": truth.get("seed"), "fault_profile": truth.get("fault_profile"), "rules": per_rule}


def fault_keys(truth: dict[str, Any]) -> dict[str, set[Key]]:
    """Every finding key a planted fault accounts for (its own and its consequences'), by fault label."""
    keys: dict[str, set[Key]] = {}
    for fault in truth["faults"]:
        if not fault.get("rule"):
            continue
        label = f"{fault['fault_id']} {fault['kind']}"
        reporter = fault["reporter"] or fault["reporter_name"]
        keys[label] = {(fault["rule"], str(reporter), fault["report_date"])} | {
            (c["rule"], str(c["reporter"]), c["report_date"]) for c in fault.get("consequences", [])
        }
    return keys


def score_alerts(truth: dict[str, Any], alerts: dict[Key, set[Key]]) -> dict[str, Any]:
    """Alerts against root causes. `alerts`: each alert's (rule, reporter, date) -> its findings' keys."""
    faults = fault_keys(truth)
    matched: dict[Key, list[str]] = {
        alert: [label for label, keys in faults.items() if keys & (members | {alert})]
        for alert, members in alerts.items()
    }
    alerted = {label for labels in matched.values() for label in labels}
    split = {
        label: [_describe(a) for a, labels in sorted(matched.items()) if label in labels]
        for label in sorted(alerted)
    }
    return {
        "alerts": len(alerts),
        "root_causes_alerted": len(alerted),
        "alert_precision": min(1.0, len(alerted) / len(alerts)) if alerts else None,
        "alerts_per_root_cause": len(alerts) / len(alerted) if alerted else None,
        "unmatched": [_describe(a) for a in sorted(matched) if not matched[a]],
        "split": {label: where for label, where in split.items() if len(where) > 1},
    }


def _describe(key: Key, cause: str | None = None) -> dict[str, str]:
    rule, reporter, report_date = key
    return {"rule": rule, "reporter": reporter, "report_date": report_date} | (
        {"cause": cause} if cause else {}
    )


def findings_in_warehouse(warehouse_dsn: str) -> list[Key]:
    import psycopg

    with psycopg.connect(warehouse_dsn) as conn:
        if not conn.execute("select to_regclass('dq.findings') is not null").fetchone()[0]:
            return []
        rows = conn.execute("select distinct rule, reporter, report_date::text from dq.findings").fetchall()
    return [(rule, reporter, day) for rule, reporter, day in rows]


def alerts_in_warehouse(warehouse_dsn: str) -> dict[Key, set[Key]]:
    """Each alert's (rule, reporter, report date) and the keys of the findings linked to it."""
    import psycopg

    with psycopg.connect(warehouse_dsn) as conn:
        if not conn.execute("select to_regclass('dq.alert_findings') is not null").fetchone()[0]:
            return {}
        rows = conn.execute(
            "select a.alert_id, a.rule, a.reporter, a.report_date::text, f.rule, f.reporter, f.report_date::text"
            " from dq.alerts as a left join dq.alert_findings as l using (alert_id)"
            " left join dq.findings as f using (finding_id)"
        ).fetchall()
    alerts: dict[int, tuple[Key, set[Key]]] = {}
    for alert_id, rule, reporter, day, f_rule, f_reporter, f_day in rows:
        _, members = alerts.setdefault(alert_id, ((rule, reporter, day), set()))
        if f_rule:
            members.add((f_rule, f_reporter, f_day))
    found: dict[Key, set[Key]] = {}
    for key, members in alerts.values():
        found.setdefault(key, set()).update(members)
    return found


def render_table(result: dict[str, Any]) -> str:
    def percent(value: float | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    lines = [f"{'rule':<6}{'expected':>9}{'found':>7}{'recall':>8}{'precision':>11}"]
    for rule, row in result["rules"].items():
        lines.append(
            f"{rule:<6}{row['expected']:>9}{row['found']:>7}{percent(row['recall']):>8}{percent(row['precision']):>11}"
        )
        lines += [f"    missed {m['reporter']} {m['report_date']} ({m['cause']})" for m in row["missed"]]
        lines += [f"    unexpected {u['reporter']} {u['report_date']}" for u in row["unexpected"]]
    alerts = result.get("alerts")
    if alerts is not None:
        precision = percent(alerts["alert_precision"])
        lines.append(
            f"alerts {alerts['alerts']} for {alerts['root_causes_alerted']} root causes: alert precision {precision}"
        )
        lines += [
            f"    unmatched {u['rule']} {u['reporter']} {u['report_date']}" for u in alerts["unmatched"]
        ]
        lines += [f"    split {label} over {len(where)} alerts" for label, where in alerts["split"].items()]
    return "\n".join(lines)


def run_score(truth_path: Path, warehouse_dsn: str, output_format: str) -> int:
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    result = score(truth, findings_in_warehouse(warehouse_dsn))
    result["alerts"] = score_alerts(truth, alerts_in_warehouse(warehouse_dsn))
    print(
        json.dumps(result, ensure_ascii=False, indent=2) if output_format == "json" else render_table(result)
    )
    return 0
