"""Name normalisation and reporter resolution through the one alias table (dbt's seed)."""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from epifeeds.settings import DBT_PROJECT_DIR

SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
# The city the API feed, the simulator and the demo serve: `city` and `reporting_districts` mean this one.
# Other cities on the roster (Beijing, from published bulletins) are reached with `cities`/`districts_of`.
DEFAULT_CITY_ID = "140100"


def normalise_label(text: str) -> str:
    """Fold full-width forms, case and white space, so 'Ｘiaodian  District' matches 'xiaodiandistrict'."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(folded.split())


@dataclass(frozen=True)
class District:
    district_id: str
    district_name: str
    district_name_en: str
    district_level: str  # "district" or "city"
    parent_district_id: str


@dataclass(frozen=True)
class DistrictRoster:
    districts: tuple[District, ...]
    aliases: dict[str, str]  # normalised alias -> district_id
    # Normalised names that could mean more than one district of a city (a short form shared by two):
    # never resolved, so a reject can say which districts they could be.
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def resolve(self, reported_name: str) -> str | None:
        """The district_id for a reported name, or None when no alias matches."""
        return self.aliases.get(normalise_label(reported_name))

    def by_id(self, district_id: str) -> District:
        return next(d for d in self.districts if d.district_id == district_id)

    def is_onboarded(self, city_id: str) -> bool:
        return any(d.district_id == city_id and d.district_level == "city" for d in self.districts)

    def scoped_to(self, city_id: str) -> DistrictRoster:
        """The roster as a bulletin of one city reads it: every district stays known by id, but names
        resolve only to that city and its districts, so 朝阳区 in a 长春 bulletin is 220104, not Beijing's
        110105. The national divisions add the short forms and city-prefixed names agencies write."""
        from epifeeds.feeds.divisions import city_short_form, load_national_roster

        members = {city_id} | {d.district_id for d in self.districts_of(city_id)}
        aliases = {alias: did for alias, did in self.aliases.items() if did in members}
        ambiguous: dict[str, tuple[str, ...]] = {}
        national = load_national_roster()
        if (city := national.by_code(city_id)) is not None:
            spellings, ambiguous = national.names_of_districts(city_id)
            for spelling, code in spellings.items():
                if code in members:
                    aliases.setdefault(spelling, code)
            for spelling in (city.name, city_short_form(city.name) or city.name, city.name_en):
                aliases.setdefault(normalise_label(spelling), city_id)
        for spelling in ambiguous:
            aliases.pop(spelling, None)
        for district in (d for d in self.districts if d.district_id in members):
            aliases[normalise_label(district.district_name)] = district.district_id  # full names always win
        return DistrictRoster(districts=self.districts, aliases=aliases, ambiguous=ambiguous)

    @property
    def reporting_districts(self) -> tuple[District, ...]:
        """The default city's (Taiyuan's) districts; see `districts_of` for any other city."""
        return self.districts_of(DEFAULT_CITY_ID)

    @property
    def city(self) -> District:
        """The default city (Taiyuan); see `cities` for every city on the roster."""
        return self.by_id(DEFAULT_CITY_ID)

    @property
    def cities(self) -> tuple[District, ...]:
        return tuple(d for d in self.districts if d.district_level == "city")

    def districts_of(self, city_id: str) -> tuple[District, ...]:
        """The districts (and counties) of one city, in roster order."""
        return tuple(
            d for d in self.districts if d.district_level == "district" and d.parent_district_id == city_id
        )

    def jurisdiction_of(self, district_id: str) -> str:
        """The city a reporter belongs to: its parent for a district, itself for a city."""
        district = self.by_id(district_id)
        return district.district_id if district.district_level == "city" else district.parent_district_id


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def load_district_roster(seeds_dir: Path | None = None) -> DistrictRoster:
    """The onboarded roster (districts.csv and district_aliases.csv in `seeds_dir`, default SEEDS_DIR).

    A name two onboarded cities share (朝阳区 of Beijing and of 长春) resolves to the one listed first;
    a bulletin resolves names within its own city (`DistrictRoster.scoped_to`)."""
    return _load_district_roster(Path(seeds_dir or SEEDS_DIR))


@cache
def _load_district_roster(seeds_dir: Path) -> DistrictRoster:
    districts = tuple(District(**row) for row in _read_csv(seeds_dir / "districts.csv"))
    aliases: dict[str, str] = {}
    for d in districts:
        aliases.setdefault(normalise_label(d.district_name), d.district_id)
    for row in _read_csv(seeds_dir / "district_aliases.csv"):
        aliases.setdefault(normalise_label(row["district_alias"]), row["district_id"])
    return DistrictRoster(districts=districts, aliases=aliases)


def reload_district_roster() -> None:
    """Forget the cached roster, after onboarding changed the seed files."""
    _load_district_roster.cache_clear()
