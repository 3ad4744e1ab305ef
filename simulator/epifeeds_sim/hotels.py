"""Isolation-hotel daily reports (隔离点日报): XLSX with a merged two-row header, or JSON, per hotel and day.

Close contacts a district transfers to centralised isolation on day d check in on d (≈75%) or d+1, at a
hotel of their own district while it has room, else anywhere in their city; they stay 14 days (some 7).
Each hotel's figures obey the flow identity guests(d) = guests(d−1) + check_ins(d) − check_outs(d) (I3),
rooms_occupied ≤ rooms_total (V2), and check-ins by source district add up to the districts'
`transferred_to_isolation` with at most one day's lag (R3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment

from epifeeds.feeds.names import DistrictRoster
from epifeeds_sim.district_feed import DistrictFeedPlan, SlotPicker
from epifeeds_sim.files import SheetSkeleton, xlsx_bytes
from epifeeds_sim.ground_truth import GroundTruth, PlantedFault
from epifeeds_sim.randomness import binomial, iso_utc, local_moment, stream
from epifeeds_sim.registries import IsolationHotel
from epifeeds_sim.roster import city_of, simulated_districts

FEED = "hotel_reports"
FEED_DIR = "file_drop/hotel_reports"
SAME_DAY_CHECK_IN = 0.75


@dataclass
class HotelDay:
    hotel_id: str
    hotel_name: str
    day: date
    file_format: str
    rooms_total: int
    rooms_occupied: int
    guests: int
    check_ins: dict[str, int]  # district_id -> guests checked in from there (its city's districts, zeros too)
    check_outs: int
    staff: int
    arrived_at: datetime
    is_missing: bool = False

    @property
    def path(self) -> str:
        return f"{FEED_DIR}/{self.hotel_id}/{self.day.isoformat()}.{self.file_format}"


@dataclass
class HotelFeed:
    days: dict[tuple[str, int], HotelDay]
    withheld: dict[tuple[str, int], int] = field(default_factory=dict)  # R3 fault: transfers never checked in


def _pick_hotel(
    active: list[IsolationHotel], guests: dict[str, int], district_id: str, rng: Any
) -> IsolationHotel:
    local = [h for h in active if h.district_id == district_id and guests[h.hotel_id] < h.capacity]
    if local:
        return rng.choices(local, weights=[h.capacity - guests[h.hotel_id] for h in local])[0]
    return max(active, key=lambda h: (h.capacity - guests[h.hotel_id], h.hotel_id))


def simulate_hotels(
    roster: DistrictRoster,
    hotels: list[IsolationHotel],
    district_plan: DistrictFeedPlan,
    *,
    seed: int,
    withheld: dict[tuple[str, int], int] | None = None,
) -> HotelFeed:
    truth = district_plan.truth
    withheld = withheld or {}
    rng = stream(seed, "hotels", "flows")
    district_ids = [d.district_id for d in simulated_districts(roster)]
    order = {district_id: i for i, district_id in enumerate(district_ids)}
    city_districts: dict[str, list[str]] = {}
    for district_id in district_ids:
        city_districts.setdefault(city_of(district_id), []).append(district_id)
    arrivals: dict[int, list[str]] = {t: [] for t in range(truth.days + 1)}
    for t in range(truth.days):
        for district_id in district_ids:
            moved = truth.values[(district_id, t)]["transferred_to_isolation"] - withheld.get(
                (district_id, t), 0
            )
            same_day = binomial(rng, moved, SAME_DAY_CHECK_IN)
            arrivals[t] += [district_id] * same_day
            arrivals[t + 1] += [district_id] * (moved - same_day)
    guests = {h.hotel_id: 0 for h in hotels}
    leaving: dict[tuple[str, int], int] = {}
    first_day = truth.day(0)
    for hotel in hotels:
        if hotel.is_active(first_day):
            guests[hotel.hotel_id] = round(hotel.capacity * rng.uniform(0.1, 0.4))
            for _ in range(guests[hotel.hotel_id]):
                key = (hotel.hotel_id, rng.randint(0, 13))
                leaving[key] = leaving.get(key, 0) + 1
    feed = HotelFeed(days={}, withheld=dict(withheld))
    for t in range(truth.days):
        day = truth.day(t)
        active = [h for h in hotels if h.is_active(day)]
        active_in: dict[str, list[IsolationHotel]] = {}  # city -> its hotels in use that day
        for hotel in active:
            active_in.setdefault(city_of(hotel.district_id), []).append(hotel)
        check_ins = {h.hotel_id: dict.fromkeys(city_districts[city_of(h.district_id)], 0) for h in active}
        check_outs = {h.hotel_id: leaving.get((h.hotel_id, t), 0) for h in active}
        for hotel in active:
            guests[hotel.hotel_id] -= check_outs[hotel.hotel_id]
        for district_id in sorted(arrivals[t], key=order.__getitem__):
            hotel = _pick_hotel(active_in[city_of(district_id)], guests, district_id, rng)
            guests[hotel.hotel_id] += 1
            check_ins[hotel.hotel_id][district_id] += 1
            key = (hotel.hotel_id, t + (14 if rng.random() < 0.7 else 7))
            leaving[key] = leaving.get(key, 0) + 1
        for hotel in active:
            present = guests[hotel.hotel_id]
            feed.days[(hotel.hotel_id, t)] = HotelDay(
                hotel_id=hotel.hotel_id,
                hotel_name=hotel.hotel_name,
                day=day,
                file_format=hotel.report_format,
                rooms_total=hotel.rooms,
                rooms_occupied=min(hotel.rooms, present - present // 12),
                guests=present,
                check_ins=check_ins[hotel.hotel_id],
                check_outs=check_outs[hotel.hotel_id],
                staff=max(1, hotel.staff + rng.randint(-2, 2)),
                arrived_at=local_moment(
                    day + timedelta(days=1), 7 * 60 + rng.randint(0, 90), rng.randint(0, 59)
                ),
            )
    return feed


# ------------------------------------------------------------------------------------------- faults


def plan_withheld_transfers(
    roster: DistrictRoster,
    district_plan: DistrictFeedPlan,
    *,
    seed: int,
    fault_profile: str,
    ground_truth: GroundTruth,
) -> dict[tuple[str, int], int]:
    """R3 (profile all): part of a district's transfers on day d never check in at a registered hotel."""
    if fault_profile != "all":
        return {}
    truth = district_plan.truth
    rng = stream(seed, "hotels", "r3")
    picker = SlotPicker(rng, [d.district_id for d in simulated_districts(roster)], truth.days, group=city_of)
    picker.used |= district_plan.fault_slots
    moved = {key: v["transferred_to_isolation"] for key, v in truth.values.items()}

    def neighbours(slot: tuple[str, int]) -> int:
        district_id, t = slot
        return moved.get((district_id, t - 1), 0) + moved[(district_id, t + 1)]

    def withheld_for(slot: tuple[str, int]) -> int:
        half = max(5, round(moved[slot] * 0.5))
        return half if half > neighbours(slot) else moved[slot]

    # Detectable whatever the check-in lag: more withheld than the neighbouring days could make up for,
    # so check-ins on d and d+1 fall short of the day's transfers. Not on the last day (d+1 is unseen).
    slot = picker.take(
        accept=lambda s: s[1] + 1 < truth.days and moved[s] >= 5 and withheld_for(s) > neighbours(s),
        prefer=lambda s: moved[s] >= 10,
    )
    if slot is None:
        return {}
    district_id, t = slot
    withheld = withheld_for(slot)
    ground_truth.add(
        PlantedFault(
            kind="transfers_not_checked_in",
            rule="R3",
            feed=FEED,
            reporter=district_id,
            reporter_name=roster.by_id(district_id).district_name,
            report_date=truth.day(t).isoformat(),
            values={"transferred_to_isolation": moved[slot], "withheld": withheld},
            expected={"withheld": 0},
            detail=f"{withheld} of the close contacts the district transferred never check in at a registered "
            "isolation hotel (on d or d+1); every hotel's flow identity still holds",
        )
    )
    return {slot: withheld}


