"""The committed Great Expectations context in `expectations/`: suites, assets, validation definitions
and checkpoints.

`expectations/` is a GX 1.x File Data Context. What is derived lives here and is written by
`write_context()`; `tests/unit/test_suites.py` keeps the committed files equal to the derivation, so
a contract change shows up as a reviewed diff:

- `suites/landing__<feed>.json`: one suite per landing table, derived from the feed contract;
- `suites/marts__<table>.json`: one suite per mart, written and reviewed by hand (only canonicalised
  here: ids filled in, keys sorted);
- the `warehouse` datasource in `great_expectations.yml` (the section from `fluent_datasources:` on):
  a table asset per landing view `landing.<feed>__current` with a daily batch definition on the
  contract's date column, and a whole-table asset per mart suite;
- `validation_definitions/<suite>.json` and `checkpoints/landing__<feed>.json` (one landing slice) and
  `checkpoints/marts.json` (every mart), each checkpoint updating the Data Docs.

Ids are UUID5s of the object's name, so regenerating is byte-for-byte stable. Nothing here imports GX:
the files are GX's own storage format, checked by loading the context in the tests.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from epifeeds.feeds.contracts import CONTRACTS, FeedContract
from epifeeds.feeds.names import load_district_roster
from epifeeds.settings import EXPECTATIONS_DIR

CONTEXT_DIR = EXPECTATIONS_DIR
CONTEXT_CONFIG = CONTEXT_DIR / "great_expectations.yml"
SUITES_DIR = CONTEXT_DIR / "suites"  # the context's expectations store
VALIDATION_DEFINITIONS_DIR = CONTEXT_DIR / "validation_definitions"
CHECKPOINTS_DIR = CONTEXT_DIR / "checkpoints"

DATASOURCE = "warehouse"
# GX substitutes it into the committed connection string; the runner sets it from the warehouse DSN.
WAREHOUSE_URL_VARIABLE = "EPIFEEDS_GX_WAREHOUSE_URL"
MARTS_SCHEMA = "marts"
MARTS_CHECKPOINT = "marts"
DAILY = "daily"
WHOLE_TABLE = "whole_table"
DATASOURCES_MARKER = "fluent_datasources:"

_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "epifeeds:expectations")
_GX_SEVERITY = {"info": "info", "warn": "warning", "error": "critical", "critical": "critical"}


def _id(kind: str, name: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{kind}:{name}"))


def suite_name(contract: FeedContract) -> str:
    return f"landing__{contract.feed}"


def mart_suite_name(table: str) -> str:
    return f"{MARTS_SCHEMA}__{table}"


def mart_tables() -> list[str]:
    """The marts with a reviewed suite (`suites/marts__<table>.json`)."""
    return sorted(
        path.stem.removeprefix(f"{MARTS_SCHEMA}__") for path in SUITES_DIR.glob(f"{MARTS_SCHEMA}__*.json")
    )


def _expectation(kind: str, rule: str, severity: str, description: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "kwargs": kwargs,
        "meta": {"rule": rule, "severity": severity, "description": description},
    }


def canonical_suite(suite: dict[str, Any]) -> dict[str, Any]:
    """A suite in GX's storage format, with stable ids; `meta.rule`/`meta.severity` are what dq stores."""
    name = suite["name"]
    expectations = []
    for spec in suite["expectations"]:
        kwargs_key = json.dumps(spec["kwargs"], sort_keys=True, ensure_ascii=False)
        expectations.append(
            {
                "id": _id("expectation", f"{name}:{spec['type']}:{kwargs_key}"),
                "kwargs": spec["kwargs"],
                "meta": spec["meta"],
                "severity": _GX_SEVERITY[spec["meta"]["severity"]],
                "type": spec["type"],
            }
        )
    return {
        "expectations": expectations,
        "id": _id("suite", name),
        "meta": suite.get("meta") or {},
        "name": name,
        "notes": suite.get("notes"),
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
    return canonical_suite(
        {"name": suite_name(contract), "expectations": expectations, "meta": {"feed": contract.feed}}
    )


def suite_path(name: str) -> Path:
    return SUITES_DIR / f"{name}.json"


def load_suite(name: str) -> dict[str, Any]:
    """A committed suite, as stored (`landing__<feed>` or `marts__<table>`)."""
    return json.loads(suite_path(name).read_text(encoding="utf-8"))


def _table_asset(
    name: str, schema: str, table: str, batch_definition: str, partitioner: Any
) -> dict[str, Any]:
    return {
        "type": "table",
        "id": _id("asset", name),
        "batch_metadata": {},
        "batch_definitions": {
            batch_definition: {
                "id": _id("batch_definition", f"{name}:{batch_definition}"),
                "partitioner": partitioner,
            }
        },
        "table_name": table,
        "schema_name": schema,
    }


def derive_datasources() -> dict[str, Any]:
    """The `fluent_datasources` section: the landing views by day, the marts whole."""
    assets = {}
    for contract in CONTRACTS.values():
        daily = {
            "column_name": contract.date_column,
            "sort_ascending": True,
            "method_name": "partition_on_year_and_month_and_day",
        }
        view = f"{contract.feed}__current"  # epifeeds.landing.schema.current_view_name, without the schema
        assets[suite_name(contract)] = _table_asset(suite_name(contract), "landing", view, DAILY, daily)
    for table in mart_tables():
        assets[mart_suite_name(table)] = _table_asset(
            mart_suite_name(table), MARTS_SCHEMA, table, WHOLE_TABLE, None
        )
    return {
        DATASOURCE: {
            "type": "postgres",
            "id": _id("datasource", DATASOURCE),
            "assets": assets,
            "connection_string": "${" + WAREHOUSE_URL_VARIABLE + "}",
        }
    }


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"id": _id(kind, name), "name": name}


