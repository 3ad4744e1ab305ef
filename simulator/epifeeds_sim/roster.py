"""The simulation's own district roster: Taiyuan at city scale, all of Shanxi at province scale.

The platform's roster seed (`dbt_project/seeds/districts.csv` and `district_aliases.csv`) knows Taiyuan (and
Beijing) only, so every simulation writes the roster it used to `registries/districts.json`; a consumer
resolves the feeds' district names with it (canonical names and `aliases`, the spellings the feeds use).

    roster = simulation_roster("province")          # a DistrictRoster: 11 cities, 117 districts
    for city in simulated_cities(roster): roster.districts_of(city.district_id)
"""

from __future__ import annotations

import csv
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from epifeeds.feeds.names import SEEDS_DIR, District, DistrictRoster, load_district_roster, normalise_label
from epifeeds_sim.ground_truth import write_json
from epifeeds_sim.reference import CITY_ID, OFFICIAL_NAMES, PROVINCE_CITIES, PROVINCE_DISTRICTS

ROSTER_FILE = "registries/districts.json"
CITY_PROFILES = {c.city_id: c for c in PROVINCE_CITIES}


def is_province(scale: str) -> bool:
    return scale.startswith("province")


def simulated_cities(roster: DistrictRoster) -> tuple[District, ...]:
    """The roster's cities the simulator has figures for (a seed roster also lists Beijing: skipped)."""
    return tuple(c for c in roster.cities if c.district_id in CITY_PROFILES)


def simulated_districts(roster: DistrictRoster) -> tuple[District, ...]:
    """Every simulated district, city by city, each city's in roster order."""
    return tuple(d for city in simulated_cities(roster) for d in roster.districts_of(city.district_id))


def city_of(district_id: str) -> str:
    """A district's city by its code (a county-level code's first four digits, then 00): 140213 -> 140200."""
    return district_id[:4] + "00"


@cache
def _seed_spellings() -> dict[str, tuple[str, ...]]:
    """district_id -> the alias table's spellings (the roster seed's), in file order."""
    with (SEEDS_DIR / "district_aliases.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    spellings: dict[str, list[str]] = {}
    for row in rows:
        spellings.setdefault(row["district_id"], []).append(row["district_alias"])
    return {k: tuple(v) for k, v in spellings.items()}


def _generated_spellings(district: District, city: District) -> list[str]:
    """How agencies outside Taiyuan might spell a district: English, with the city in front, short."""
    official = OFFICIAL_NAMES.get(district.district_id, district.district_name)
    city_short = city.district_name.removesuffix("市")
    spellings = [
        district.district_name_en,
        f"{city.district_name}{official}",
        f"{city_short}{official}",
    ]
    if district.district_level == "city":
        spellings = [district.district_name_en, f"{district.district_name_en} City", city_short]
    elif district.district_id not in OFFICIAL_NAMES and len(district.district_name) >= 3:
        spellings.append(district.district_name[:-1])  # 平城区 -> 平城
    return spellings


@cache
def _province_roster() -> tuple[DistrictRoster, dict[str, tuple[str, ...]]]:
    seed = load_district_roster()
    districts: list[District] = [seed.city, *seed.reporting_districts]
    for profile in PROVINCE_CITIES:
        if profile.city_id == CITY_ID:
            continue
        city = District(profile.city_id, profile.city_name, profile.city_name_en, "city", "")
        districts.append(city)
        for district_id, name, name_en in PROVINCE_DISTRICTS[profile.city_id]:
            districts.append(District(district_id, name, name_en, "district", profile.city_id))
    by_id = {d.district_id: d for d in districts}
    candidates: dict[str, list[str]] = {}
    for district in districts:
        if district.district_id in _seed_spellings():
            candidates[district.district_id] = list(_seed_spellings()[district.district_id])
            continue
        city = district if district.district_level == "city" else by_id[district.parent_district_id]
        candidates[district.district_id] = _generated_spellings(district, city)
    # a spelling is an alias only if it names one reporter province-wide (平陆县 and 平鲁区 are both Pinglu)
    owners: dict[str, set[str]] = {}
    for district in districts:
        for spelling in [district.district_name, *candidates[district.district_id]]:
            owners.setdefault(normalise_label(spelling), set()).add(district.district_id)
    spellings = {
        district_id: tuple(
            dict.fromkeys(
                s
                for s in names
                if len(owners[normalise_label(s)]) == 1 and s != by_id[district_id].district_name
            )
        )
        for district_id, names in candidates.items()
    }
    aliases = {normalise_label(d.district_name): d.district_id for d in districts}
    for district_id, names in spellings.items():
        for spelling in names:
            aliases[normalise_label(spelling)] = district_id
    return DistrictRoster(districts=tuple(districts), aliases=aliases), spellings


def simulation_roster(scale: str) -> DistrictRoster:
    """Taiyuan and its ten districts (the roster seed's) at city scale; the 11 cities of Shanxi at province."""
    if is_province(scale):
        return _province_roster()[0]
    seed = load_district_roster()
    members = (seed.city, *seed.reporting_districts)
    ids = {d.district_id for d in members}
    return DistrictRoster(districts=members, aliases={k: v for k, v in seed.aliases.items() if v in ids})


def alias_spellings(district_id: str, canonical: str) -> list[str]:
    """The known aliases of a district other than `canonical`, sorted (a fault picks one to spell it by)."""
    if district_id in _seed_spellings():
        return sorted(set(_seed_spellings()[district_id]) - {canonical})
    return sorted(set(_province_roster()[1].get(district_id, ())) - {canonical})


def roster_items(roster: DistrictRoster) -> list[dict[str, Any]]:
    """The roster as `registries/districts.json` lists it: each city, then its districts."""
    spellings = _province_roster()[1]  # Taiyuan's are the alias table's, at either scale
    items = []
    for city in simulated_cities(roster):
        for district in (city, *roster.districts_of(city.district_id)):
            from_seed = district.district_id in _seed_spellings()
            items.append(
                {
                    "district_id": district.district_id,
                    "district_name": district.district_name,
                    "district_name_en": district.district_name_en,
                    "district_level": district.district_level,
                    "parent_district_id": district.parent_district_id or None,
                    "official_name": OFFICIAL_NAMES.get(district.district_id, district.district_name),
                    "aliases": list(spellings.get(district.district_id, ())),
                    "source": "roster_seed" if from_seed else "sim_reference",
                }
            )
    return items


def write_roster(out_dir: Path, roster: DistrictRoster, *, as_of: date) -> str:
    """Write `registries/districts.json` (cities, each followed by its districts); returns its path."""
    write_json(
        out_dir / ROSTER_FILE,
        {"registry": "districts", "as_of": as_of.isoformat(), "items": roster_items(roster)},
    )
    return ROSTER_FILE
