"""Transition re-export: the rule registry lives in `epifeeds.quality.registry`."""

from epifeeds.quality.registry import (
    ALERTING_SEVERITIES,
    RECONCILIATION_RULES,
    RULES,
    SEVERITY_RANK,
    Explains,
    RuleSpec,
    finding_kind,
    is_root_cause,
    max_severity,
    rule_spec,
)

__all__ = [
    "ALERTING_SEVERITIES",
    "RECONCILIATION_RULES",
    "RULES",
    "SEVERITY_RANK",
    "Explains",
    "RuleSpec",
    "finding_kind",
    "is_root_cause",
    "max_severity",
    "rule_spec",
]
