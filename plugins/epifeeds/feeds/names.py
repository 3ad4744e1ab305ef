"""Name normalisation and reporter resolution through the one alias table (dbt's seed)."""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
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

    def resolve(self, reported_name: str) -> str | None:
        """The district_id for a reported name, or None when no alias matches."""
        return self.aliases.get(normalise_label(reported_name))

    def by_id(self, district_id: str) -> District:
        return next(d for d in self.districts if d.district_id == district_id)

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


@cache
def load_district_roster(seeds_dir: Path = SEEDS_DIR) -> DistrictRoster:
    districts = tuple(District(**row) for row in _read_csv(seeds_dir / "districts.csv"))
    aliases = {normalise_label(d.district_name): d.district_id for d in districts}
    for row in _read_csv(seeds_dir / "district_aliases.csv"):
        aliases[normalise_label(row["district_alias"])] = row["district_id"]
    return DistrictRoster(districts=districts, aliases=aliases)
