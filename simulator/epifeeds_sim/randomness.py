"""Seeded random streams and the few distributions the simulator needs, all deterministic.

Each component draws from its own stream (`stream(seed, "districts", "140105")`), so adding a feed or a
fault to the simulator does not shift the numbers of the others: the same seed keeps giving the same
district figures whatever else is generated.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from epifeeds.settings import REPORT_TIMEZONE

LOCAL_TZ = ZoneInfo(REPORT_TIMEZONE)


def stream(seed: int, *names: str) -> random.Random:
    """An independent generator for one component (string seeds are hashed with SHA-512: stable)."""
    return random.Random(":".join(("epifeeds-sim", str(seed), *names)))


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean >= 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, k, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        k += 1
        product *= rng.random()
    return k


def binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n > 200:
        sd = math.sqrt(n * p * (1 - p))
        return min(n, max(0, round(rng.gauss(n * p, sd))))
    return sum(1 for _ in range(n) if rng.random() < p)


def partition(rng: random.Random, total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` into integer parts proportional to `weights` (with a little noise), summing exactly."""
    if not weights:
        return []
    noisy = [max(w, 1e-9) * rng.uniform(0.8, 1.2) for w in weights]
    scale = total / sum(noisy)
    shares = [w * scale for w in noisy]
    parts = [math.floor(s) for s in shares]
    remainder = total - sum(parts)
    by_fraction = sorted(range(len(shares)), key=lambda i: (parts[i] - shares[i], i))
    for i in by_fraction[:remainder]:
        parts[i] += 1
    return parts


def local_moment(day: date, minutes_after_midnight: int, seconds: int = 0) -> datetime:
    """A UTC instant given as a local (Asia/Shanghai) day and time of day."""
    local = datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ) + timedelta(
        minutes=minutes_after_midnight, seconds=seconds
    )
    return local.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
