"""The rule registry: every data-quality rule as one named unit (FEEDS.md, "Data-quality rules").

Each `RuleSpec` says what the rule means, where it runs, what it reads, its severity and owner, and
which other rules' findings it can explain (`Explains`: on which keys, for which report days). Alert
grouping (`epifeeds.alerts.grouping`), the catalogue in `docs/data_quality.md` (`catalogue_table()`),
the alert wording (`RuleSpec.name`) and the known-exceptions validation all read this one table; a
test fails when the docs disagree with it.

A new rule is one more entry in `RULES` (keep the API a plain dict of specs).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SEVERITY_RANK = {"info": 0, "warn": 1, "error": 2, "critical": 3}
ALERTING_SEVERITIES = ("error", "critical")
RECONCILIATION_RULES = ("R1", "R2", "R3", "R4")


@dataclass(frozen=True)
class Explains:
    """A finding of the rule that declares this link explains findings of `rules` when:

    - `on` relates the two reporters: ``reporter`` (the same), ``city`` (the consequence is the city row
      whose sum includes the cause's district), ``district`` (the consequence is the district the
      cause's site file or row belongs to: `details.district_id` / `details.delivery_reporter`),
      ``dbt_node`` (the consequence names a dbt node downstream of the cause's feed);
    - the consequence's report date is the cause's plus one of `days`;
    - `kinds` (when given) lists the cause's finding kinds that explain (C1 only when `missing`);
    - `same_feed` asks for the same feed, `same_measure` for a measure in common (R1's `measure`,
      I2/I5's `measures`, S1's `columns`, a rule's declared `measures`).
    """

    rules: tuple[str, ...]
    on: str = "reporter"
    days: tuple[int, ...] = (0,)
    kinds: tuple[str, ...] = ()
    same_feed: bool = False
    same_measure: bool = False
    # A root-cause kind (C1 `missing`) is explained only by a link naming it here: a file cut short or
    # empty (C3) is why its sites are missing (C1), not a second cause.
    of_kinds: tuple[str, ...] = ()

    def describe(self) -> str:
        days = "" if self.days == (0,) else f" (days {', '.join(f'{d:+d}' for d in self.days)})"
        how = ", same measure" if self.same_measure else ""
        kinds = f"{'/'.join(self.kinds)}: " if self.kinds else ""
        rules = " ".join(f"{r} {'/'.join(self.of_kinds)}" if self.of_kinds else r for r in self.rules)
        return f"{kinds}{rules} on the {self.on}{days}{how}"


@dataclass(frozen=True)
class RuleSpec:
    rule: str  # the id findings carry (C1, S1, ...)
    name: str  # what it means, as alert titles say it
    what: str  # the catalogue's description: the rule and its band or tolerance, with the reason
    runs_in: str  # the module and the task or DAG it runs in
    reads: str  # the tables it reads
    severity: str  # as the catalogue states it (one word, or per kind)
    owner: str
    explains: tuple[Explains, ...] = ()
    # Finding kinds (the second part of the key, e.g. C1:missing:...) that open an incident whatever else
    # is failing: a report that is absent explains, it is never explained.
    root_cause_kinds: tuple[str, ...] = ()
    # Row findings of one delivery (a site's reject, a site row's V2) alert once for the delivery: the
    # incident is keyed on `details.delivery_reporter` (the district whose file it is), not the row's reporter.
    per_delivery: bool = False
    measures: tuple[str, ...] = ()  # measures a finding of this rule is about when its details do not say


_ABSENT_EXPLAINS = (  # what a missing or empty report breaks: its reporter's own checks, reconciliations
    Explains(("V1", "V2", "I3", "I5", "S1", "P1", "P2", "P3"), "reporter", same_feed=True),
    Explains(("R2", "R3", "R4"), "reporter"),
    Explains(("R1",), "city"),
    Explains(("*",), "dbt_node"),
)
_DISTRICT_FIGURES = ("new_positives", "new_confirmed", "new_asymptomatic")
# A bad or lost row of a district's site file explains that district's reconciliations of the day.
_ITS_DISTRICT_RECONCILIATIONS = Explains(("R2", "R4"), "district", same_feed=True)


def _when_absent(*kinds: str) -> tuple[Explains, ...]:
    """What an absent report breaks, explained by a root cause of these kinds (`missing`; `empty`,
    `quarantined`)."""
    return tuple(replace(link, kinds=kinds) for link in _ABSENT_EXPLAINS)


RULES: dict[str, RuleSpec] = {
    spec.rule: spec
    for spec in (
        RuleSpec(
            "C1",
            "report delivered by its deadline",
            "every active reporter delivered by its deadline (roster × `reporting_calendar.csv`, per city). "
            "Districts per the roster; testing sites per district file (every site the registry has open "
            "that day needs a row: `details.missing_site_ids`), reporter = the district; hotels per hotel "
            "while requisitioned, reporter = the hotel. Site files due D+1 06:00, hotel reports D+1 09:00; "
            "both judged missing from 11:00, after the 10:30 ingests",
            "`quality/completeness.py` (every feed; `expected_reports.py`, `reporting_calendar.py`), "
            "hourly `feed_watchdog`",
            "landing.batches, the roster, the registries, `reporting_calendar.csv`",
            "missing after grace: error; late: warn",
            "feed-operations",
            explains=_when_absent("missing"),
            root_cause_kinds=("missing",),
        ),
        RuleSpec(
            "C2",
            "feed freshness within its SLA",
            "last successful delivery of each feed within its SLA (`quality/freshness.py`; dbt source "
            "freshness is tested to agree)",
            "`feed_watchdog`",
            "landing.batches",
            "warn after 26 h, error after 50 h",
            "feed-operations",
        ),
        RuleSpec(
            "C3",
            "no empty or thin delivery",
            "every delivery lands: one refused (unreadable, beyond a limit) or that could not be loaded is "
            "quarantined, one finding per delivery (`landing/ingest_run.py`); no empty delivery on an expected "
            "day; volume not below 50 % of the trailing 7-day median; a file cut short is C3 too (its rows "
            "after the cut are lost)",
            "`landing/ingest_run.py` and `quality/landing_rules.py`, after each ingest",
            "landing.batches, landing.rejects",
            "quarantined, empty: error; thin: warn",
            "feed-operations",
            explains=(
                *_when_absent("empty", "quarantined"),
                Explains(("R2", "R4"), "district", kinds=("rejected_rows",), same_feed=True),
                Explains(
                    ("C1",),
                    "reporter",
                    kinds=("empty", "quarantined", "rejected_rows"),
                    same_feed=True,
                    of_kinds=("missing",),
                ),
            ),
            root_cause_kinds=("empty", "quarantined"),
        ),
        RuleSpec(
            "S1",
            "header matches the feed's contract",
            "each file's header against its contract: an unknown column next to a missing expected one is "
            "drift (error, the likely match named); a missing optional measure column is a warning, so a "
            "measure is never emptied silently; a missing required column quarantines the file (C3 quarantined). "
            "A spelling seen in the wild is one more alias in `feeds/contracts.py`",
            "`quality/schema_drift.py`, after each file ingest (the parser reports matched, unknown and "
            "missing columns; it never judges)",
            "landing.batches.header: the header report of each landed delivery (`feeds/records.py` `HeaderReport`)",
            "drift: error; optional column missing: warn",
            "data-platform",
            explains=(_ITS_DISTRICT_RECONCILIATIONS, Explains(("P2",), "district")),
        ),
        RuleSpec(
            "V1",
            "required fields, types and ranges",
            "required fields, types, non-negative counts, known reporter, no future date",
            "landing rejects the row (`landing.rejects`, with reason); `quality/landing_rules.py` turns "
            "each into a finding; the GX suite re-checks the landed slice",
            "landing.rejects, landing.<feed>",
            "error",
            "data-platform",
            explains=(_ITS_DISTRICT_RECONCILIATIONS,),
            per_delivery=True,
        ),
        RuleSpec(
            "V2",
            "orderings and identities within a row",
            "identities within a row: positives = confirmed + asymptomatic; the contracts' orderings: "
            "positive tubes ≤ tubes sent to lab ≤ tubes ≤ samples (per site row, blanks skipped), rooms "
            "occupied ≤ rooms total (per hotel)",
            "`quality/district_rules.py` (per district and day), `quality/site_rows.py` and "
            "`quality/hotel_rows.py` (reporter = site / hotel, after each file ingest) and the GX suites",
            "landing.district_reports, landing.testing_site_reports, landing.hotel_reports",
            "error",
            "data-platform",
            explains=(
                Explains(("R1",), "city", same_measure=True),
                Explains(("I5",), "reporter", days=(0,), same_feed=True),
                Explains(("R4",), "reporter", days=(0, -1)),
                _ITS_DISTRICT_RECONCILIATIONS,
                Explains(("P1", "P2"), "reporter", same_feed=True),
            ),
            per_delivery=True,
            measures=_DISTRICT_FIGURES,
        ),
        RuleSpec(
            "I1",
            "one row per reporter, date and version",
            "one row per reporter, report date and version",
            "landing rejects a repeated row in a delivery; finding from the reject; GX checks the key",
            "landing.rejects",
            "error",
            "data-platform",
            explains=(_ITS_DISTRICT_RECONCILIATIONS,),
            per_delivery=True,
        ),
        RuleSpec(
            "I2",
            "cumulative counts never decrease",
            "cumulative counts never decrease",
            "`quality/district_history.py`",
            "landing.district_reports",
            "error",
            "data-platform",
            explains=(
                Explains(("I5",), "reporter", days=(0, 1), same_feed=True, same_measure=True),
                Explains(("R1",), "city", same_measure=True),
            ),
        ),
        RuleSpec(
            "I3",
            "hotel guest flow identity",
            "hotel flow: guests(d) = guests(d−1) + check-ins(d) − check-outs(d), exact, per hotel",
            "`quality/hotel_rows.py` (consecutive days only: a missing day is C1's)",
            "landing.hotel_reports",
            "error",
            "data-platform",
            # a wrong count today is tomorrow's wrong base
            explains=(Explains(("I3",), "reporter", days=(1,), same_feed=True),),
        ),
        RuleSpec(
            "I4",
            "tubes match samples and pool size",
            "tubes ≈ ceil(samples / pool size): within max(2 tubes, 10 %) of it, per site row with a "
            "pooling mode",
            "`quality/site_rows.py`",
            "landing.testing_site_reports",
            "error",
            "data-platform",
            per_delivery=True,
        ),
        RuleSpec(
            "I5",
            "increments match cumulatives",
            "cumulative(d) − cumulative(d−1) = new(d)",
            "`quality/district_history.py` (consecutive days only: a missing day is C1's)",
            "landing.district_reports",
            "error",
            "data-platform",
            explains=(
                Explains(("I5", "I2"), "reporter", days=(1,), same_feed=True, same_measure=True),
                Explains(("R1",), "city", same_measure=True),
                Explains(("I5",), "city", same_feed=True, same_measure=True),  # a city restating with it
            ),
        ),
        RuleSpec(
            "P1",
            "guests within the hotel's capacity",
            "guests ≤ the hotel's registered capacity, and guests ≤ rooms occupied × 3 (an isolation room "
            "holds one person, a family room two or three: a fourth guest per room is a typing error, not "
            "a family)",
            "`quality/plausibility.py`, in the hotel file rules",
            "landing.hotel_reports, landing.isolation_hotels",
            "error",
            "data-platform",
        ),
        RuleSpec(
            "P2",
            "test positivity within its band",
            "positive tubes ≤ tubes, and a district file's positivity (positive tubes / tubes) ≤ 20 %: in "
            "mass screening positivity stays far below 1 %; the COVID Tracking Project flagged positivity "
            "above 20 % as implausible for a jurisdiction. Deaths / confirmed ≤ 15 % where a feed "
            "publishes deaths (the CTP's case-fatality check; no feed here does yet)",
            "`quality/plausibility.py`, in the site file rules",
            "landing.testing_site_reports",
            "error",
            "epi-analytics",
        ),
        RuleSpec(
            "P3",
            "day's value within the reporter's trend",
            "a district's steady measures (home isolation, grid workers, volunteers) within 1/5 × and 5 × "
            "the median of the same weekday over the past 4 weeks (weekday seasonality; the past 7 days "
            "while fewer than 3 same weekdays are known), median ≥ 100; its samples collected at most 5 × "
            "the highest of the past 14 days, since a city-wide testing round multiplies them 10–15 × in a "
            "day. The band catches an extra digit, not an outbreak (the CTP flagged only day-over-day "
            "changes of an order of magnitude)",
            "`quality/plausibility.py`, with the district rules",
            "landing.district_reports",
            "warn",
            "epi-analytics",
        ),
        RuleSpec(
            "R1",
            "sum of districts equals the city bulletin",
            "sum of a city's districts = its bulletin, per measure (tolerance 0)",
            "`quality/district_rules.py`; a missing district is named as the cause and the alert groups it "
            "under C1",
            "landing.district_reports",
            "error",
            "epi-analytics",
        ),
        RuleSpec(
            "R2",
            "district samples match its testing sites",
            "a district's `samples_collected` = the sum of its testing sites' samples within ±2 % of the "
            "district's figure, per district and day (an empty or cut-short file counts with the rows it has)",
            "`quality/reconciliations.py`; not evaluable without the district report or the site file",
            "landing.district_reports, landing.testing_site_reports",
            "error",
            "epi-analytics",
        ),
        RuleSpec(
            "R3",
            "isolation transfers match hotel check-ins",
            "transfers to centralised isolation vs hotel check-ins from that district, all hotels: "
            "transferred(d) ≤ check-ins(d) + check-ins(d+1), and check-ins(d) ≤ transferred(d−1) + "
            "transferred(d) (tolerance 0 persons)",
            "`quality/reconciliations.py`; waits for d+1's hotel reports",
            "landing.district_reports, landing.hotel_check_ins",
            "error",
            "epi-analytics",
        ),
        RuleSpec(
            "R4",
            "site positives within district new cases",
            "positive tubes at a district's testing sites on d ≤ its new positives of d and d+1 (the lab lag)",
            "`quality/reconciliations.py`; waits for d+1's district report only when d's cases alone are "
            "exceeded",
            "landing.district_reports, landing.testing_site_reports",
            "error",
            "epi-analytics",
        ),
        RuleSpec(
            "H1",
            "revision beyond threshold",
            "a revision moves a published figure by more than 1 % (`EPIFEEDS_REVISION_THRESHOLD_PCT`)",
            "`quality/district_history.py`, with before and after kept",
            "landing.district_reports (every version)",
            "warn",
            "epi-analytics",
        ),
        RuleSpec(
            "N1",
            "measure not published",
            "a measure a reporter does not publish in its bulletin (every cell blank, or all zeros while its "
            "counterpart moves) is one finding for the file's window, not a daily error; I2 and I5 skip it",
            "`quality/bulletin_checks.py` (`epifeeds import-bulletin`, `ingest_bulletins`)",
            "landing.bulletin_measures",
            "info",
            "data-platform",
        ),
        RuleSpec(
            "X1",
            "known exception",
            "known exceptions silence a rule for a reporter and date range, with a reason",
            "`expectations/known_exceptions.yml` → `dq.exceptions` (`quality/exceptions.py`)",
            "dq.findings",
            "—",
            "data-platform",
        ),
    )
}


def rule_spec(rule: str) -> RuleSpec:
    return RULES.get(rule) or RuleSpec(rule, rule, rule, "", "", "error", "data-platform")


def finding_kind(finding_key: str) -> str:
    """The kind part of a finding key `<rule>:<kind>:<feed>:<reporter>:<date>` ('' for other key shapes)."""
    parts = finding_key.split(":")
    return parts[1] if len(parts) == 5 else ""


def is_root_cause(rule: str, finding_key: str) -> bool:
    return finding_kind(finding_key) in rule_spec(rule).root_cause_kinds


def max_severity(severities: list[str]) -> str:
    return max(severities, key=lambda s: SEVERITY_RANK.get(s, 0))


CATALOGUE_BEGIN = "<!-- rule catalogue: generated from plugins/epifeeds/quality/registry.py -->"
CATALOGUE_END = "<!-- end of the rule catalogue -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _catalogue_row(spec: RuleSpec) -> str:
    explains = "; ".join(link.describe() for link in spec.explains) or "—"
    cells = (spec.rule, spec.name, spec.what, spec.runs_in, spec.reads, spec.severity, spec.owner, explains)
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def catalogue_table() -> str:
    """The catalogue as `docs/data_quality.md` shows it (between CATALOGUE_BEGIN and CATALOGUE_END)."""
    lines = [
        "| rule | name | what | where it runs | reads | severity | owner | explains |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_catalogue_row(spec) for spec in RULES.values()),
    ]
    return "\n".join([CATALOGUE_BEGIN, *lines, CATALOGUE_END])
