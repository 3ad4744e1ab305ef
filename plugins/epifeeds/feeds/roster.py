"""Onboarding a jurisdiction: its districts, aliases and reporting calendar, from the national roster.

`epifeeds roster onboard 成都市 --from 2022-04-01 --to 2022-05-31` appends the city and its districts
(GB/T 2260 codes, names, pinyin) to `districts.csv`, the spellings agencies use (short forms that are
unambiguous within the city, city-prefixed names) to `district_aliases.csv`, and a district and a city
row to `reporting_calendar.csv`: the three seed files the platform and dbt read. `epifeeds roster list`
says what is onboarded. Onboarding is idempotent: a city already on the roster is left as it is.
An imported bulletin of a city not yet onboarded onboards it, with its series' dates as its calendar.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from epifeeds.feeds import names
from epifeeds.feeds.divisions import city_short_form, load_national_roster, short_form
from epifeeds.feeds.names import load_district_roster, normalise_label, reload_district_roster

CALENDAR_COLUMNS = (
    "feed",
    "jurisdiction_id",
    "reporter_level",
    "active_from",
    "active_to",
    "deadline_days_after_report_date",
    "deadline_local_time",
    "grace_minutes",
    "description",
)


class UnknownJurisdiction(LookupError):
    """The name is no city of the national roster."""


@dataclass(frozen=True)
class Onboarded:
    city_id: str
    city_name: str
    districts: int
    aliases: int
    calendar: tuple[str, ...]  # "district 2022-04-09..2022-05-11 due D+1 10:00", one per level
    is_new: bool


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _append(path: Path, rows: list[list[str]]) -> None:
    text = path.read_text(encoding="utf-8")
    with path.open("a", encoding="utf-8", newline="") as handle:
        if text and not text.endswith("\n"):
            handle.write("\n")
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _calendar_of(seeds_dir: Path, city_id: str) -> tuple[str, ...]:
    return tuple(
        f"{row['feed']} {row['reporter_level']} {row['active_from']}..{row['active_to'] or 'open'}"
        f" due D+{row['deadline_days_after_report_date']} {row['deadline_local_time']}"
        for row in _read(seeds_dir / "reporting_calendar.csv")
        if row["jurisdiction_id"] == city_id
    )


def onboard_city(
    city: str,
    *,
    active_from: date,
    active_to: date | None = None,
    deadline_local_time: str = "10:00",
    seeds_dir: Path | None = None,
) -> Onboarded:
    """Put a city of the national roster on the reporting roster (see the module docstring)."""
    seeds_dir = Path(seeds_dir or names.SEEDS_DIR)
    national = load_national_roster()
    division = national.find_city(city)
    if division is None:
        raise UnknownJurisdiction(
            f"{city!r} is no prefecture-level city or municipality of the national roster"
            " (GB/T 2260); give its name (成都市, 成都) or code (510100)"
        )
    roster = load_district_roster(seeds_dir)
    if roster.is_onboarded(division.code):
        return _summary(seeds_dir, division.code, is_new=False)
    districts = national.districts_of(division.code)
    _append(
        seeds_dir / "districts.csv",
        [[division.code, division.name, division.name_en, "city", ""]]
        + [[d.code, d.name, d.name_en, "district", division.code] for d in districts],
    )
    spellings, ambiguous = national.names_of_districts(division.code)
    taken = set(roster.aliases)
    aliases = [[s, division.code] for s in (city_short_form(division.name), division.name_en) if s]
    for d in districts:
        for spelling in (short_form(d.name), division.name + d.name, d.name_en):
            key = normalise_label(spelling or "")
            if key and key not in ambiguous and spellings.get(key, d.code) == d.code:
                aliases.append([spelling, d.code])
    aliases = [a for a in aliases if normalise_label(a[0]) not in taken]
    _append(seeds_dir / "district_aliases.csv", aliases)
    until = active_to.isoformat() if active_to else ""
    series = f"published series {active_from}..{active_to}" if active_to else f"from {active_from}"
    _append(
        seeds_dir / "reporting_calendar.csv",
        [
            [
                "district_reports",
                division.code,
                level,
                active_from.isoformat(),
                until,
                "1",
                deadline_local_time,
                "60",
                f"{division.name}'s {what} for day D by {deadline_local_time} Asia/Shanghai on D+1 ({series};"
                " onboarded with `epifeeds roster onboard`)",
            ]
            for level, what in (("district", "district figures"), ("city", "city bulletin"))
        ],
    )
    reload_district_roster()
    return _summary(seeds_dir, division.code, is_new=True)


def _summary(seeds_dir: Path, city_id: str, *, is_new: bool) -> Onboarded:
    roster = load_district_roster(seeds_dir)
    members = {city_id} | {d.district_id for d in roster.districts_of(city_id)}
    aliases = sum(row["district_id"] in members for row in _read(seeds_dir / "district_aliases.csv"))
    return Onboarded(
        city_id=city_id,
        city_name=roster.by_id(city_id).district_name,
        districts=len(roster.districts_of(city_id)),
        aliases=aliases,
        calendar=_calendar_of(seeds_dir, city_id),
        is_new=is_new,
    )


def list_onboarded(seeds_dir: Path | None = None) -> list[Onboarded]:
    seeds_dir = Path(seeds_dir or names.SEEDS_DIR)
    roster = load_district_roster(seeds_dir)
    return [_summary(seeds_dir, city.district_id, is_new=False) for city in roster.cities]


def describe(entry: Onboarded) -> str:
    return (
        f"{entry.city_name} ({entry.city_id}): {entry.districts} districts, {entry.aliases} aliases;"
        f" calendar: {'; '.join(entry.calendar) or 'none'}"
    )


def cmd_roster(args: argparse.Namespace) -> int:
    seeds_dir = args.seeds_dir
    if args.roster_command == "list":
        for entry in list_onboarded(seeds_dir):
            print(describe(entry))
        return 0
    try:
        entry = onboard_city(
            args.city,
            active_from=args.active_from,
            active_to=args.active_to,
            deadline_local_time=args.deadline,
            seeds_dir=seeds_dir,
        )
    except UnknownJurisdiction as problem:
        print(f"epifeeds roster onboard: {problem}")
        return 2
    print(("onboarded " if entry.is_new else "already onboarded, unchanged: ") + describe(entry))
    if entry.is_new:
        print(
            "next: rebuild the warehouse (dbt seed) so the marts know the new districts, and regenerate the"
            " GX context (its landing suites list the known districts): python -c 'from"
            " epifeeds.quality.suites import write_context; write_context()'"
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `epifeeds roster list|onboard` to a parser's subparsers."""
    parser = subparsers.add_parser(
        "roster",
        help="list the onboarded jurisdictions, or onboard a city from the national roster",
        description="The reporting roster: districts, aliases and reporting calendar (dbt_project/seeds).",
    )
    parser.add_argument(
        "--seeds-dir", type=Path, default=None, help="the roster's seed folder (default: dbt_project/seeds)"
    )
    commands = parser.add_subparsers(dest="roster_command", required=True)
    commands.add_parser("list", help="each onboarded city: districts, aliases, reporting calendar")
    onboard = commands.add_parser("onboard", help="add a city, its districts, aliases and calendar")
    onboard.add_argument("city", help="the city's name, short form or GB/T 2260 code (成都市, 成都, 510100)")
    onboard.add_argument("--from", dest="active_from", type=date.fromisoformat, required=True)
    onboard.add_argument("--to", dest="active_to", type=date.fromisoformat, default=None)
    onboard.add_argument("--deadline", default="10:00", help="local publication deadline on D+1 (HH:MM)")
    parser.set_defaults(func=cmd_roster)
    return parser
