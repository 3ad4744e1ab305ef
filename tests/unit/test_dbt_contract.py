"""The dbt project agrees with the feed contract and the landing DDL (one home for each fact)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from epifeeds.feeds.contracts import CONTRACTS, DISTRICT_REPORTS
from epifeeds.landing.schema import current_view_name, feed_table_ddl
from epifeeds.quality.file_feed_rules import R2_TOLERANCE
from epifeeds.settings import DBT_PROJECT_DIR, _Environment

pytestmark = pytest.mark.unit

SOURCES_YML = DBT_PROJECT_DIR / "models" / "staging" / "districts" / "_districts__sources.yml"
MODELS_DIR = DBT_PROJECT_DIR / "models"
STAGING_DIR = MODELS_DIR / "staging"


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
    table = _source_table("districts", "district_reports")
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
    table = _source_table("districts", "district_reports")

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


def _landing_source_tables() -> dict[str, tuple[Path, dict, dict]]:
    """Every dbt source table over the landing schema: table name -> (yml file, source, table)."""
    tables: dict[str, tuple[Path, dict, dict]] = {}
    for yml in sorted(STAGING_DIR.rglob("*__sources.yml")):
        for source in yaml.safe_load(yml.read_text(encoding="utf-8")).get("sources", []):
            if source.get("schema") != "landing":
                continue
            for table in source["tables"]:
                assert table["name"] not in tables, f"landing.{table['name']} is declared twice"
                tables[table["name"]] = (yml, source, table)
    return tables


@pytest.mark.parametrize("feed", sorted(CONTRACTS))
def test_every_landing_contract_has_a_source_with_the_contract_columns_then_the_landing_metadata(
    feed: str,
) -> None:
    contract = CONTRACTS[feed]
    tables = _landing_source_tables()
    assert feed in tables, (
        f"no dbt source declares landing.{feed}: add it to a `_<source>__sources.yml` under "
        f"{STAGING_DIR.relative_to(DBT_PROJECT_DIR.parent)} (one staging folder per source)"
    )
    yml, _, table = tables[feed]

    declared = [(c["name"], c["data_type"]) for c in table["columns"]]
    expected = [(c.name, c.pg_type) for c in contract.columns] + _landing_metadata_columns()

    assert declared == expected, (
        f"{yml.relative_to(DBT_PROJECT_DIR.parent)} has drifted from the contract {feed} in "
        "plugins/epifeeds/feeds/contracts.py (or from the landing DDL): update the source yml to match."
    )


@pytest.mark.parametrize("feed", sorted(CONTRACTS))
def test_every_landing_source_describes_its_columns_and_declares_freshness_on_loaded_at(feed: str) -> None:
    _, source, table = _landing_source_tables()[feed]

    undescribed = [c["name"] for c in table["columns"] if not str(c.get("description", "")).strip()]
    freshness = table.get("config", {}).get("freshness") or source.get("config", {}).get("freshness")

    assert undescribed == []
    assert str(table.get("description") or "").strip(), f"landing.{feed} has no description"
    assert table["config"]["loaded_at_field"] == "_loaded_at"
    assert freshness and {"warn_after", "error_after"} <= set(freshness), (
        f"landing.{feed} declares no freshness (warn_after and error_after), on its table or its source"
    )


def test_landing_metadata_columns_are_the_ones_the_ddl_adds_to_every_feed_table() -> None:
    for contract in CONTRACTS.values():
        metadata = [
            line.strip().split()[0]
            for line in feed_table_ddl(contract).splitlines()
            if line.strip().startswith("_")
        ]
        assert metadata == ["_batch_id", "_loaded_at", "_version", "_row_hash"], contract.feed


@pytest.mark.parametrize("feed", sorted(CONTRACTS))
def test_every_feed_source_reads_the_landing_view_of_latest_versions(feed: str) -> None:
    """The latest version of a report is defined once, by `landing.<feed>__current`: staging reads it."""
    _, _, table = _landing_source_tables()[feed]

    assert f"landing.{table.get('identifier')}" == current_view_name(CONTRACTS[feed]), (
        f"the dbt source table {feed} must name the view {current_view_name(CONTRACTS[feed])} "
        "(`identifier:`), not rank versions itself"
    )


def test_no_model_ranks_versions_itself() -> None:
    ranking = [
        sql.relative_to(DBT_PROJECT_DIR).as_posix()
        for sql in MODELS_DIR.rglob("*.sql")
        if "_version desc" in sql.read_text(encoding="utf-8").lower()
    ]

    assert ranking == [], "read the landing `<feed>__current` views instead of ranking `_version`"


def _dbt_vars() -> dict:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return project["vars"]


def test_the_dbt_lookback_covers_the_days_the_file_drop_ingest_rereads() -> None:
    """fct_testing_site_daily rebuilds `lookback_days`; the ingest re-reads EPIFEEDS_FILE_DROP_LOOKBACK_DAYS."""
    default = _Environment.model_fields["file_drop_lookback_days"].default

    assert _dbt_vars()["lookback_days"] == default, (
        "dbt_project.yml vars.lookback_days and the default of EPIFEEDS_FILE_DROP_LOOKBACK_DAYS "
        "(plugins/epifeeds/settings.py) must be equal"
    )


def test_the_dbt_r2_tolerance_is_the_platform_rule_s() -> None:
    assert _dbt_vars()["samples_tolerance_pct"] == pytest.approx(R2_TOLERANCE * 100), (
        "dbt_project.yml vars.samples_tolerance_pct and R2_TOLERANCE must be the same percentage"
    )
