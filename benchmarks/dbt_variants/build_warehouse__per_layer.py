"""Benchmark variant: one `dbt build` task per layer (seeds + staging, snapshots + intermediate, marts)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import chain, dag

from epifeeds.dag_defaults import default_args
from epifeeds.dbt_operator import DbtRunnerBuildOperator

LAYERS = {
    "seeds_and_staging": "resource_type:seed path:models/staging",
    "snapshots_and_intermediate": "resource_type:snapshot path:models/intermediate",
    "marts": "path:models/marts",
}


@dag(
    schedule=None,
    start_date=datetime(2022, 3, 1),
    catchup=False,
    doc_md="`make bench` only: the dbt step of build_warehouse as one `dbt build` task per layer.",
    tags=["epifeeds", "benchmark"],
    default_args=default_args(),
)
def build_warehouse__per_layer() -> None:
    chain(
        *(
            DbtRunnerBuildOperator(task_id=f"dbt_{layer}", select=selection)
            for layer, selection in LAYERS.items()
        )
    )


build_warehouse__per_layer()
