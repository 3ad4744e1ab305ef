"""Benchmark variant: the earlier design, Cosmos's one task per seed, snapshot and model (plus tests)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from epifeeds.dag_defaults import default_args
from epifeeds.warehouse import dbt_task_group


@dag(
    schedule=None,
    start_date=datetime(2022, 3, 1),
    catchup=False,
    doc_md="`make bench` only: the dbt step as Cosmos renders it, one task per model (LOCAL, dbtRunner).",
    tags=["epifeeds", "benchmark"],
    default_args=default_args(),
)
def build_warehouse__per_model() -> None:
    dbt_task_group(group_id="dbt")


build_warehouse__per_model()
