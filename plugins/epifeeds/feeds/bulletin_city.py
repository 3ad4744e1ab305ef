"""Which city a published wide bulletin is for, and the roster its column groups are read with.

The city is the one whose districts the column groups name (the onboarded roster first, then the national
roster: any Chinese city reads without hand edits), or the one named with --city; names then resolve only
within that city, short forms included. A column group that is no district of the city gets its reason.
"""

from __future__ import annotations

from collections import defaultdict

from epifeeds.feeds.divisions import load_national_roster
from epifeeds.feeds.names import District, DistrictRoster, normalise_label
from epifeeds.feeds.parsing import UnreadablePayload


class UnreadableBulletin(UnreadablePayload):
    """The file cannot be read as a wide bulletin (encoding, no date column, a row without a date,
    no recognisable city): nothing from it is landed; the message says what to fix."""


def _national_district(code: str, name: str, name_en: str, parent: str, level: str) -> District:
    return District(code, name, name_en, level, parent)


def city_roster(roster: DistrictRoster, city_id: str) -> DistrictRoster:
    """The roster a bulletin of this city is read with: the onboarded roster, plus the city and its
    districts from the national roster when it is not onboarded yet; names scoped to the city."""
    if not roster.is_onboarded(city_id):
        national = load_national_roster()
        city = national.by_code(city_id)
        added = [_national_district(city.code, city.name, city.name_en, "", "city")]
        added += [
            _national_district(d.code, d.name, d.name_en, city.code, "district")
            for d in national.districts_of(city.code)
        ]
        roster = DistrictRoster(districts=(*roster.districts, *added), aliases=roster.aliases)
    return roster.scoped_to(city_id)


def infer_city(roster: DistrictRoster, names: list[str]) -> str:
    """The city whose districts the column groups name: most names resolved within it, uniquely."""
    national = load_national_roster()
    scores: dict[str, int] = defaultdict(int)
    for city_id in {d.district_id for d in roster.cities} | {c.code for c in national.cities}:
        aliases = _spellings(roster, city_id)
        scores[city_id] = sum(normalise_label(name) in aliases for name in names)
    best = max(scores.values(), default=0)
    winners = sorted(city for city, score in scores.items() if score == best)
    if len(winners) > 1 and len(onboarded := [c for c in winners if roster.is_onboarded(c)]) == 1:
        winners = onboarded  # 朝阳区 alone: the onboarded Beijing, not 长春 from the national roster
    if best == 0 or len(winners) != 1:
        found = ", ".join(winners[:5]) if best else "none"
        raise UnreadableBulletin(
            f"cannot tell which city the bulletin is for from its district columns (cities matching"
            f" {best} of {len(names)} names: {found}); name it with --city (e.g. --city 北京市)"
        )
    return winners[0]


def _spellings(roster: DistrictRoster, city_id: str) -> set[str]:
    national = load_national_roster()
    spellings = set()
    if roster.is_onboarded(city_id):
        members = {city_id} | {d.district_id for d in roster.districts_of(city_id)}
        spellings |= {alias for alias, did in roster.aliases.items() if did in members and did != city_id}
    if national.by_code(city_id) is not None:
        spellings |= set(national.names_of_districts(city_id)[0])
    return spellings


def chosen_city(roster: DistrictRoster, city: str) -> str:
    city_id = roster.resolve(city)
    if city_id is not None and roster.by_id(city_id).district_level == "city":
        return city_id
    found = load_national_roster().find_city(city)
    if found is None:
        raise UnreadableBulletin(
            f"--city {city!r} is not a city on the roster nor a prefecture-level city or municipality of"
            " the national roster; give its name (成都市, 成都) or code (510100)"
        )
    return found.code


def why_unmatched(roster: DistrictRoster, scoped: DistrictRoster, city: District, name: str) -> str:
    key = normalise_label(name)
    if key in scoped.ambiguous:
        could_be = ", ".join(f"{scoped.by_id(c).district_name} ({c})" for c in scoped.ambiguous[key])
        return f"unknown district {name!r}: ambiguous within {city.district_name}, could be {could_be}"
    elsewhere = roster.resolve(name)
    if elsewhere is not None and roster.jurisdiction_of(elsewhere) != city.district_id:
        other = roster.by_id(roster.jurisdiction_of(elsewhere)).district_name
        return f"unknown district {name!r}: it belongs to {other}, not {city.district_name}"
    return (
        f"unknown district {name!r}: no district of {city.district_name} ({city.district_id}) has that name"
    )
