"""The dbt project agrees with the feed contract and the landing DDL (one home for each fact)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.landing.schema import feed_table_ddl
from epifeeds.settings import DBT_PROJECT_DIR

pytestmark = pytest.mark.unit

SOURCES_YML = DBT_PROJECT_DIR / "models" / "staging" / "districts" / "_districts__sources.yml"
MODELS_DIR = DBT_PROJECT_DIR / "models"


def _source_table(source: str, table: str) -> dict:
    document = yaml.safe_load(SOURCES_YML.read_text(encoding="utf-8"))
    source_entry = next(s for s in document["sources"] if s["name"] == source)
    return next(t for t in source_entry["tables"] if t["name"] == table)


def _landing_metadata_columns() -> list[tuple[str, str]]:
    """(name, type) of the `_`-prefixed columns the landing DDL adds to every feed table."""
    columns = []
    for line in feed_table_ddl(DISTRICT_REPORTS).splitlines():
        words = line.strip().split()
        if words and words[0].startswith("_"):
            columns.append((words[0], words[1]))
    return columns


def test_district_reports_source_declares_the_contract_columns_then_the_landing_metadata() -> None:
    table = _source_table("landing", "district_reports")
    declared = [(c["name"], c["data_type"]) for c in table["columns"]]

    expected = [(c.name, c.pg_type) for c in DISTRICT_REPORTS.columns] + _landing_metadata_columns()

    assert [name for name, _ in _landing_metadata_columns()] == [
        "_batch_id",
        "_loaded_at",
        "_version",
        "_row_hash",
    ]
    assert declared == expected, (
        f"{SOURCES_YML.relative_to(DBT_PROJECT_DIR.parent)} has drifted from DISTRICT_REPORTS in "
        "plugins/epifeeds/feeds/contracts.py (or from the landing DDL): update the source yml to match."
    )


def test_district_reports_source_describes_every_column_and_declares_its_freshness_field() -> None:
    table = _source_table("landing", "district_reports")

    undescribed = [c["name"] for c in table["columns"] if not str(c.get("description", "")).strip()]

    assert undescribed == []
    assert table["config"]["loaded_at_field"] == "_loaded_at"


def test_every_model_is_documented_in_yml_with_every_column_described() -> None:
    documented: dict[str, dict] = {}
    for yml in MODELS_DIR.rglob("*.yml"):
        for model in yaml.safe_load(yml.read_text(encoding="utf-8")).get("models", []):
            documented[model["name"]] = model
    model_names = sorted(Path(sql).stem for sql in MODELS_DIR.rglob("*.sql"))

    missing = [name for name in model_names if not documented.get(name, {}).get("description")]
    undescribed_columns = [
        f"{name}.{column['name']}"
        for name in model_names
        for column in documented.get(name, {}).get("columns", [])
        if not str(column.get("description", "")).strip()
    ]

    assert model_names, "no dbt models found"
    assert missing == [], "models without a description in a yml file"
    assert undescribed_columns == []
