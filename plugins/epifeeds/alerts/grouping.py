"""Open findings grouped into incidents, one per root cause, from the rule registry's `explains` links.

- A finding is *explained* when another open finding's rule declares a link to its rule that matches
  (reporter relation, day offset, cause kind, feed, measure: `epifeeds.quality.registry.Explains`).
  It joins the incident of its root cause: the cause's own cause, and so on up to a finding that
  nothing explains (or, in a cycle, the earliest). A finding with several root causes joins each.
- A finding that nothing explains is a root cause. Roots of one rule, feed, reporter and report date
  share one incident (a reconciliation break is one incident however many measures fail); for a rule
  declared `per_delivery` the reporter is the delivery's (`details.delivery_reporter`: the district
  whose file it is), so five site rows pasted twice in one file are one incident for the file.
- Root-cause kinds (C1 `missing`, C3 `empty`) always lead their incident; an incident alerts only if
  one of its members is `error` or `critical`.

The incident lists what it absorbed (`Incident.absorbed`: the consequences of other rules or
reporters), so a message can say what the root cause explains.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from epifeeds.alerts.lineage import is_downstream_of_feed
from epifeeds.feeds.names import DistrictRoster
from epifeeds.quality.findings import Finding
from epifeeds.quality.registry import (
    ALERTING_SEVERITIES,
    Explains,
    finding_kind,
    is_root_cause,
    max_severity,
    rule_spec,
)

DBT_NODE_KEYS = ("dbt_node", "dbt_unique_id", "unique_id")
_NOT_MEASURES = {"previous", "current", "difference", "before", "after"}


@dataclass
class Incident:
    key: str
    lead: Finding  # the root cause (the first root of the group)
    is_root_cause: bool  # led by a root-cause kind (a missing or empty report)
    members: list[Finding] = field(default_factory=list)  # includes the lead
    reporter: str = ""  # who the alert is about (the delivery's reporter for a per-delivery rule)

    @property
    def severity(self) -> str:
        return max_severity([m.severity for m in self.members])

    @property
    def explained(self) -> list[Finding]:
        """Findings other than the lead (downstream failures, or further measures of the same check)."""
        return [m for m in self.members if m.finding_id != self.lead.finding_id]

    @property
    def absorbed(self) -> list[Finding]:
        """Consequences of the root cause: members of another rule, or of the same rule on another day."""
        return [
            m for m in self.explained if m.rule != self.lead.rule or m.report_date != self.lead.report_date
        ]


def root_cause_key(rule: str, feed: str, reporter: str, report_date: object) -> str:
    return f"{rule}:{feed}:{reporter}:{report_date}"


def alert_reporter(finding: Finding) -> str:
    """Who an unexplained finding's alert is about: its delivery's reporter for per-delivery rules."""
    delivery = (finding.details or {}).get("delivery_reporter")
    if rule_spec(finding.rule).per_delivery and delivery and delivery != "*":
        return str(delivery)
    return finding.reporter


def incident_key(finding: Finding) -> str:
    return root_cause_key(finding.rule, finding.feed, alert_reporter(finding), finding.report_date)


def _city_of(roster: DistrictRoster, reporter: str) -> str | None:
    district = next((d for d in roster.districts if d.district_id == reporter), None)
    return (district.parent_district_id or None) if district else None


def _district_of(finding: Finding) -> str:
    details = finding.details or {}
    return str(details.get("district_id") or details.get("delivery_reporter") or finding.reporter)


def dbt_node(finding: Finding) -> str | None:
    return next((str(finding.details[k]) for k in DBT_NODE_KEYS if (finding.details or {}).get(k)), None)


def measures_of(finding: Finding) -> set[str]:
    """The measures a finding is about: R1's `measure`, I2/I5's `measures` (and the increments inside),
    S1's `columns`, else the rule's declared measures."""
    details = finding.details or {}
    found: set[str] = set(rule_spec(finding.rule).measures)
    if details.get("measure"):
        found.add(str(details["measure"]))
    measures = details.get("measures")
    if isinstance(measures, dict):
        for name, inner in measures.items():
            found.add(name)
            if isinstance(inner, dict):
                found |= {k for k in inner if k not in _NOT_MEASURES}
    found |= {str(c) for c in details.get("columns") or []}
    return found


def _reporters_related(
    link: Explains, cause: Finding, finding: Finding, roster: DistrictRoster, manifest: dict | None
) -> bool:
    if link.on == "reporter":
        return finding.reporter == cause.reporter
    if link.on == "city":
        return finding.reporter == _city_of(roster, cause.reporter)
    if link.on == "district":
        return finding.reporter == _district_of(cause)
    if link.on == "dbt_node":
        node = dbt_node(finding)
        related = finding.reporter in (cause.reporter, _city_of(roster, cause.reporter), "", "*")
        return bool(node) and related and is_downstream_of_feed(manifest, node, cause.feed)
    return False


def link_matches(
    link: Explains, cause: Finding, finding: Finding, roster: DistrictRoster, manifest: dict | None
) -> bool:
    if finding.rule not in link.rules and "*" not in link.rules:
        return False
    kind = finding_kind(finding.finding_key)
    if is_root_cause(finding.rule, finding.finding_key) and kind not in link.of_kinds:
        return False  # a root cause is explained only by a link that names its kind
    if link.of_kinds and kind not in link.of_kinds:
        return False
    if (finding.report_date - cause.report_date).days not in link.days:
        return False
    if link.kinds and finding_kind(cause.finding_key) not in link.kinds:
        return False
    if link.same_feed and finding.feed != cause.feed:
        return False
    if link.same_measure and not measures_of(cause) & measures_of(finding):
        return False
    return _reporters_related(link, cause, finding, roster, manifest)


def explains(cause: Finding, finding: Finding, roster: DistrictRoster, manifest: dict | None) -> bool:
    """Whether `cause`'s rule declares a link that explains `finding`."""
    if cause.finding_id == finding.finding_id:
        return False
    return any(
        link_matches(link, cause, finding, roster, manifest) for link in rule_spec(cause.rule).explains
    )


