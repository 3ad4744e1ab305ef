"""What a gap in a feed affects, from the dbt manifest's lineage: the marts built from the feed's landing
source and the dashboards (dbt exposures) that read them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from epifeeds.settings import DBT_PROJECT_DIR

MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
MARTS_SCHEMA = "marts"
LANDING_SCHEMA = "landing"


@dataclass(frozen=True)
class Impact:
    marts: tuple[str, ...]  # "marts.fct_district_daily"
    dashboards: tuple[str, ...]  # "dashboard District daily situation (http://...)"
    note: str = ""  # why the list may be incomplete

    def describe(self) -> str:
        marts = ", ".join(self.marts) or "none"
        dashboards = ", ".join(self.dashboards) or "none declared as dbt exposures"
        return f"marts: {marts}; dashboards: {dashboards}" + (f" ({self.note})" if self.note else "")


@lru_cache(maxsize=4)
def _read_manifest(path: str, mtime_ns: int) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_manifest(path: Path = MANIFEST_PATH) -> dict | None:
    """The parsed manifest, or None when it has not been built (`epifeeds setup` builds it)."""
    try:
        return _read_manifest(str(path), path.stat().st_mtime_ns)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def feed_source_ids(manifest: dict, feed: str) -> list[str]:
    """The dbt sources that are the landing table of a feed (landing.<feed>)."""
    return [
        unique_id
        for unique_id, source in manifest.get("sources", {}).items()
        if source.get("name") == feed and source.get("schema") == LANDING_SCHEMA
    ]


def descendants(manifest: dict, roots: list[str]) -> set[str]:
    child_map = manifest.get("child_map", {})
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for child in child_map.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def is_downstream_of_feed(manifest: dict | None, node_id: str, feed: str) -> bool:
    """Whether a dbt node (model, test, exposure) reads, directly or not, the feed's landing table."""
    if not manifest:
        return False
    return node_id in descendants(manifest, feed_source_ids(manifest, feed))


def impact_of_feed(feed: str, manifest: dict | None) -> Impact:
    if manifest is None:
        return Impact(
            marts=(),
            dashboards=(),
            note=f"dbt manifest {MANIFEST_PATH} not built: run `epifeeds setup` to list affected marts",
        )
    sources = feed_source_ids(manifest, feed)
    if not sources:
        return Impact(marts=(), dashboards=(), note=f"no dbt source reads landing.{feed}")
    below = descendants(manifest, sources)
    nodes = manifest.get("nodes", {})
    marts = sorted(
        f"{nodes[n]['schema']}.{nodes[n].get('alias') or nodes[n]['name']}"
        for n in below
        if n in nodes and nodes[n].get("resource_type") == "model" and nodes[n].get("schema") == MARTS_SCHEMA
    )
    dashboards = []
    for exposure_id, exposure in sorted(manifest.get("exposures", {}).items()):
        if exposure_id in below or set(exposure.get("depends_on", {}).get("nodes", [])) & below:
            label = exposure.get("label") or exposure.get("name") or exposure_id
            url = f" ({exposure['url']})" if exposure.get("url") else ""
            dashboards.append(f"{exposure.get('type', 'exposure')} {label}{url}")
    return Impact(marts=tuple(marts), dashboards=tuple(dashboards))
