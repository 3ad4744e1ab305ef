"""Running the committed GX checkpoints (expectations/) and storing every result in dq.check_results.

The context in `expectations/` is read, never written: its connection string and its runtime
directory are `${...}` variables that `open_context` sets from the warehouse DSN and EPIFEEDS_HOME.
A run writes only there (`$EPIFEEDS_HOME/var/gx`): the validation results and the Data Docs site.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg

from epifeeds.feeds.contracts import FeedContract
from epifeeds.landing.schema import current_view_name
from epifeeds.quality.results import CheckResult, store_check_run
from epifeeds.quality.suites import CONTEXT_DIR, MARTS_CHECKPOINT, WAREHOUSE_URL_VARIABLE, suite_name
from epifeeds.settings import Settings, load_settings

if TYPE_CHECKING:
    from great_expectations.data_context import FileDataContext
    from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier

RUNTIME_DIR_VARIABLE = "EPIFEEDS_GX_RUNTIME_DIR"


# GX's SQL for a daily batch filters the `__current` view (DISTINCT ON over every version) with
# EXTRACT(year/month/day) terms Postgres cannot estimate, so it expects one row where there are thousands:
# expect_compound_columns_to_be_unique then ran as a nested loop re-sorting the view for every row
# (~20 s for one city registry slice). Without nested loops the same queries hash-join (~0.1 s);
# what is computed, hence every result, is the same. Only GX's own connections get the setting.
GX_SESSION_OPTIONS = "-c enable_nestloop=off"


def _sqlalchemy_url(dsn: str) -> str:
    parts = urlsplit(dsn)
    query = "&".join(filter(None, [parts.query, "options=" + quote(GX_SESSION_OPTIONS)]))
    return urlunsplit(("postgresql+psycopg2", parts.netloc, parts.path, query, parts.fragment))


def gx_runtime_dir(settings: Settings | None = None) -> Path:
    """Where GX runs write (validation results, Data Docs): `$EPIFEEDS_HOME/var/gx`, never committed."""
    return (settings or load_settings()).home / "var" / "gx"


def data_docs_index(settings: Settings | None = None) -> Path:
    """The Data Docs site's front page, rebuilt by every checkpoint run."""
    return gx_runtime_dir(settings) / "data_docs" / "local_site" / "index.html"


def open_context(warehouse_dsn: str, settings: Settings | None = None) -> FileDataContext:
    """The committed File Data Context, its `${...}` variables pointed at this warehouse and home.

    One context per process and (warehouse, runtime directory): loading it reads and validates every
    suite, validation definition and checkpoint of `expectations/`, so a task that validates several
    slices opens it once. GX resolves `${EPIFEEDS_GX_WAREHOUSE_URL}` when it connects, so the variables
    are set again on every call (a process may validate two warehouses in turn, as the tests do).
    """
    runtime = gx_runtime_dir(settings)
    runtime.mkdir(parents=True, exist_ok=True)
    os.environ[WAREHOUSE_URL_VARIABLE] = _sqlalchemy_url(warehouse_dsn)
    os.environ[RUNTIME_DIR_VARIABLE] = str(runtime)
    return _cached_context(os.environ[WAREHOUSE_URL_VARIABLE], str(runtime))


@lru_cache(maxsize=4)
def _cached_context(warehouse_url: str, runtime_dir: str) -> FileDataContext:
    import great_expectations as gx

    return gx.get_context(mode="file", context_root_dir=str(CONTEXT_DIR))


def build_data_docs(warehouse_dsn: str, settings: Settings | None = None) -> Path:
    """Rebuild the whole Data Docs site from the stored validation results; returns its index.html."""
    context = open_context(warehouse_dsn, settings)
    with _runtime_lock(settings):
        context.build_data_docs()
    return data_docs_index(settings)