def _causes(
    findings: list[Finding], roster: DistrictRoster, manifest: dict | None
) -> dict[int, list[Finding]]:
    by_day: dict[date, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_day[finding.report_date].append(finding)
    offsets = {
        d
        for spec_links in (rule_spec(f.rule).explains for f in findings)
        for link in spec_links
        for d in link.days
    }
    causes: dict[int, list[Finding]] = {}
    for finding in findings:
        candidates = [
            c for offset in offsets for c in by_day.get(finding.report_date - timedelta(days=offset), [])
        ]
        causes[finding.finding_id] = [c for c in candidates if explains(c, finding, roster, manifest)]
    return causes


def _roots(
    finding: Finding, causes: dict[int, list[Finding]], seen: frozenset[int] = frozenset()
) -> list[Finding]:
    direct = [c for c in causes[finding.finding_id] if c.finding_id not in seen]
    if not direct:
        return [finding]
    roots: dict[int, Finding] = {}
    for cause in direct:
        for root in _roots(cause, causes, seen | {finding.finding_id}):
            roots[root.finding_id] = root
    return list(roots.values())


def group_findings(
    findings: list[Finding], roster: DistrictRoster, manifest: dict | None
) -> dict[str, Incident]:
    """Incidents by key for the given open findings (see the module docstring for the rules)."""
    ordered = sorted(
        findings, key=lambda f: (not is_root_cause(f.rule, f.finding_key), f.report_date, f.finding_id)
    )
    causes = _causes(ordered, roster, manifest)
    incidents: dict[str, Incident] = {}
    for finding in ordered:
        for root in _roots(finding, causes):
            key = incident_key(root)
            incident = incidents.get(key)
            if incident is None:
                incident = incidents[key] = Incident(
                    key, root, is_root_cause(root.rule, root.finding_key), reporter=alert_reporter(root)
                )
            if all(m.finding_id != finding.finding_id for m in incident.members):
                incident.members.append(finding)
    return {k: i for k, i in incidents.items() if i.severity in ALERTING_SEVERITIES}
