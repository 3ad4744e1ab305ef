"""The committed GX context (expectations/): derived files equal their derivation, every suite is
well-formed for dq.check_results, and GX loads the context as committed without writing to it."""

import dataclasses
import hashlib
from pathlib import Path

import pytest
import yaml

from epifeeds.feeds.contracts import CONTRACTS
from epifeeds.quality.registry import RULES, SEVERITY_RANK
from epifeeds.quality.suites import (
    CONTEXT_DIR,
    MARTS_CHECKPOINT,
    SUITES_DIR,
    derive_suite,
    derived_files,
    load_suite,
    mart_suite_name,
    mart_tables,
    suite_name,
)
from epifeeds.settings import DBT_PROJECT_DIR, load_settings

pytestmark = pytest.mark.unit

DERIVED = derived_files()
MARTS_AT_THE_START = [
    "dim_date",
    "dim_district",
    "fct_city_daily",
    "fct_district_daily",
    "mart_district_daily_summary",
]


@pytest.mark.parametrize("path", sorted(DERIVED), ids=lambda p: str(p.relative_to(CONTEXT_DIR)))
def test_committed_context_file_matches_its_derivation(path: Path):
    """What is committed is what runs; it must not drift from the contracts and suites it derives from.
    After changing a contract or adding a mart suite, run epifeeds.quality.suites.write_context() and
    review the diff."""
    assert path.exists(), f"{path} is missing: run epifeeds.quality.suites.write_context()"
    assert path.read_text(encoding="utf-8") == DERIVED[path], f"{path} is stale: run write_context()"


def test_the_context_holds_nothing_underived():
    """One home per suite: every JSON file in the committed stores is derived (or canonicalised)."""
    stored = {
        p for d in ("suites", "validation_definitions", "checkpoints") for p in (CONTEXT_DIR / d).glob("*")
    }
    assert stored == {p for p in DERIVED if p.suffix == ".json"}


@pytest.mark.parametrize("feed", sorted(CONTRACTS))
def test_landing_suite_is_the_contracts(feed):
    assert load_suite(suite_name(CONTRACTS[feed])) == derive_suite(CONTRACTS[feed])


def test_every_count_column_must_be_non_negative():
    suite = derive_suite(CONTRACTS["district_reports"])
    checked = {
        e["kwargs"]["column"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_between"
    }
    assert checked == set(CONTRACTS["district_reports"].count_columns)


def test_every_mart_present_at_the_start_has_a_reviewed_suite():
    assert set(MARTS_AT_THE_START) <= set(mart_tables())


@pytest.mark.parametrize("path", sorted(SUITES_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_expectation_names_a_catalogued_rule_and_a_severity(path: Path):
    """dq.check_results takes rule and severity from each expectation's meta."""
    suite = load_suite(path.stem)
    assert suite["name"] == path.stem and suite["expectations"]
    for expectation in suite["expectations"]:
        meta = expectation["meta"]
        assert meta["rule"] in RULES, expectation
        assert meta["severity"] in SEVERITY_RANK, expectation
        assert meta["description"], expectation


def _declared_mart_columns() -> dict[str, set[str]]:
    declared: dict[str, set[str]] = {}
    for path in (DBT_PROJECT_DIR / "models" / "marts").glob("*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models") or []:
            declared[model["name"]] = {c["name"] for c in model.get("columns") or []}
    return declared


@pytest.mark.parametrize("table", mart_tables())
def test_mart_suite_names_only_columns_dbt_declares(table):
    """A mart suite follows its model: a renamed or dropped column shows up here, not at run time."""
    declared = _declared_mart_columns()
    assert table in declared, f"{mart_suite_name(table)} has no dbt model {table} in models/marts"
    named = set()
    for expectation in load_suite(mart_suite_name(table))["expectations"]:
        kwargs = expectation["kwargs"]
        named |= {kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs}
        named |= set(kwargs.get("column_list") or [])
    assert named <= declared[table], sorted(named - declared[table])


def test_gx_loads_the_committed_context_fresh_and_leaves_it_untouched(tmp_path):
    """Every checkpoint is runnable as committed (GX would otherwise try to re-save it at run time),
    and opening the context writes nothing under expectations/."""
    from epifeeds.quality.gx_runner import gx_runtime_dir, open_context

    def snapshot() -> dict[str, str]:
        return {
            str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in CONTEXT_DIR.rglob("*") if p.is_file()
        }

    before = snapshot()
    settings = dataclasses.replace(load_settings(), home=tmp_path)
    context = open_context("postgresql://nobody@127.0.0.1:1/nowhere", settings)
    names = {c.name for c in context.checkpoints.all()}
    assert names == {MARTS_CHECKPOINT} | {suite_name(c) for c in CONTRACTS.values()}
    for name in sorted(names):
        checkpoint = context.checkpoints.get(name)
        assert checkpoint.is_fresh().success, name
        assert [a.type for a in checkpoint.actions] == ["update_data_docs"]
    marts = context.checkpoints.get(MARTS_CHECKPOINT)
    assert sorted(v.suite.name for v in marts.validation_definitions) == [
        mart_suite_name(t) for t in mart_tables()
    ]
    assert snapshot() == before
    assert gx_runtime_dir(settings).is_dir()
