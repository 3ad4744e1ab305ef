"""Benchmark variant: build_warehouse's dbt step as it ships (one in-process `dbt build` task), unscheduled."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from epifeeds.dag_defaults import default_args
from epifeeds.dbt_operator import DbtRunnerBuildOperator


@dag(
    schedule=None,
    start_date=datetime(2022, 3, 1),
    catchup=False,
    doc_md="`make bench` only: the dbt step of build_warehouse, one `dbt build` task.",
    tags=["epifeeds", "benchmark"],
    default_args=default_args(),
)
def build_warehouse__one_build() -> None:
    DbtRunnerBuildOperator(task_id="dbt_build")


build_warehouse__one_build()
