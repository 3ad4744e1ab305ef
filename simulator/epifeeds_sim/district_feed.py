"""The district daily report feed (区县日报): true figures, planted faults and the per-day files.

The truth comes from a seeded outbreak curve per city: cases are spread over the city's districts, each
case opens zones and brings close contacts, contacts move to isolation hotels or home isolation, sampling
rounds sweep the city. Each city bulletin (太原市, and at province scale 大同市 ...) is the sum of its
districts' true figures. Faults are then planted on distinct (district, day) slots, spread over the
cities, and each one is recorded in the ground truth exactly as written.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import DistrictRoster
from epifeeds_sim.ground_truth import GroundTruth, PlantedFault, write_json
from epifeeds_sim.randomness import binomial, iso_utc, local_moment, poisson, stream
from epifeeds_sim.reference import (
    CITY_ID,
    DISTRICT_PROFILES,
    SEED_FIRST_DAY_TRANSFERRED,
    DistrictProfile,
)
from epifeeds_sim.roster import ROSTER_FILE, alias_spellings, city_of, simulated_cities

FEED = "district_reports"
FEED_DIR = "district_reports"
MEASURES: tuple[str, ...] = (
    "new_positives",
    "new_confirmed",
    "new_asymptomatic",
    "cumulative_confirmed",
    "cumulative_positives",
    "sealed_zones",
    "controlled_zones",
    "precaution_zones",
    "close_contacts_identified",
    "transferred_to_isolation",
    "home_isolation",
    "samples_collected",
    "grid_workers_on_duty",
    "volunteers",
)
DISTRICT_DEADLINE_MINUTES = 9 * 60  # D+1 09:00 Asia/Shanghai (reporting_calendar seed)
CITY_DEADLINE_MINUTES = 10 * 60  # D+1 10:00 for the city bulletin
GRACE_MINUTES = 60
UNKNOWN_REPORTER_NAME = "高新区"  # a development zone, not a district: rule V1 must reject it


def payload_fields() -> list[str]:
    """The keys of one item as the agency sends it, in order, derived from the contract."""
    counts = DISTRICT_REPORTS.count_columns
    if tuple(counts) != MEASURES:
        raise RuntimeError(
            "epifeeds_sim cannot fill the district_reports contract: contract counts "
            f"{counts} differ from simulated {list(MEASURES)}; teach sim/district_feed.py the new field"
        )
    return ["district", "report_date", *counts, "submitted_at"]


# --------------------------------------------------------------------------------------------- truth


@dataclass
class Zone:
    first_day: int
    last_day: int  # inclusive
    sealed: int
    controlled: int
    precaution: int
    precaution_last_day: int


@dataclass
class DistrictTruth:
    """True figures per district_id (and city id) and day index, plus each city's sampling rounds."""

    start: date
    days: int
    values: dict[tuple[str, int], dict[str, int]]
    round_days: dict[int, float]  # Taiyuan's: day index -> share of the population sampled city-wide
    city_round_days: dict[str, dict[int, float]] = field(default_factory=dict)  # city_id -> its rounds

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def rounds_of(self, district_id: str) -> dict[int, float]:
        """The sampling rounds of a district's city."""
        return self.city_round_days.get(city_of(district_id), self.round_days)


def _city_stream(seed: int, name: str, city_id: str) -> random.Random:
    """Taiyuan keeps the streams it had before the province existed: same seed, same city-scale files."""
    if city_id == CITY_ID:
        return stream(seed, "districts", name)
    return stream(seed, "districts", name, city_id)


def _outbreak_curve(seed: int, days: int, city_id: str = CITY_ID) -> list[float]:
    rng = _city_stream(seed, "curve", city_id)
    waves = [(rng.uniform(4, 9), rng.uniform(8, 16), rng.uniform(2.5, 4.5))]
    if days > 21:
        waves.append((rng.uniform(days * 0.5, days * 0.8), rng.uniform(3, 8), rng.uniform(2, 4)))
    return [
        0.4 + sum(h * math.exp(-0.5 * ((t - peak) / width) ** 2) for peak, h, width in waves)
        for t in range(days)
    ]


