"""Registries the agencies publish: streets and communities, testing sites, isolation hotels (JSON).

Each registry is a snapshot as of the simulation's last day, with the dates a reporter opened/closed (a
site) or was requisitioned/released (a hotel), so completeness checks know who had to report when.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from epifeeds.feeds.names import DistrictRoster
from epifeeds_sim.ground_truth import write_json
from epifeeds_sim.randomness import stream
from epifeeds_sim.reference import (
    CITY_ID,
    COMMUNITY_SUFFIXES,
    DISTRICT_PROFILES,
    HOTEL_PREFIXES,
    HOTEL_SUFFIXES,
    NAME_PREFIXES,
    PROVINCE_HOTEL_PREFIXES,
    SEED_HOTELS,
    SEED_STREETS,
    VILLAGE_SUFFIXES,
)
from epifeeds_sim.roster import is_province, simulated_cities, simulated_districts

REGISTRY_DIR = "registries"
# ≈5,000 sites city-wide at city scale, ≈50,000 province-wide (villages add sites: fewer people per site)
PEOPLE_PER_SITE = {"city": 1_090, "small": 10_900, "province": 700, "province-small": 7_000}
HOTELS_PER_CITY = {"city": 100, "small": 40, "province": 1_000, "province-small": 300}  # whole roster
SEED_HOTELS_REQUISITIONED_ON = date(2022, 2, 23)  # the night 慕思酒店 was sealed


@dataclass
class Community:
    community_id: str
    community_name: str


@dataclass
class Street:
    street_id: str
    street_name: str
    district_id: str
    is_from_seed: bool
    communities: list[Community] = field(default_factory=list)


@dataclass
class TestingSite:
    site_id: str
    site_name: str
    district_id: str
    district_name: str
    street_id: str
    street_name: str
    community_name: str
    opened_on: date
    closed_on: date | None  # first day the site no longer operates
    throughput_weight: float  # its share of the district's sampling, relative to other sites

    def is_active(self, day: date) -> bool:
        return self.opened_on <= day and (self.closed_on is None or day < self.closed_on)


@dataclass
class IsolationHotel:
    hotel_id: str
    hotel_name: str
    district_id: str
    district_name: str
    street_name: str
    rooms: int
    capacity: int  # guests: single rooms plus some family rooms for two
    staff: int
    requisitioned_from: date
    requisitioned_to: date | None  # first day no longer used; None: still in use
    report_format: str  # "xlsx" or "json"

    def is_active(self, day: date) -> bool:
        return self.requisitioned_from <= day and (
            self.requisitioned_to is None or day < self.requisitioned_to
        )


@dataclass
class Registries:
    streets: list[Street]
    sites: list[TestingSite]
    hotels: list[IsolationHotel]


def _unique_name(rng: random.Random, taken: set[str], make: Any) -> str:
    for _ in range(500):
        name = make(rng)
        if name not in taken:
            taken.add(name)
            return name
    raise RuntimeError("epifeeds_sim ran out of generated names: extend the syllables in sim/reference.py")


def build_streets(roster: DistrictRoster, seed: int) -> list[Street]:
    streets: list[Street] = []
    for district in simulated_districts(roster):
        rng = stream(seed, "registry", "streets", district.district_id)
        profile = DISTRICT_PROFILES[district.district_id]
        seeded = SEED_STREETS.get(district.district_id, {})
        count = max(len(seeded), rng.randint(8, 14) if profile.is_urban else rng.randint(6, 10))
        taken_streets: set[str] = set(seeded)
        taken_communities: set[str] = {c for cs in seeded.values() for c in cs}
        names = list(seeded)
        while len(names) < count:
            suffix = "街道" if profile.is_urban else rng.choice(("镇", "镇", "乡"))
            names.append(_unique_name(rng, taken_streets, lambda r, s=suffix: r.choice(NAME_PREFIXES) + s))
        for n, name in enumerate(names, start=1):
            street = Street(f"{district.district_id}{n:03d}", name, district.district_id, name in seeded)
            community_names = list(seeded.get(name, ()))
            target = rng.randint(5, 12)
            suffixes = COMMUNITY_SUFFIXES if profile.is_urban else VILLAGE_SUFFIXES
            while len(community_names) < target:
                community_names.append(
                    _unique_name(
                        rng, taken_communities, lambda r, s=suffixes: r.choice(NAME_PREFIXES) + r.choice(s)
                    )
                )
            street.communities = [
                Community(f"{street.street_id}{m:03d}", c) for m, c in enumerate(community_names, start=1)
            ]
            streets.append(street)
    return streets


def build_sites(
    roster: DistrictRoster, streets: list[Street], *, seed: int, start: date, days: int, scale: str
) -> list[TestingSite]:
    sites: list[TestingSite] = []
    streets_of: dict[str, list[Street]] = {}
    for street in streets:
        streets_of.setdefault(street.district_id, []).append(street)
    for district in simulated_districts(roster):
        rng = stream(seed, "registry", "sites", district.district_id)
        profile = DISTRICT_PROFILES[district.district_id]
        own = streets_of[district.district_id]
        places = [(s, c) for s in own for c in s.communities]
        per_community: dict[str, int] = {}
        count = max(3, round(profile.population / PEOPLE_PER_SITE[scale]))
        for n in range(1, count + 1):
            street, community = places[(n - 1) % len(places)] if n <= len(places) else rng.choice(places)
            per_community[community.community_id] = per_community.get(community.community_id, 0) + 1
            roll = rng.random()
            opened_on, closed_on = start - timedelta(days=rng.randint(10, 90)), None
            if roll < 0.03:
                opened_on = start - timedelta(days=rng.randint(60, 120))
                closed_on = start - timedelta(days=rng.randint(1, 30))
            elif roll < 0.05 and days > 1:
                opened_on = start + timedelta(days=rng.randint(1, days - 1))
            elif roll < 0.07 and days > 1:
                closed_on = start + timedelta(days=rng.randint(1, days - 1))
            if n == 1:  # every district has a site that works throughout
                opened_on, closed_on = start - timedelta(days=30), None
            sites.append(
                TestingSite(
                    site_id=f"TS{district.district_id}{n:04d}",
                    site_name=f"{community.community_name}{per_community[community.community_id]}号核酸采样点",
                    district_id=district.district_id,
                    district_name=district.district_name,
                    street_id=street.street_id,
                    street_name=street.street_name,
                    community_name=community.community_name,
                    opened_on=opened_on,
                    closed_on=closed_on,
                    throughput_weight=round(rng.uniform(0.4, 1.6), 3),
                )
            )
    return sites


def build_hotels(
    roster: DistrictRoster, streets: list[Street], *, seed: int, start: date, days: int, scale: str
) -> list[IsolationHotel]:
    population = sum(DISTRICT_PROFILES[d.district_id].population for d in simulated_districts(roster))
    prefixes = HOTEL_PREFIXES + PROVINCE_HOTEL_PREFIXES if is_province(scale) else HOTEL_PREFIXES
    streets_of: dict[str, list[Street]] = {}
    for street in streets:
        streets_of.setdefault(street.district_id, []).append(street)
    hotels: list[IsolationHotel] = []
    for city in simulated_cities(roster):
        # Taiyuan keeps the stream it had before the province existed: same seed, same city-scale hotels
        is_taiyuan = city.district_id == CITY_ID
        rng = stream(seed, "registry", "hotels", *([] if is_taiyuan else [city.district_id]))
        taken = {name for name, *_ in SEED_HOTELS}
        for index, district in enumerate(roster.districts_of(city.district_id)):
            profile = DISTRICT_PROFILES[district.district_id]
            own_streets = streets_of[district.district_id]
            seeded = [h for h in SEED_HOTELS if h[1] == district.district_id]
            count = max(2, round(HOTELS_PER_CITY[scale] * profile.population / population))
            for n in range(1, count + 1):
                if n <= len(seeded):
                    name, _, street_name, rooms = seeded[n - 1]
                    requisitioned_from = min(SEED_HOTELS_REQUISITIONED_ON, start)
                    report_format, requisitioned_to = "xlsx", None
                else:
                    name = _unique_name(rng, taken, lambda r: r.choice(prefixes) + r.choice(HOTEL_SUFFIXES))
                    street_name = rng.choice(own_streets).street_name
                    rooms = rng.randint(40, 160)
                    report_format = "json" if rng.random() < 0.2 else "xlsx"
                    roll = rng.random()
                    requisitioned_from, requisitioned_to = start - timedelta(days=rng.randint(3, 30)), None
                    if roll < 0.05:
                        requisitioned_from = start - timedelta(days=rng.randint(40, 60))
                        requisitioned_to = start - timedelta(days=rng.randint(1, 20))
                    elif roll < 0.10 and days > 1:
                        requisitioned_from = start + timedelta(days=rng.randint(1, days - 1))
                    if not is_taiyuan and index == 0 and n == 1:
                        # in use throughout: every city has somewhere to send its close contacts
                        requisitioned_from, requisitioned_to = start - timedelta(days=14), None
                hotels.append(
                    IsolationHotel(
                        hotel_id=f"H{district.district_id}{n:03d}",
                        hotel_name=name,
                        district_id=district.district_id,
                        district_name=district.district_name,
                        street_name=street_name,
                        rooms=rooms,
                        capacity=rooms + rooms // 4,
                        staff=rooms // 6 + rng.randint(5, 12),
                        requisitioned_from=requisitioned_from,
                        requisitioned_to=requisitioned_to,
                        report_format=report_format,
                    )
                )
    return hotels


def build_registries(roster: DistrictRoster, *, seed: int, start: date, days: int, scale: str) -> Registries:
    streets = build_streets(roster, seed)
    return Registries(
        streets=streets,
        sites=build_sites(roster, streets, seed=seed, start=start, days=days, scale=scale),
        hotels=build_hotels(roster, streets, seed=seed, start=start, days=days, scale=scale),
    )


def _jsonable(record: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(record).items()}


def write_registries(out_dir: Path, registries: Registries, *, as_of: date) -> dict[str, str]:
    """Write the three registries; returns registry name -> path relative to out_dir."""
    streets = [_jsonable(street) for street in registries.streets]
    sites = []
    for site in registries.sites:
        record = {**_jsonable(site), "status": "open" if site.is_active(as_of) else "closed"}
        record.pop("throughput_weight")
        sites.append(record)
    hotels = []
    for hotel in registries.hotels:
        status = "requisitioned" if hotel.is_active(as_of) else "released"
        hotels.append({**_jsonable(hotel), "status": status})
    paths = {
        "streets": f"{REGISTRY_DIR}/streets.json",
        "testing_sites": f"{REGISTRY_DIR}/testing_sites.json",
        "isolation_hotels": f"{REGISTRY_DIR}/isolation_hotels.json",
    }
    for registry, items in (("streets", streets), ("testing_sites", sites), ("isolation_hotels", hotels)):
        write_json(
            out_dir / paths[registry], {"registry": registry, "as_of": as_of.isoformat(), "items": items}
        )
    return paths
