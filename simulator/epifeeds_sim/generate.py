"""Write a deterministic simulation of the agencies' feeds, with its ground truth, into a directory.

    from epifeeds_sim.generate import generate
    truth = generate(Path("var/sim"), days=14, seed=7)            # default faults
    truth.select(kind="missing_report")                           # what was planted, and where

The same arguments always give byte-identical files.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from epifeeds.settings import REPORT_TIMEZONE
from epifeeds_sim import district_feed, hotels, registries, testing_sites
from epifeeds_sim.ground_truth import GROUND_TRUTH_FILE, GroundTruth, write_json
from epifeeds_sim.randomness import parse_iso_utc
from epifeeds_sim.roster import is_province, simulation_roster, write_roster

FAULT_PROFILES = ("none", "default", "all")
# city: Taiyuan (10 districts, ~5,000 sites, ~100 hotels); small: a tenth of the sites, for fast tests;
# province: Shanxi (11 cities, 117 districts, ~50,000 sites, ~1,000 hotels)
SCALES = ("city", "small", "province")
INTERNAL_SCALES = ("province-small",)  # for tests, not offered by the CLI: a tenth of the province's sites
ALL_FEEDS = (district_feed.FEED, testing_sites.FEED, hotels.FEED)
FILE_DROP_DIR = "file_drop"
ARRIVALS_FILE = f"{FILE_DROP_DIR}/arrivals.json"
MANAGED_PATHS = (district_feed.FEED_DIR, FILE_DROP_DIR, registries.REGISTRY_DIR, GROUND_TRUTH_FILE)


def generate(
    out_dir: Path,
    *,
    days: int,
    seed: int,
    start: date = date(2022, 3, 1),
    faults: str = "default",
    scale: str = "city",
    feeds: Sequence[str] = ALL_FEEDS,
) -> GroundTruth:
    """Simulate `days` report days from `start` and write every feed plus `ground_truth.json`.

    `faults`: "none" (clean, every identity holds), "default" (the demo's faults: 晋源区 misses day 3,
    a late report, a positives inconsistency, an alias spelling) or "all" (every fault kind).
    `scale`: "city", "small" or "province" (all of Shanxi; the platform's roster seed knows Taiyuan only,
    so every run writes the roster it simulated to `registries/districts.json`).
    """
    if days < 1:
        raise ValueError(f"days must be at least 1 (got {days})")
    if faults not in FAULT_PROFILES:
        raise ValueError(f"faults must be one of {', '.join(FAULT_PROFILES)} (got {faults!r})")
    if scale not in SCALES + INTERNAL_SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)} (got {scale!r})")
    unknown = set(feeds) - set(ALL_FEEDS)
    if unknown or district_feed.FEED not in feeds:
        raise ValueError(
            f"feeds must include district_reports (the others derive from it) and only {', '.join(ALL_FEEDS)} "
            f"(got {', '.join(feeds)})"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in MANAGED_PATHS:
        stale = out_dir / name
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()

    roster = simulation_roster(scale)
    truth = district_feed.simulate_truth(roster, seed=seed, start=start, days=days)
    ground_truth = GroundTruth(
        seed=seed,
        days=days,
        start=start.isoformat(),
        end=(start + timedelta(days=days - 1)).isoformat(),
        scale=scale,
        fault_profile=faults,
        timezone=REPORT_TIMEZONE,
        feeds={district_feed.FEED: district_feed.feed_metadata(truth, roster)},
        faults=[],
    )
    plan = district_feed.plan_district_feed(
        roster, truth, seed=seed, fault_profile=faults, ground_truth=ground_truth
    )
    district_feed.write_district_feed(out_dir, roster, plan)
    roster_file = write_roster(out_dir, roster, as_of=truth.day(days - 1))

    arrivals: dict[str, str] = {}
    if testing_sites.FEED in feeds or hotels.FEED in feeds:
        registry = registries.build_registries(roster, seed=seed, start=start, days=days, scale=scale)
        ground_truth.feeds["registries"] = registries.write_registries(
            out_dir, registry, as_of=truth.day(days - 1)
        )
        if is_province(scale):  # (city scale: the same file, left out of a ground truth that predates it)
            ground_truth.feeds["registries"]["districts"] = roster_file
        if testing_sites.FEED in feeds:
            site_files = testing_sites.simulate_site_files(roster, registry.sites, plan, seed=seed)
            testing_sites.plan_site_faults(
                roster, site_files, plan, seed=seed, fault_profile=faults, ground_truth=ground_truth
            )
            arrivals |= testing_sites.write_site_files(out_dir, site_files)
            ground_truth.feeds[testing_sites.FEED] = testing_sites.feed_metadata(
                site_files, registry.sites, roster
            )
        if hotels.FEED in feeds:
            withheld = hotels.plan_withheld_transfers(
                roster, plan, seed=seed, fault_profile=faults, ground_truth=ground_truth
            )
            hotel_feed = hotels.simulate_hotels(roster, registry.hotels, plan, seed=seed, withheld=withheld)
            hotels.plan_hotel_faults(
                hotel_feed, registry.hotels, seed=seed, fault_profile=faults, ground_truth=ground_truth
            )
            arrivals |= hotels.write_hotel_files(out_dir, roster, hotel_feed)
            ground_truth.feeds[hotels.FEED] = hotels.feed_metadata(hotel_feed, registry.hotels)
        write_json(out_dir / ARRIVALS_FILE, {"files": dict(sorted(arrivals.items()))})
        for relative, arrived_at in arrivals.items():  # a file's mtime is when it landed in the drop
            moment = parse_iso_utc(arrived_at).timestamp()
            os.utime(out_dir / relative, (moment, moment))
    ground_truth.write(out_dir)
    return ground_truth


def summarise(out_dir: Path, truth: GroundTruth) -> str:
    """One paragraph on what a generate run wrote (the CLI prints it)."""
    kinds = ", ".join(
        f"{f.kind} ({f.rule or 'no rule'}: {f.reporter_name or f.reporter} {f.report_date})"
        for f in truth.faults
    )
    feeds = ", ".join(sorted(truth.feeds))
    return (
        f"Simulated {truth.days} report days {truth.start}..{truth.end} (seed {truth.seed}, scale {truth.scale}) "
        f"into {out_dir}: feeds {feeds}; fault profile '{truth.fault_profile}' planted "
        f"{len(truth.faults)} fault(s){': ' + kinds if kinds else ''}. "
        f"The answer key is {out_dir / GROUND_TRUTH_FILE}."
    )