def plan_hotel_faults(
    feed: HotelFeed, hotels: list[IsolationHotel], *, seed: int, fault_profile: str, ground_truth: GroundTruth
) -> None:
    if fault_profile == "none":
        return
    days = 1 + max((t for _, t in feed.days), default=-1)
    if days == 0:
        return
    rng = stream(seed, "hotels", "faults")
    picker = SlotPicker(
        rng, [h.hotel_id for h in hotels], days, group=lambda hotel_id: city_of(hotel_id[1:7])
    )

    def fault(kind: str, rule: str, slot: tuple[str, int], **kwargs: Any) -> None:
        report = feed.days[slot]
        ground_truth.add(
            PlantedFault(
                kind=kind,
                rule=rule,
                feed=FEED,
                reporter=report.hotel_id,
                reporter_name=report.hotel_name,
                report_date=report.day.isoformat(),
                file=report.path,
                **kwargs,
            )
        )

    slot = picker.take(accept=lambda s: s in feed.days and (s[0], s[1] - 1) in feed.days)
    if slot:
        hotel_id, t = slot
        report = feed.days[slot]
        previous = feed.days[(hotel_id, t - 1)].guests
        true_guests = report.guests
        shift = rng.randint(3, 9)
        report.guests = (
            true_guests - shift if true_guests >= shift and rng.random() < 0.5 else true_guests + shift
        )
        following = (hotel_id, t + 1)
        fault(
            "flow_identity_break",
            "I3",
            slot,
            values={
                "guests": report.guests,
                "previous_guests": previous,
                "check_ins": sum(report.check_ins.values()),
                "check_outs": report.check_outs,
            },
            expected={"guests": true_guests},
            consequences=[
                {"rule": "I3", "reporter": hotel_id, "report_date": feed.days[following].day.isoformat()}
            ]
            if following in feed.days
            else [],
            detail="guests ≠ yesterday's guests + check-ins − check-outs (the next day breaks too, from the "
            "wrong base)",
        )

    if fault_profile != "all":
        return

    slot = picker.take(accept=lambda s: s in feed.days and not any(feed.days[s].check_ins.values()))
    if slot:
        feed.days[slot].is_missing = True
        fault(
            "missing_report",
            "C1",
            slot,
            values={"guests": feed.days[slot].guests, "check_outs": feed.days[slot].check_outs},
            detail="a requisitioned hotel sends no report that day (it had no check-ins, so R3 is unaffected)",
        )

    slot = picker.take(accept=lambda s: s in feed.days)
    if slot:
        report = feed.days[slot]
        true_occupied = report.rooms_occupied
        report.rooms_occupied = report.rooms_total + rng.randint(1, 5)
        fault(
            "occupancy_over_rooms",
            "V2",
            slot,
            values={"rooms_occupied": report.rooms_occupied, "rooms_total": report.rooms_total},
            expected={"rooms_occupied": true_occupied},
            detail="more rooms occupied than the hotel has",
        )

    slot = picker.take(accept=lambda s: s in feed.days and feed.days[s].guests >= 6)
    if slot:
        report = feed.days[slot]
        true_occupied = report.rooms_occupied
        report.rooms_occupied = report.guests // 3
        fault(
            "guests_beyond_rooms",
            "P1",
            slot,
            values={"guests": report.guests, "rooms_occupied": report.rooms_occupied},
            expected={"rooms_occupied": true_occupied},
            detail="three guests per occupied room: more than an isolation room holds (P1)",
        )


