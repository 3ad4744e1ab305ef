"""The rule catalogue (FEEDS.md, "Data-quality rules") as far as alerting needs it: which findings are
root causes, which checks fail as a consequence of a missing report, who owns each rule."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITY_RANK = {"info": 0, "warn": 1, "error": 2, "critical": 3}
ALERTING_SEVERITIES = ("error", "critical")


@dataclass(frozen=True)
class RuleSpec:
    rule: str
    name: str
    owner: str
    # A finding of this rule for a reporter and day is explained by that reporter's missing report that day.
    explained_by_missing: bool = False
    # The check lives on the city row and compares it with the sum of its districts, so a missing
    # district (or city) report that day explains it.
    compares_city_with_districts: bool = False
    # Finding kinds (the second part of the finding key, e.g. C1:missing:...) that are root causes.
    root_cause_kinds: tuple[str, ...] = ()


RULES: dict[str, RuleSpec] = {
    spec.rule: spec
    for spec in (
        RuleSpec("C1", "report delivered by its deadline", "feed-operations", root_cause_kinds=("missing",)),
        RuleSpec("C2", "feed freshness within its SLA", "feed-operations"),
        RuleSpec(
            "C3",
            "no empty or thin delivery",
            "feed-operations",
            explained_by_missing=True,
            root_cause_kinds=("empty",),
        ),
        RuleSpec("V1", "required fields, types and ranges", "data-platform", explained_by_missing=True),
        RuleSpec("V2", "orderings and identities within a row", "data-platform", explained_by_missing=True),
        RuleSpec("I1", "one row per reporter, date and version", "data-platform"),
        RuleSpec("I2", "cumulative counts never decrease", "data-platform"),
        RuleSpec("I3", "hotel guest flow identity", "data-platform", explained_by_missing=True),
        RuleSpec("I4", "tubes match samples and pool size", "data-platform"),
        RuleSpec("I5", "increments match cumulatives", "data-platform", explained_by_missing=True),
        RuleSpec(
            "R1",
            "sum of districts equals the city bulletin",
            "epi-analytics",
            explained_by_missing=True,
            compares_city_with_districts=True,
        ),
        RuleSpec(
            "R2", "district samples match its testing sites", "epi-analytics", explained_by_missing=True
        ),
        RuleSpec(
            "R3", "isolation transfers match hotel check-ins", "epi-analytics", explained_by_missing=True
        ),
        RuleSpec(
            "R4", "site positives within district new cases", "epi-analytics", explained_by_missing=True
        ),
        RuleSpec("H1", "revision beyond threshold", "epi-analytics"),
    )
}

RECONCILIATION_RULES = ("R1", "R2", "R3", "R4")


def rule_spec(rule: str) -> RuleSpec:
    return RULES.get(rule) or RuleSpec(rule, rule, "data-platform")


def finding_kind(finding_key: str) -> str:
    """The kind part of a finding key `<rule>:<kind>:<feed>:<reporter>:<date>` ('' for other key shapes)."""
    parts = finding_key.split(":")
    return parts[1] if len(parts) == 5 else ""


def is_root_cause(rule: str, finding_key: str) -> bool:
    return finding_kind(finding_key) in rule_spec(rule).root_cause_kinds


def max_severity(severities: list[str]) -> str:
    return max(severities, key=lambda s: SEVERITY_RANK.get(s, 0))