@contextmanager
def _runtime_lock(settings: Settings | None = None) -> Iterator[None]:
    """One Data Docs update at a time per runtime directory: parallel tasks (LocalExecutor) would
    otherwise rewrite the index over each other. Validations themselves run unlocked (each result is
    its own file)."""
    with open(gx_runtime_dir(settings) / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _validate(
    context: FileDataContext, name: str, run_id: str, batch_parameters: dict[str, Any] | None = None
) -> list[tuple[ValidationResultIdentifier, Any]]:
    """Checkpoint `name`'s validations, as `Checkpoint.run` makes them, without its actions: the
    checkpoint's one action (update_data_docs) is run once for the whole task by `_update_data_docs`."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    checkpoint = context.checkpoints.get(name)
    run = RunIdentifier(run_name=run_id)
    results = []
    for definition in checkpoint.validation_definitions:
        result = definition.run(
            checkpoint_id=checkpoint.id,
            batch_parameters=batch_parameters or {},
            result_format=checkpoint.result_format,
            run_id=run,
        )
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=definition.suite.name),
            run_id=run,
            batch_identifier=result.batch_id,
        )
        results.append((key, result))
    return results


def _update_data_docs(context: FileDataContext, keys: list[ValidationResultIdentifier]) -> None:
    """What each checkpoint's update_data_docs action does, once for all of a task's results: the page
    of each result and of its suite, then the index (which re-reads the latest results: the costly part)."""
    if not keys:
        return
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    suites = sorted({key.expectation_suite_identifier.name for key in keys})
    identifiers = [*keys, *(ExpectationSuiteIdentifier(name=suite) for suite in suites)]
    with _runtime_lock():
        context.build_data_docs(resource_identifiers=identifiers, build_index=True)


def validate_landing_slices(
    warehouse_dsn: str, slices: Iterable[tuple[FeedContract, date]], run_id: str
) -> list[dict]:
    """Run each feed's checkpoint on the current version of each (feed, report date) slice
    (`landing.<feed>__current`, daily batch on the contract's date column), in one GX context and one
    Data Docs update; every expectation goes to dq.check_results. Returns a short summary per slice."""
    context = open_context(warehouse_dsn)
    summaries, keys = [], []
    with psycopg.connect(warehouse_dsn) as conn:
        for contract, report_date in slices:
            suite = suite_name(contract)
            if _has_current_rows(conn, contract, report_date):
                day = {"year": report_date.year, "month": report_date.month, "day": report_date.day}
                [(key, validation)] = _validate(context, suite, run_id, day)
                keys.append(key)
                items, statistics = (
                    [item.to_json_dict() for item in validation.results],
                    validation.statistics,
                )
            else:  # GX has no batch for a day without rows; e.g. a registry date whose rows were all superseded
                skipped = f"no current rows in {current_view_name(contract)} for {report_date}"
                items, statistics = [], {"skipped": skipped}
            results = [_check_result(item, feed=contract.feed, report_date=report_date) for item in items]
            store_check_run(
                conn,
                suite=suite,
                feed=contract.feed,
                report_date=report_date,
                run_id=run_id,
                results=results,
                statistics=statistics,
            )
            summaries.append(
                {
                    "suite": suite,
                    "report_date": report_date.isoformat(),
                    "checks": len(results),
                    "failed": sum(r.status == "fail" for r in results),
                }
            )
    _update_data_docs(context, keys)
    return summaries


def validate_landing_slice(
    warehouse_dsn: str, contract: FeedContract, report_date: date, run_id: str
) -> dict:
    """One slice (see `validate_landing_slices`, which a task validating several slices should call once)."""
    [summary] = validate_landing_slices(warehouse_dsn, [(contract, report_date)], run_id)
    return summary


def _has_current_rows(conn: psycopg.Connection, contract: FeedContract, report_date: date) -> bool:
    query = f"select exists (select from {current_view_name(contract)} where {contract.date_column} = %s)"
    with conn.transaction():
        return conn.execute(query, (report_date,)).fetchone()[0]


def validate_marts(warehouse_dsn: str, run_id: str) -> dict:
    """Run the marts checkpoint (every `marts__<table>` suite on its whole table); one dq.check_runs
    row per mart, every expectation in dq.check_results. Returns a short summary."""
    context = open_context(warehouse_dsn)
    validations = _validate(context, MARTS_CHECKPOINT, run_id)
    summary: dict[str, Any] = {"checkpoint": MARTS_CHECKPOINT, "checks": 0, "failed": 0, "failed_suites": []}
    with psycopg.connect(warehouse_dsn) as conn:
        for _, validation in validations:
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
    _update_data_docs(context, [key for key, _ in validations])
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
