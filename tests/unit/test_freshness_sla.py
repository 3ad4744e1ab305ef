from datetime import timedelta

import pytest
import yaml

from epifeeds.quality.freshness import FRESHNESS
from epifeeds.settings import DBT_PROJECT_DIR

pytestmark = pytest.mark.unit


def test_dbt_source_freshness_agrees_with_the_watchdogs_sla():
    """`dbt source freshness` and rule C2 must not disagree about when a feed is stale."""
    declared = {}
    for path in (DBT_PROJECT_DIR / "models" / "staging").rglob("*__sources.yml"):
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["sources"]:
            for table in source["tables"]:
                freshness = table.get("config", {}).get("freshness") or source.get("config", {}).get(
                    "freshness"
                )
                if freshness and table["name"] in FRESHNESS:
                    declared[table["name"]] = tuple(
                        timedelta(**{freshness[level]["period"] + "s": freshness[level]["count"]})
                        for level in ("warn_after", "error_after")
                    )
    assert declared == {feed: (sla.warn_after, sla.error_after) for feed, sla in FRESHNESS.items()}