def derive_validation_definition(suite: str, batch_definition: str) -> dict[str, Any]:
    """Suite `<schema>__<table>` on the asset of the same name."""
    return {
        "data": {
            "asset": _ref("asset", suite),
            "batch_definition": {
                "id": _id("batch_definition", f"{suite}:{batch_definition}"),
                "name": batch_definition,
            },
            "datasource": _ref("datasource", DATASOURCE),
        },
        "id": _id("validation_definition", suite),
        "name": suite,
        "suite": _ref("suite", suite),
    }


def derive_checkpoint(name: str, validation_definitions: list[str]) -> dict[str, Any]:
    return {
        "actions": [{"name": "update_data_docs", "site_names": [], "type": "update_data_docs"}],
        "id": _id("checkpoint", name),
        "name": name,
        "result_format": "SUMMARY",
        "validation_definitions": [_ref("validation_definition", v) for v in validation_definitions],
    }


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def derive_context_config(current: str) -> str:
    """`great_expectations.yml` with its datasource section derived (everything above it is hand-written)."""
    import yaml

    head, marker, _ = current.partition("\n" + DATASOURCES_MARKER)
    if not marker:
        raise ValueError(
            f"{CONTEXT_CONFIG} must end with a `{DATASOURCES_MARKER}` section (derived, see suites.py)"
        )
    body = yaml.safe_dump({"fluent_datasources": derive_datasources()}, sort_keys=False, allow_unicode=True)
    return head + "\n" + body


def derived_files() -> dict[Path, str]:
    """Every derived file of the context and its content."""
    files: dict[Path, str] = {}
    for contract in CONTRACTS.values():
        name = suite_name(contract)
        files[suite_path(name)] = _json(derive_suite(contract))
        files[VALIDATION_DEFINITIONS_DIR / f"{name}.json"] = _json(derive_validation_definition(name, DAILY))
        files[CHECKPOINTS_DIR / f"{name}.json"] = _json(derive_checkpoint(name, [name]))
    marts = [mart_suite_name(table) for table in mart_tables()]
    for name in marts:
        files[suite_path(name)] = _json(canonical_suite(load_suite(name)))
        files[VALIDATION_DEFINITIONS_DIR / f"{name}.json"] = _json(
            derive_validation_definition(name, WHOLE_TABLE)
        )
    files[CHECKPOINTS_DIR / f"{MARTS_CHECKPOINT}.json"] = _json(derive_checkpoint(MARTS_CHECKPOINT, marts))
    files[CONTEXT_CONFIG] = derive_context_config(CONTEXT_CONFIG.read_text(encoding="utf-8"))
    return files


def write_context() -> list[Path]:
    """Regenerate the derived files after a contract change or a new mart suite; returns what changed.

    Run by hand (`python -c "from epifeeds.quality.suites import write_context; print(write_context())"`)
    and review the diff. Never called at run time: validations only read the committed context.
    """
    changed = []
    for path, content in derived_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            changed.append(path)
    return changed
