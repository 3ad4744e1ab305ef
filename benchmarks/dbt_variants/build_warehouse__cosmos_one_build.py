"""Benchmark variant: the earlier build_warehouse dbt step, one Cosmos `DbtBuildLocalOperator` (dbtRunner).

Cosmos clones the project into a temporary directory and writes its own profile for every run; the
difference to `one_build` is what that costs."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from epifeeds.dag_defaults import default_args
from epifeeds.warehouse import dbt_build_task


@dag(
    schedule=None,
    start_date=datetime(2022, 3, 1),
    catchup=False,
    doc_md="`make bench` only: the dbt step of build_warehouse, one Cosmos `dbt build` task.",
    tags=["epifeeds", "benchmark"],
    default_args=default_args(),
)
def build_warehouse__cosmos_one_build() -> None:
    dbt_build_task()


build_warehouse__cosmos_one_build()