# ------------------------------------------------------------------------------------------ writing

XLSX_TOP = (
    "隔离点编号",
    "隔离点名称",
    "日期",
    "房间情况",
    None,
    "人员情况",
    None,
    None,
    "新入住人员来源（区县）",
)
XLSX_SUB = (None, None, None, "房间总数", "已用房间", "在住人数", "新入住", "解除隔离")


def _workbook(report: HotelDay, district_names: list[str]) -> Workbook:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "隔离点日报"
    width = len(XLSX_SUB) + len(district_names) + 1
    top = [*XLSX_TOP, *([None] * (len(district_names) - 1)), "工作人员"]
    sub = [*XLSX_SUB, *district_names, None]
    sheet.append(top)
    sheet.append(sub)
    for column in (1, 2, 3, width):
        sheet.merge_cells(start_row=1, start_column=column, end_row=2, end_column=column)
    sheet.merge_cells(start_row=1, start_column=4, end_row=1, end_column=5)
    sheet.merge_cells(start_row=1, start_column=6, end_row=1, end_column=8)
    sheet.merge_cells(start_row=1, start_column=9, end_row=1, end_column=8 + len(district_names))
    for cell in sheet[1]:
        cell.alignment = Alignment(horizontal="center", vertical="center")
    sheet.append(_data_row(report))
    sheet.cell(row=3, column=3).number_format = "yyyy-mm-dd"
    return workbook


