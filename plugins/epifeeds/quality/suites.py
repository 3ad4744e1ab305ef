"""GX expectation suites for landing tables, derived from the feed contracts.

The reviewed JSON in expectations/suites/ is what runs; a unit test keeps it equal to what the
contract derives, so a contract change shows up as a suite diff in review.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from epifeeds.feeds.contracts import FeedContract
from epifeeds.feeds.names import load_district_roster
from epifeeds.settings import EXPECTATIONS_DIR

SUITES_DIR = EXPECTATIONS_DIR / "suites"


def suite_name(contract: FeedContract) -> str:
    return f"landing__{contract.feed}"


def _expectation(kind: str, rule: str, severity: str, description: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "kwargs": kwargs,
        "meta": {"rule": rule, "severity": severity, "description": description},
    }


def derive_suite(contract: FeedContract) -> dict[str, Any]:
    expectations = [
        _expectation(
            "expect_table_columns_to_match_set",
            "V1",
            "error",
            "the landing table has exactly the contract's columns",
            column_set=[c.name for c in contract.columns]
            + ["_batch_id", "_loaded_at", "_version", "_row_hash"],
            exact_match=True,
        ),
        _expectation(
            "expect_compound_columns_to_be_unique",
            "I1",
            "error",
            "one row per report and version",
            column_list=[*contract.key, "_version"],
        ),
    ]
    for column in contract.columns:
        if column.required:
            expectations.append(
                _expectation(
                    "expect_column_values_to_not_be_null",
                    "V1",
                    "error",
                    f"{column.name} is required",
                    column=column.name,
                )
            )
        if column.is_count:
            expectations.append(
                _expectation(
                    "expect_column_values_to_be_between",
                    "V1",
                    "error",
                    f"{column.name} is a non-negative count",
                    column=column.name,
                    min_value=0,
                )
            )
        if column.accepted_values:
            expectations.append(
                _expectation(
                    "expect_column_values_to_be_in_set",
                    "V1",
                    "error",
                    f"{column.name} is one of {', '.join(column.accepted_values)}",
                    column=column.name,
                    value_set=list(column.accepted_values),
                )
            )
    district_columns = [
        c.name for c in contract.columns if c.name == "district_id" or c.name.endswith("_district_id")
    ]
    for name in district_columns:
        expectations.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                "V1",
                "error",
                "every reporter is a known district"
                if name == contract.reporter_column
                else f"every {name} is a known district",
                column=name,
                value_set=sorted(d.district_id for d in load_district_roster().districts),
            )
        )
    if {"new_positives", "new_confirmed", "new_asymptomatic"} <= {c.name for c in contract.columns}:
        expectations.append(
            _expectation(
                "unexpected_rows_expectation",
                "V2",
                "error",
                "new positives equal new confirmed plus new asymptomatic",
                unexpected_rows_query=(
                    "select district_id, report_date, new_positives, new_confirmed, new_asymptomatic from {batch}"
                    " where new_positives <> new_confirmed + new_asymptomatic"
                ),
            )
        )
    for chain in contract.orderings:
        pairs = list(zip(chain, chain[1:], strict=False))
        expectations.append(
            _expectation(
                "unexpected_rows_expectation",
                "V2",
                "error",
                " <= ".join(chain) + " within each row",
                unexpected_rows_query=(
                    f"select {', '.join([*contract.key, *chain])} from {{batch}}"
                    f" where {' or '.join(f'{a} > {b}' for a, b in pairs)}"
                ),
            )
        )
    return {"name": suite_name(contract), "expectations": expectations, "meta": {"feed": contract.feed}}


def suite_path(contract: FeedContract) -> Path:
    return SUITES_DIR / f"{suite_name(contract)}.json"


def write_suite(contract: FeedContract) -> Path:
    path = suite_path(contract)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(derive_suite(contract), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def load_suite(contract: FeedContract) -> dict[str, Any]:
    return json.loads(suite_path(contract).read_text(encoding="utf-8"))
