"""Running the committed GX checkpoints (expectations/) and storing every result in dq.check_results.

The context in `expectations/` is read, never written: its connection string and its runtime
directory are `${...}` variables that `open_context` sets from the warehouse DSN and EPIFEEDS_HOME.
A run writes only there (`$EPIFEEDS_HOME/var/gx`): the validation results and the Data Docs site.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from epifeeds.feeds.contracts import FeedContract
from epifeeds.landing.schema import current_view_name
from epifeeds.quality.results import CheckResult, store_check_run
from epifeeds.quality.suites import CONTEXT_DIR, MARTS_CHECKPOINT, WAREHOUSE_URL_VARIABLE, suite_name
from epifeeds.settings import Settings, load_settings

if TYPE_CHECKING:
    from great_expectations.checkpoint.checkpoint import CheckpointResult
    from great_expectations.data_context import FileDataContext

RUNTIME_DIR_VARIABLE = "EPIFEEDS_GX_RUNTIME_DIR"


def _sqlalchemy_url(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(("postgresql+psycopg2", *parts[1:]))


def gx_runtime_dir(settings: Settings | None = None) -> Path:
    """Where GX runs write (validation results, Data Docs): `$EPIFEEDS_HOME/var/gx`, never committed."""
    return (settings or load_settings()).home / "var" / "gx"


def data_docs_index(settings: Settings | None = None) -> Path:
    """The Data Docs site's front page, rebuilt by every checkpoint run."""
    return gx_runtime_dir(settings) / "data_docs" / "local_site" / "index.html"


def open_context(warehouse_dsn: str, settings: Settings | None = None) -> FileDataContext:
    """The committed File Data Context, its `${...}` variables pointed at this warehouse and home."""
    import great_expectations as gx

    runtime = gx_runtime_dir(settings)
    runtime.mkdir(parents=True, exist_ok=True)
    os.environ[WAREHOUSE_URL_VARIABLE] = _sqlalchemy_url(warehouse_dsn)
    os.environ[RUNTIME_DIR_VARIABLE] = str(runtime)
    return gx.get_context(mode="file", context_root_dir=str(CONTEXT_DIR))


def build_data_docs(warehouse_dsn: str, settings: Settings | None = None) -> Path:
    """Rebuild the whole Data Docs site from the stored validation results; returns its index.html."""
    context = open_context(warehouse_dsn, settings)
    with _runtime_lock(settings):
        context.build_data_docs()
    return data_docs_index(settings)


@contextmanager
def _runtime_lock(settings: Settings | None = None) -> Iterator[None]:
    """One checkpoint run at a time per runtime directory: parallel tasks (LocalExecutor) would
    otherwise rewrite the Data Docs index over each other."""
    with open(gx_runtime_dir(settings) / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run_checkpoint(
    warehouse_dsn: str, name: str, run_id: str, batch_parameters: dict[str, Any] | None = None
) -> CheckpointResult:
    from great_expectations.core.run_identifier import RunIdentifier

    context = open_context(warehouse_dsn)
    checkpoint = context.checkpoints.get(name)
    with _runtime_lock():
        return checkpoint.run(batch_parameters=batch_parameters, run_id=RunIdentifier(run_name=run_id))


def validate_landing_slice(
    warehouse_dsn: str, contract: FeedContract, report_date: date, run_id: str
) -> dict:
    """Run the feed's checkpoint on the current version of one report date's rows
    (`landing.<feed>__current`, daily batch on the contract's date column); returns a short summary."""
    suite = suite_name(contract)
    if _has_current_rows(warehouse_dsn, contract, report_date):
        day = {"year": report_date.year, "month": report_date.month, "day": report_date.day}
        [validation] = _run_checkpoint(warehouse_dsn, suite, run_id, day).run_results.values()
        items, statistics = [item.to_json_dict() for item in validation.results], validation.statistics
    else:  # GX has no batch for a day without rows; e.g. a registry date whose rows were all superseded
        skipped = f"no current rows in {current_view_name(contract)} for {report_date}"
        items, statistics = [], {"skipped": skipped}
    results = [_check_result(item, feed=contract.feed, report_date=report_date) for item in items]
    with psycopg.connect(warehouse_dsn) as conn:
        store_check_run(
            conn,
            suite=suite,
            feed=contract.feed,
            report_date=report_date,
            run_id=run_id,
            results=results,
            statistics=statistics,
        )
    return {
        "suite": suite,
        "report_date": report_date.isoformat(),
        "checks": len(results),
        "failed": sum(r.status == "fail" for r in results),
    }


def _has_current_rows(warehouse_dsn: str, contract: FeedContract, report_date: date) -> bool:
    query = f"select exists (select from {current_view_name(contract)} where {contract.date_column} = %s)"
    with psycopg.connect(warehouse_dsn) as conn:
        return conn.execute(query, (report_date,)).fetchone()[0]


def validate_marts(warehouse_dsn: str, run_id: str) -> dict:
    """Run the marts checkpoint (every `marts__<table>` suite on its whole table); one dq.check_runs
    row per mart, every expectation in dq.check_results. Returns a short summary."""
    outcome = _run_checkpoint(warehouse_dsn, MARTS_CHECKPOINT, run_id)
    summary: dict[str, Any] = {"checkpoint": MARTS_CHECKPOINT, "checks": 0, "failed": 0, "failed_suites": []}
    with psycopg.connect(warehouse_dsn) as conn:
        for validation in outcome.run_results.values():
            # marts__fct_city_daily -> marts.fct_city_daily
            relation = validation.suite_name.replace("__", ".", 1)
            results = [_check_result(item.to_json_dict(), feed=relation) for item in validation.results]
            store_check_run(
                conn,
                suite=validation.suite_name,
                feed=relation,
                report_date=None,
                run_id=run_id,
                results=results,
                statistics=validation.statistics,
            )
            failed = sum(r.status == "fail" for r in results)
            summary["checks"] += len(results)
            summary["failed"] += failed
            if failed:
                summary["failed_suites"].append(validation.suite_name)
    summary["data_docs"] = str(data_docs_index())
    return summary


def _check_name(kind: str, kwargs: dict[str, Any], meta: dict[str, Any]) -> str:
    target = kwargs.get("column") or kwargs.get("column_list")
    if target is None and "column_A" in kwargs:
        target = [kwargs["column_A"], kwargs["column_B"]]
    if target is None and kind == "unexpected_rows_expectation":
        target = meta.get("description")  # a suite holds several: name each by what it checks
    return f"{kind}({target})" if target else kind


def _check_result(item: dict[str, Any], *, feed: str, report_date: date | None = None) -> CheckResult:
    config = item["expectation_config"]
    meta = config.get("meta") or {}
    kwargs = {k: v for k, v in config["kwargs"].items() if k not in ("batch_id",)}
    observed = item.get("result") or {}
    if item.get("exception_info", {}).get("raised_exception"):
        observed = {**observed, "exception": item["exception_info"].get("exception_message")}
    observed = json.loads(json.dumps(observed, default=str))  # GX results may hold dates and Decimals
    return CheckResult(
        check_name=_check_name(config["type"], kwargs, meta),
        rule=meta.get("rule", "V1"),
        feed=feed,
        reporter=None,
        report_date=report_date,
        observed=observed,
        expected=kwargs,
        severity=meta.get("severity", "error"),
        status="pass" if item["success"] else "fail",
    )