def _data_row(report: HotelDay) -> list[Any]:
    return [
        report.hotel_id,
        report.hotel_name,
        report.day,
        report.rooms_total,
        report.rooms_occupied,
        report.guests,
        sum(report.check_ins.values()),
        report.check_outs,
        *report.check_ins.values(),
        report.staff,
    ]


@cache
def _skeleton(district_names: tuple[str, ...]) -> SheetSkeleton:
    sample = HotelDay(
        hotel_id="H140105001",
        hotel_name="银海酒店",
        day=date(2022, 3, 1),
        file_format="xlsx",
        rooms_total=96,
        rooms_occupied=30,
        guests=32,
        check_ins=dict.fromkeys(district_names, 1),
        check_outs=2,
        staff=20,
        arrived_at=datetime(2022, 3, 1, 23, 0, tzinfo=UTC),
    )
    return SheetSkeleton(_workbook(sample, list(district_names)), header_rows=2)


def _xlsx(report: HotelDay, district_names: list[str]) -> bytes:
    """The XLSX openpyxl would write (written without it where the skeleton can: ~50x faster)."""
    fast = _skeleton(tuple(district_names)).render([_data_row(report)], report.arrived_at)
    return fast if fast is not None else xlsx_bytes(_workbook(report, district_names), report.arrived_at)


def _json(report: HotelDay, names: dict[str, str]) -> bytes:
    document = {
        "hotel_id": report.hotel_id,
        "hotel_name": report.hotel_name,
        "report_date": report.day.isoformat(),
        "rooms_total": report.rooms_total,
        "rooms_occupied": report.rooms_occupied,
        "guests": report.guests,
        "check_ins": sum(report.check_ins.values()),
        "check_ins_by_district": {names[d]: n for d, n in report.check_ins.items() if n},
        "check_outs": report.check_outs,
        "staff": report.staff,
        "submitted_at": iso_utc(report.arrived_at),
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_hotel_files(out_dir: Path, roster: DistrictRoster, feed: HotelFeed) -> dict[str, str]:
    names = {d.district_id: d.district_name for d in simulated_districts(roster)}
    arrivals = {}
    for key in sorted(feed.days):
        report = feed.days[key]
        if report.is_missing:
            continue
        path = out_dir / report.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if report.file_format == "xlsx":  # its city's districts as columns, in roster order
            data = _xlsx(report, [names[d] for d in report.check_ins])
        else:
            data = _json(report, names)
        path.write_bytes(data)
        arrivals[report.path] = iso_utc(report.arrived_at)
    return arrivals


def feed_metadata(feed: HotelFeed, hotels: list[IsolationHotel]) -> dict[str, Any]:
    return {
        "dir": FEED_DIR,
        "file_pattern": f"{FEED_DIR}/<hotel_id>/<report_date>.(xlsx|json)",
        "xlsx_header": {
            "row_1": [c for c in XLSX_TOP if c] + ["工作人员"],
            "row_2": [c for c in XLSX_SUB if c],
        },
        "registry": "registries/isolation_hotels.json",
        "hotels": len(hotels),
        "reports": sum(1 for r in feed.days.values() if not r.is_missing),
        "check_in_lag": {"same_day": SAME_DAY_CHECK_IN, "next_day": round(1 - SAME_DAY_CHECK_IN, 2)},
        "arrival": "D+1 07:00-08:30 Asia/Shanghai (file_drop/arrivals.json)",
    }
