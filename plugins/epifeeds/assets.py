"""Airflow Assets the platform emits and schedules on: one per landing table."""

from __future__ import annotations

from airflow.sdk import Asset

from epifeeds.feeds.contracts import CONTRACTS


def landing_asset(feed: str) -> Asset:
    return Asset(name=f"landing.{feed}", uri=f"epifeeds://warehouse/landing/{feed}", group="landing")


LANDING_ASSETS: dict[str, Asset] = {feed: landing_asset(feed) for feed in CONTRACTS}
