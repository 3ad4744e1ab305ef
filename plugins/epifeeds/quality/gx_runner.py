"""Validating a landed slice with Great Expectations and storing every result in dq.check_results."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from epifeeds.feeds.contracts import FeedContract
from epifeeds.quality.results import CheckResult, store_check_run
from epifeeds.quality.suites import load_suite, suite_name


def _sqlalchemy_url(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(("postgresql+psycopg2", *parts[1:]))


def _latest_slice_query(contract: FeedContract, report_date: date) -> str:
    """The current version of every report for the day: what dbt and BI will read."""
    key = ", ".join(contract.key)
    return (
        f"select distinct on ({key}) * from {contract.landing_table}"
        f" where {contract.date_column} = '{report_date.isoformat()}'"
        f" order by {key}, _version desc"
    )


def validate_landing_slice(
    warehouse_dsn: str, contract: FeedContract, report_date: date, run_id: str
) -> dict:
    """Run the contract's reviewed suite on one report date's landed rows; returns a short summary."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    stored = load_suite(contract)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # task logs, not a terminal
    source = context.data_sources.add_postgres("warehouse", connection_string=_sqlalchemy_url(warehouse_dsn))
    asset = source.add_query_asset(f"{contract.feed}_slice", query=_latest_slice_query(contract, report_date))
    batch_definition = asset.add_batch_definition_whole_table("slice")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name(contract)))
    for spec in stored["expectations"]:
        config = ExpectationConfiguration(type=spec["type"], kwargs=spec["kwargs"], meta=spec["meta"])
        suite.add_expectation(config.to_domain_obj())
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite.name}_{report_date}", data=batch_definition, suite=suite)
    )
    outcome = validation.run(result_format="SUMMARY")

    results = [_check_result(contract, report_date, item.to_json_dict()) for item in outcome.results]
    with psycopg.connect(warehouse_dsn) as conn:
        store_check_run(
            conn,
            suite=suite.name,
            feed=contract.feed,
            report_date=report_date,
            run_id=run_id,
            results=results,
            statistics=outcome.statistics,
        )
    failed = [r for r in results if r.status == "fail"]
    return {
        "suite": suite.name,
        "report_date": report_date.isoformat(),
        "checks": len(results),
        "failed": len(failed),
    }


def _check_result(contract: FeedContract, report_date: date, item: dict[str, Any]) -> CheckResult:
    config = item["expectation_config"]
    meta = config.get("meta") or {}
    kwargs = {k: v for k, v in config["kwargs"].items() if k not in ("batch_id",)}
    observed = item.get("result") or {}
    observed = json.loads(json.dumps(observed, default=str))  # GX results may hold dates and Decimals
    return CheckResult(
        check_name=f"{config['type']}({kwargs.get('column') or kwargs.get('column_list') or ''})".replace(
            "()", ""
        ),
        rule=meta.get("rule", "V1"),
        feed=contract.feed,
        reporter=None,
        report_date=report_date,
        observed=observed,
        expected=kwargs,
        severity=meta.get("severity", "error"),
        status="pass" if item["success"] else "fail",
    )