def _sampling_rounds(seed: int, days: int, city_id: str = CITY_ID) -> dict[int, float]:
    rng = _city_stream(seed, "rounds", city_id)
    rounds: dict[int, float] = {}
    day = rng.randint(1, 3)
    while day < days:
        rounds[day] = rng.uniform(0.55, 0.7)
        if day + 1 < days:
            rounds[day + 1] = rng.uniform(0.25, 0.35)
        day += rng.randint(4, 6)
    return rounds


def _simulate_district(
    seed: int, district_id: str, profile: DistrictProfile, curve: list[float], rounds: dict[int, float]
) -> list[dict[str, int]]:
    rng = stream(seed, "districts", district_id)
    zones = [
        Zone(0, profile.initial_sealed_days_left - 1, 1, 2, 4, profile.initial_sealed_days_left + 1)
        for _ in range(profile.initial_sealed_zones)
    ]
    cumulative_confirmed = round(150 * profile.outbreak_weight) + rng.randint(0, 5)
    cumulative_positives = cumulative_confirmed + round(60 * profile.outbreak_weight) + rng.randint(0, 3)
    home_isolation = profile.population // rng.randint(1500, 2500)
    rows: list[dict[str, int]] = []
    for t, city_mean in enumerate(curve):
        positives = poisson(rng, city_mean * profile.outbreak_weight)
        confirmed = binomial(rng, positives, 0.45)
        cumulative_confirmed += confirmed
        cumulative_positives += positives
        for _ in range(positives):
            if rng.random() < 0.6:
                last = t + rng.randint(9, 13)
                zones.append(Zone(t, last, 1, rng.randint(1, 3), rng.randint(2, 5), last + rng.randint(0, 4)))
        close_contacts = sum(rng.randint(6, 40) for _ in range(positives)) + poisson(
            rng, profile.population / 400_000
        )
        transferred = (
            close_contacts if close_contacts <= 3 else round(close_contacts * rng.uniform(0.75, 1.0))
        )
        if t == 0 and profile.initial_sealed_zones and district_id == "140105":
            # 慕思酒店: "将16名密接人员全部火速转运集中隔离"
            close_contacts = max(close_contacts, SEED_FIRST_DAY_TRANSFERRED)
            transferred = SEED_FIRST_DAY_TRANSFERRED
        releases = round(home_isolation * rng.uniform(0.06, 0.1))
        returnees = poisson(rng, profile.population / 25_000)
        home_isolation = max(0, home_isolation - releases + (close_contacts - transferred) + returnees)
        active = [z for z in zones if z.first_day <= t <= z.last_day]
        sealed = sum(z.sealed for z in active)
        coverage = rounds.get(t, rng.uniform(0.02, 0.05)) * rng.uniform(0.93, 1.05)
        if sealed:
            coverage += rng.uniform(0.01, 0.03)
        off_duty = rng.randint(0, 3) if sealed else rng.randint(0, max(1, profile.grid_workers // 25))
        volunteer_factor = (1.35 if t in rounds else 1.0) * (1 + 0.05 * min(sealed, 10))
        rows.append(
            {
                "new_positives": positives,
                "new_confirmed": confirmed,
                "new_asymptomatic": positives - confirmed,
                "cumulative_confirmed": cumulative_confirmed,
                "cumulative_positives": cumulative_positives,
                "sealed_zones": sealed,
                "controlled_zones": sum(z.controlled for z in active),
                "precaution_zones": sum(
                    z.precaution for z in zones if z.first_day <= t <= z.precaution_last_day
                ),
                "close_contacts_identified": close_contacts,
                "transferred_to_isolation": transferred,
                "home_isolation": home_isolation,
                "samples_collected": round(profile.population * coverage),
                "grid_workers_on_duty": profile.grid_workers - off_duty,
                "volunteers": round(profile.volunteers * volunteer_factor * rng.uniform(0.95, 1.05)),
            }
        )
    return rows


def simulate_truth(roster: DistrictRoster, *, seed: int, start: date, days: int) -> DistrictTruth:
    values: dict[tuple[str, int], dict[str, int]] = {}
    city_rounds: dict[str, dict[int, float]] = {}
    for city in simulated_cities(roster):
        curve = _outbreak_curve(seed, days, city.district_id)
        rounds = city_rounds[city.district_id] = _sampling_rounds(seed, days, city.district_id)
        districts = roster.districts_of(city.district_id)
        for district in districts:
            profile = DISTRICT_PROFILES.get(district.district_id)
            if profile is None:
                raise RuntimeError(
                    f"epifeeds_sim has no profile for district {district.district_id} "
                    f"({district.district_name}) from the roster seed: add one to sim/reference.py"
                )
            for t, row in enumerate(_simulate_district(seed, district.district_id, profile, curve, rounds)):
                values[(district.district_id, t)] = row
        for t in range(days):
            values[(city.district_id, t)] = {
                m: sum(values[(d.district_id, t)][m] for d in districts) for m in MEASURES
            }
    return DistrictTruth(
        start=start,
        days=days,
        values=values,
        round_days=city_rounds.get(CITY_ID, {}),
        city_round_days=city_rounds,
    )


# ----------------------------------------------------------------------------------- published plan


@dataclass
class ReportPlan:
    """What one reporter publishes for one day: possibly nothing, twice, or in two versions."""

    district_id: str | None
    spelled: str
    report_date: date
    values: dict[str, int]
    submitted_at: datetime
    available_at: datetime
    is_missing: bool = False
    copies: int = 1
    report_date_text: str | None = None  # a wrong date written into the item (V1)
    earlier_values: dict[str, int] | None = None  # first version of a resubmitted report (H1)
    earlier_submitted_at: datetime | None = None


@dataclass
class DistrictFeedPlan:
    truth: DistrictTruth
    reports: dict[tuple[str, int], ReportPlan]
    extras: dict[tuple[str, int], list[ReportPlan]] = field(default_factory=dict)  # (city, day) -> unknowns
    fault_slots: set[tuple[str, int]] = field(default_factory=set)  # (district_id, day index) with a fault


def _normal_plans(
    roster: DistrictRoster, truth: DistrictTruth, seed: int
) -> dict[tuple[str, int], ReportPlan]:
    rng = stream(seed, "districts", "timing")
    plans: dict[tuple[str, int], ReportPlan] = {}
    cities = simulated_cities(roster)
    for t in range(truth.days):
        day = truth.day(t)
        for district in (d for c in cities for d in (*roster.districts_of(c.district_id), c)):
            if district.district_level == "city":
                minutes = 9 * 60 + 15 + rng.randint(0, 35)
            else:
                minutes = 7 * 60 + rng.randint(0, 110)
            moment = local_moment(day + timedelta(days=1), minutes, rng.randint(0, 59))
            plans[(district.district_id, t)] = ReportPlan(
                district_id=district.district_id,
                spelled=district.district_name,
                report_date=day,
                values=dict(truth.values[(district.district_id, t)]),
                submitted_at=moment,
                available_at=moment,
            )
    return plans


def deadline_at(report_date: date, *, is_city: bool = False) -> datetime:
    minutes = CITY_DEADLINE_MINUTES if is_city else DISTRICT_DEADLINE_MINUTES
    return local_moment(report_date + timedelta(days=1), minutes)


Slot = tuple[str, int]  # (reporter id, day index)


def _anything(slot: Slot) -> bool:
    return True


class SlotPicker:
    """Hands out (reporter, day) slots so that no two faults touch one reporter on neighbouring days.

    When a short run leaves no such slot, it settles for any unused one; when none is left, None. With
    `group` (reporter -> its city), it prefers the cities with the fewest faults so far: at province
    scale the faults spread over the cities (with one city, the choice is the same as without).
    """

    def __init__(
        self,
        rng: random.Random,
        reporter_ids: list[str],
        days: int,
        group: Callable[[str], str] | None = None,
    ) -> None:
        self.rng = rng
        self.reporter_ids = reporter_ids
        self.days = days
        self.group = group
        self.used: set[Slot] = set()

    def least_used_groups(self, pool: list[Slot]) -> list[Slot]:
        """The slots of `pool` in the groups (cities) with the fewest used slots so far."""
        if self.group is None:
            return pool
        group = self.group
        counts: dict[str, int] = {}
        for reporter_id, _ in self.used:
            counts[group(reporter_id)] = counts.get(group(reporter_id), 0) + 1
        fewest = min(counts.get(group(r), 0) for r, _ in pool)
        return [s for s in pool if counts.get(group(s[0]), 0) == fewest]

    def _free(self, slot: Slot, *, strict: bool) -> bool:
        reporter_id, t = slot
        neighbours = ((reporter_id, t - 1), slot, (reporter_id, t + 1)) if strict else (slot,)
        return not any(n in self.used for n in neighbours)

    def take(
        self, accept: Callable[[Slot], bool] = _anything, prefer: Callable[[Slot], bool] = _anything
    ) -> Slot | None:
        slots = [(r, t) for t in range(self.days) for r in self.reporter_ids if accept((r, t))]
        for strict in (True, False):
            free = [s for s in slots if self._free(s, strict=strict)]
            preferred = [s for s in free if prefer(s)]
            pool = preferred or free
            if pool:
                slot = self.rng.choice(self.least_used_groups(pool))
                self.used.add(slot)
                return slot
        return None


def plan_district_feed(
    roster: DistrictRoster, truth: DistrictTruth, *, seed: int, fault_profile: str, ground_truth: GroundTruth
) -> DistrictFeedPlan:
    plans = _normal_plans(roster, truth, seed)
    plan = DistrictFeedPlan(truth=truth, reports=plans)
    if fault_profile == "none":
        return plan
    rng = stream(seed, "districts", "faults")
    cities = simulated_cities(roster)
    district_ids = [d.district_id for c in cities for d in roster.districts_of(c.district_id)]
    picker = SlotPicker(rng, district_ids, truth.days, group=city_of)
    plan.fault_slots = picker.used  # the other feeds keep their faults off these slots
    names = {d.district_id: d.district_name for d in roster.districts}
    r1_slots: set[tuple[str, int]] = set()  # (city, day)s whose R1 is already explained by a district fault

    def fault(kind: str, rule: str | None, slot: tuple[str, int], **kwargs: Any) -> PlantedFault:
        district_id, t = slot
        return ground_truth.add(
            PlantedFault(
                kind=kind,
                rule=rule,
                feed=FEED,
                reporter=district_id,
                reporter_name=plans[slot].spelled,
                report_date=truth.day(t).isoformat(),
                file=f"{FEED_DIR}/{truth.day(t).isoformat()}.json",
                **kwargs,
            )
        )

    def r1(slot: tuple[str, int], fields: list[str]) -> list[dict[str, Any]]:
        """The city reconciliation a district fault breaks on its day (none if the fields change no sum)."""
        city_id, t = city_of(slot[0]), slot[1]
        r1_slots.add((city_id, t))
        if not fields:
            return []
        return [
            {"rule": "R1", "reporter": city_id, "report_date": truth.day(t).isoformat(), "fields": fields}
        ]

    def nonzero(values: dict[str, int]) -> list[str]:
        return [m for m in MEASURES if values[m] != 0]

    def fresh_day(slot: tuple[str, int]) -> bool:
        """Faults breaking a city's R1 go to different days where possible, so they cannot cancel out."""
        return (city_of(slot[0]), slot[1]) not in r1_slots

    # --- default profile -------------------------------------------------------------------------
    jinyuan = "140110"
    missing_day = 2 if truth.days >= 3 else truth.days - 1
    slot = (jinyuan, missing_day)
    picker.used.add(slot)
    plans[slot].is_missing = True
    fault(
        "missing_report",
        "C1",
        slot,
        values=dict(plans[slot].values),
        consequences=r1(slot, nonzero(plans[slot].values)),
        detail=(
            f"{names[jinyuan]} never delivers its report for {truth.day(missing_day)}; the city bulletin "
            "still includes its figures (listed in values), so R1 fails that day for every non-zero measure"
        ),
    )

    slot = picker.take(prefer=lambda s: fresh_day(s) and plans[s].values["new_positives"] > 0)
    if slot:
        report = plans[slot]
        true_value = report.values["new_asymptomatic"]
        report.values["new_asymptomatic"] = true_value + rng.randint(1, 3)
        fault(
            "positives_inconsistency",
            "V2",
            slot,
            values={m: report.values[m] for m in ("new_positives", "new_confirmed", "new_asymptomatic")},
            expected={"new_asymptomatic": true_value},
            consequences=r1(slot, ["new_asymptomatic"]),
            detail="new_positives != new_confirmed + new_asymptomatic (new_asymptomatic mistyped)",
        )

    slot = picker.take()
    if slot:
        report = plans[slot]
        late = local_moment(report.report_date + timedelta(days=1), 10 * 60 + rng.randint(25, 300), 0)
        report.submitted_at = report.available_at = late
        fault(
            "late_report",
            "C1",
            slot,
            values={"submitted_at": iso_utc(late), "available_at": iso_utc(late)},
            expected={
                "deadline_at": iso_utc(deadline_at(report.report_date)),
                "grace_ends_at": iso_utc(deadline_at(report.report_date) + timedelta(minutes=GRACE_MINUTES)),
            },
            # Until it arrives the city bulletin (which counts it) exceeds the districts' sum.
            consequences=[
                {
                    "rule": "R1",
                    "reporter": city_of(slot[0]),
                    "report_date": report.report_date.isoformat(),
                    "fields": nonzero(report.values),
                    "only_before": iso_utc(late),
                }
            ],
            detail="delivered after the D+1 09:00 deadline and its 60-minute grace: late (warn); an "
            "as_of before available_at does not see it (missing until then, resolved when it arrives)",
        )

    slot = picker.take()
    if slot:
        report = plans[slot]
        canonical = report.spelled
        report.spelled = rng.choice(alias_spellings(slot[0], canonical))
        fault(
            "alias_spelling",
            None,
            slot,
            values={"district": report.spelled},
            expected={"district": canonical},
            detail="not a fault: a known alias the platform must resolve through the alias table",
        )

    if fault_profile == "default":
        _settle_r1_consequences(plan, roster, ground_truth)
        return plan

    # --- all profile -----------------------------------------------------------------------------
    slot = picker.take(prefer=fresh_day)
    if slot:
        report = plans[slot]
        before = dict(report.values)
        before["samples_collected"] = round(before["samples_collected"] * (1 - rng.uniform(0.05, 0.15)))
        cut = min(rng.randint(2, 6), before["close_contacts_identified"] - before["transferred_to_isolation"])
        before["close_contacts_identified"] -= cut
        changed = [m for m in MEASURES if before[m] != report.values[m]]
        report.earlier_values = before
        report.earlier_submitted_at = report.submitted_at
        revised = local_moment(report.report_date + timedelta(days=1), 14 * 60 + rng.randint(0, 180), 0)
        report.submitted_at = report.available_at = revised
        fault(
            "revised_report",
            "H1",
            slot,
            values={
                "before": {m: before[m] for m in changed},
                "after": {m: report.values[m] for m in changed},
                "before_available_at": iso_utc(report.earlier_submitted_at),
                "after_available_at": iso_utc(revised),
            },
            consequences=[{**c, "only_before": iso_utc(revised)} for c in r1(slot, changed)],
            detail="a second version with changed numbers; the first stays visible until the second "
            "arrives; the city bulletin matches the second",
        )

    slot = picker.take(prefer=fresh_day)
    if slot:
        report = plans[slot]
        true_value = report.values["volunteers"]
        report.values["volunteers"] = -true_value
        fault(
            "negative_value",
            "V1",
            slot,
            values={"volunteers": -true_value},
            expected={"volunteers": true_value},
            consequences=r1(slot, ["volunteers"]),
            detail="a count published with a minus sign",
        )

    slot = picker.take(prefer=fresh_day)
    if slot:
        report = plans[slot]
        wrong = report.report_date.replace(year=report.report_date.year + 1)
        report.report_date_text = wrong.isoformat()
        fault(
            "future_report_date",
            "V1",
            slot,
            values={"report_date": wrong.isoformat()},
            expected={"report_date": report.report_date.isoformat()},
            consequences=[
                {"rule": "C1", "reporter": slot[0], "report_date": report.report_date.isoformat()},
                *r1(slot, nonzero(report.values)),
            ],
            detail="the item sits in the day's file but carries a report_date a year ahead (a typo): "
            "rejected as a future date, which leaves the district without a valid report that day",
        )

    slot = picker.take()
    if slot:
        plans[slot].copies = 2
        fault(
            "duplicate_rows",
            "I1",
            slot,
            values={"copies": 2},
            expected={"copies": 1},
            detail="the same item delivered twice, byte for byte, in the same response",
        )

    slot = picker.take(
        accept=lambda s: (
            s[1] >= 1
            and not plans[(s[0], s[1] - 1)].is_missing
            and plans[(s[0], s[1] - 1)].values["cumulative_confirmed"] > 0
        )
    )
    if slot:
        district_id, t = slot
        report = plans[slot]
        previous = plans[(district_id, t - 1)].values["cumulative_confirmed"]
        true_value = report.values["cumulative_confirmed"]
        report.values["cumulative_confirmed"] = max(0, previous - rng.randint(1, 3))
        consequences = [
            {"rule": "I5", "reporter": district_id, "report_date": truth.day(t).isoformat()},
            *r1(slot, ["cumulative_confirmed"]),
        ]
        if t + 1 < truth.days:
            consequences.insert(
                1, {"rule": "I5", "reporter": district_id, "report_date": truth.day(t + 1).isoformat()}
            )
        fault(
            "cumulative_decrease",
            "I2",
            slot,
            values={
                "cumulative_confirmed": report.values["cumulative_confirmed"],
                "previous_value": previous,
            },
            expected={"cumulative_confirmed": true_value},
            consequences=consequences,
            detail="cumulative_confirmed falls below the previous day's value",
        )

    t = rng.randrange(truth.days)
    day = truth.day(t)
    gx_rng = stream(seed, "districts", "unknown-reporter")
    positives = poisson(gx_rng, 1.5)
    confirmed = binomial(gx_rng, positives, 0.45)
    unknown_values = {
        "new_positives": positives,
        "new_confirmed": confirmed,
        "new_asymptomatic": positives - confirmed,
        "cumulative_confirmed": 12 + confirmed,
        "cumulative_positives": 17 + positives,
        "sealed_zones": gx_rng.randint(0, 2),
        "controlled_zones": gx_rng.randint(0, 4),
        "precaution_zones": gx_rng.randint(0, 8),
        "close_contacts_identified": gx_rng.randint(0, 40),
        "transferred_to_isolation": 0,
        "home_isolation": gx_rng.randint(20, 120),
        "samples_collected": gx_rng.randint(8_000, 30_000),
        "grid_workers_on_duty": gx_rng.randint(60, 120),
        "volunteers": gx_rng.randint(80, 200),
    }
    unknown_values["transferred_to_isolation"] = unknown_values["close_contacts_identified"] // 2
    moment = local_moment(day + timedelta(days=1), 8 * 60 + gx_rng.randint(0, 50), gx_rng.randint(0, 59))
    gx_city = cities[0].district_id  # the city whose file block carries it (any, at province scale)
    if len(cities) > 1:
        gx_city = stream(seed, "districts", "unknown-reporter", "city").choice(cities).district_id
    plan.extras.setdefault((gx_city, t), []).append(
        ReportPlan(None, UNKNOWN_REPORTER_NAME, day, unknown_values, moment, moment)
    )
    ground_truth.add(
        PlantedFault(
            kind="unknown_reporter",
            rule="V1",
            feed=FEED,
            reporter=None,
            reporter_name=UNKNOWN_REPORTER_NAME,
            report_date=day.isoformat(),
            values=unknown_values,
            detail="高新区 is a development zone, not a district of the roster: reject with a reason; "
            "its figures are not part of the city bulletin",
            file=f"{FEED_DIR}/{day.isoformat()}.json",
        )
    )

    city_slots = [(c.district_id, t) for t in range(truth.days) for c in cities]
    quiet = [s for s in city_slots if s not in r1_slots]
    if len(cities) > 1 and quiet:  # a city with the fewest faults so far
        quiet = picker.least_used_groups(quiet)
    slot = rng.choice(quiet or city_slots)
    report = plans[slot]
    measure = rng.choice(["close_contacts_identified", "home_isolation", "samples_collected"])
    true_value = report.values[measure]
    bump = {"close_contacts_identified": rng.randint(5, 20), "home_isolation": rng.randint(10, 60)}.get(
        measure, max(1, round(true_value * rng.uniform(0.05, 0.1)))
    )
    report.values[measure] = true_value + bump
    if report.values[measure] == _published_sums(plan, roster, slot)[measure]:  # cancelled by a fault
        report.values[measure] += 1
    fault(
        "city_total_mismatch",
        "R1",
        slot,
        values={measure: report.values[measure]},
        expected={measure: true_value},
        detail=f"the city bulletin's {measure} differs from the sum of the district reports",
    )
    _plant_restated_cumulative(plan, picker, fault, seed)
    _settle_r1_consequences(plan, roster, ground_truth)
    return plan


def _plant_restated_cumulative(plan: DistrictFeedPlan, picker: SlotPicker, fault: Any, seed: int) -> None:
    """I5: from day t on, a district's cumulative_positives counts k more (a restated starting value, as
    real bulletins do when a definition changes) while its new positives do not; the city bulletin, the
    sum of its districts, restates with it. I5 breaks on day t only, for the district and for its city."""
    plans, truth = plan.reports, plan.truth

    def untouched(reporter: str, u: int) -> bool:
        report = plans.get((reporter, u))
        return (
            bool(report)
            and not report.is_missing
            and report.copies == 1
            and (report.earlier_values is None and report.report_date_text is None)
        )

    def clean_from(slot: tuple[str, int]) -> bool:
        district_id, t = slot
        return t >= 1 and all(
            untouched(r, u) for r in (district_id, city_of(district_id)) for u in range(t - 1, truth.days)
        )

    slot = picker.take(accept=lambda s: s[0] != city_of(s[0]) and clean_from(s))
    if not slot:
        return
    # Only I5 of the district and its city read cumulative_positives: the file feeds' faults may share
    # the slot, so the slot stays open to them (and their placement is as it was before this fault).
    picker.used.discard(slot)
    district_id, t = slot
    k = stream(seed, "districts", "restated-cumulative").randint(3, 9)
    before = plans[slot].values["cumulative_positives"]
    for reporter in (district_id, city_of(district_id)):
        for u in range(t, truth.days):
            plans[(reporter, u)].values["cumulative_positives"] += k
    previous = plans[(district_id, t - 1)].values["cumulative_positives"]
    fault(
        "restated_cumulative",
        "I5",
        slot,
        values={"cumulative_positives": before + k, "previous_value": previous,
                "new_positives": plans[slot].values["new_positives"]},
        expected={"cumulative_positives": before},
        consequences=[{"rule": "I5", "reporter": city_of(district_id), "report_date": truth.day(t).isoformat()}],
        detail=f"cumulative_positives grows by {k} more than the day's new positives, from this day on "
        "(the city bulletin restates with it)",
    )  # fmt: skip


def _published_sums(
    plan: DistrictFeedPlan,
    roster: DistrictRoster,
    city_slot: tuple[str, int],
    *,
    first_version_of: str | None = None,
) -> dict[str, int]:
    """Sum of a city's districts' valid published figures on a day: latest versions, or for one reporter
    what was visible before its last version arrived (its first version, or nothing for a late report)."""
    city_id, t = city_slot
    sums = dict.fromkeys(MEASURES, 0)
    for district in roster.districts_of(city_id):
        report = plan.reports[(district.district_id, t)]
        if report.is_missing or report.report_date_text is not None:
            continue  # nothing, or a row a validator rejects
        values = report.values
        if district.district_id == first_version_of:
            if report.earlier_values is None:
                continue  # before its (late) only version arrives, the reporter is absent from the sum
            values = report.earlier_values
        for m in MEASURES:
            sums[m] += values[m]
    return sums


def _settle_r1_consequences(
    plan: DistrictFeedPlan, roster: DistrictRoster, ground_truth: GroundTruth
) -> None:
    """Keep in each declared R1 consequence only the fields that really differ in the files.

    Two faults on one day can cancel out on a measure (a missing report of 1 asymptomatic case and a
    +1 typo elsewhere); faults are spread over different days to avoid it, and this makes it exact.
    """
    day_index = {plan.truth.day(t).isoformat(): t for t in range(plan.truth.days)}
    for fault in ground_truth.select(feed=FEED):
        settled = []
        for consequence in fault.consequences:
            if consequence["rule"] == "R1":
                city_slot = (consequence["reporter"], day_index[consequence["report_date"]])
                first = fault.reporter if "only_before" in consequence else None
                sums = _published_sums(plan, roster, city_slot, first_version_of=first)
                city = plan.reports[city_slot].values
                consequence["fields"] = [m for m in consequence["fields"] if city[m] != sums[m]]
                if not consequence["fields"]:
                    continue
            settled.append(consequence)
        fault.consequences = settled


# ------------------------------------------------------------------------------------------ writing


def _item(report: ReportPlan, values: dict[str, int], submitted_at: datetime) -> dict[str, Any]:
    """One item as stored: the agency's payload fields plus `available_at` (which the server strips)."""
    return {
        "district": report.spelled,
        "report_date": report.report_date_text or report.report_date.isoformat(),
        **{m: values[m] for m in MEASURES},
        "submitted_at": iso_utc(submitted_at),
        "available_at": iso_utc(submitted_at),
    }


def write_district_feed(out_dir: Path, roster: DistrictRoster, plan: DistrictFeedPlan) -> list[Path]:
    payload_fields()  # fail early, with a clear message, if the contract has moved on
    written = []
    for t in range(plan.truth.days):
        day = plan.truth.day(t)
        items: list[dict[str, Any]] = []
        for city_district in simulated_cities(roster):  # each city's districts, then the city bulletin
            for district in roster.districts_of(city_district.district_id):
                report = plan.reports[(district.district_id, t)]
                if report.is_missing:
                    continue
                if report.earlier_values is not None and report.earlier_submitted_at is not None:
                    items.append(_item(report, report.earlier_values, report.earlier_submitted_at))
                final = _item(report, report.values, report.available_at)
                items.extend(dict(final) for _ in range(report.copies))
            for extra in plan.extras.get((city_district.district_id, t), []):
                items.append(_item(extra, extra.values, extra.available_at))
            city = plan.reports[(city_district.district_id, t)]
            items.append(_item(city, city.values, city.available_at))
        path = out_dir / FEED_DIR / f"{day.isoformat()}.json"
        write_json(path, {"feed": FEED, "report_date": day.isoformat(), "items": items})
        written.append(path)
    return written


def feed_metadata(truth: DistrictTruth, roster: DistrictRoster | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "dir": FEED_DIR,
        "file_pattern": f"{FEED_DIR}/<report_date>.json",
        "report_dates": [truth.day(t).isoformat() for t in range(truth.days)],
        "deadline": {"district": "D+1 09:00", "city": "D+1 10:00", "grace_minutes": GRACE_MINUTES},
        "sampling_round_days": [truth.day(t).isoformat() for t in sorted(truth.round_days)],
    }
    if roster is not None and len(simulated_cities(roster)) > 1:  # province (city scale: as it always was)
        metadata["roster"] = ROSTER_FILE
        metadata["cities"] = {
            c.district_id: {
                "city_name": c.district_name,
                "districts": [d.district_id for d in roster.districts_of(c.district_id)],
                "sampling_round_days": [
                    truth.day(t).isoformat() for t in sorted(truth.city_round_days[c.district_id])
                ],
            }
            for c in simulated_cities(roster)
        }
    return metadata
