"""What one `dbt build` did, node by node, published where a data engineer looks.

The warehouse runs as one `dbt build` (one Airflow task, one dbt start-up), so Airflow's grid no longer
shows a box per model. Instead, after every build (passed or failed) this module reads dbt's
``run_results.json`` and publishes each node's outcome:

- **the task log**: one line per node (status, seconds, rows, failures), problems first, then the
  slowest; for every failing or warning test, up to ``FAILING_ROWS_SHOWN`` of the rows it returned;
- **XCom** ``dbt_nodes`` of the task: the same, as data (for the feed-health view, or `airflow tasks`);
- **dq.check_results**: every test's outcome is already there (on-run-end macro ``store_test_results``,
  ``run_id`` = dbt's invocation id); a failing test's row gains ``observed.failing_rows``, the sample.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # psycopg is imported when results are published, not when the DAG is parsed
    import psycopg

log = logging.getLogger("airflow.task")

FAILING_ROWS_SHOWN = 10
PROBLEM_STATUSES = ("error", "fail", "warn", "runtime error")
RUN_RESULTS_FILE = "run_results.json"


@dataclass(frozen=True)
class NodeResult:
    """One node of a dbt invocation: a seed, snapshot, model, data test or unit test."""

    unique_id: str
    resource_type: str
    name: str
    status: str
    seconds: float
    rows_affected: int | None
    failures: int | None
    message: str
    compiled_code: str | None

    @property
    def is_problem(self) -> bool:
        return self.status in PROBLEM_STATUSES

    @property
    def is_failing_test(self) -> bool:
        return self.resource_type == "test" and self.status in ("fail", "warn") and bool(self.compiled_code)


def read_run_results(target_dir: Path) -> tuple[str, list[NodeResult]]:
    """dbt's invocation id and every node's result from ``<target_dir>/run_results.json``."""
    document = json.loads((target_dir / RUN_RESULTS_FILE).read_text(encoding="utf-8"))
    nodes = []
    for result in document["results"]:
        unique_id = result["unique_id"]
        resource_type = unique_id.split(".", 1)[0]
        adapter = result.get("adapter_response") or {}
        nodes.append(
            NodeResult(
                unique_id=unique_id,
                resource_type=resource_type,
                name=unique_id.split(".")[-1] if resource_type == "unit_test" else unique_id.split(".")[2],
                status=str(result["status"]),
                seconds=round(float(result.get("execution_time") or 0.0), 3),
                rows_affected=adapter.get("rows_affected"),
                failures=result.get("failures"),
                message=str(result.get("message") or ""),
                compiled_code=result.get("compiled_code"),
            )
        )
    return document["metadata"]["invocation_id"], nodes


def render_node_table(nodes: list[NodeResult]) -> str:
    """A fixed-width table for the task log: problems first, then the slowest nodes."""
    ordered = sorted(nodes, key=lambda n: (not n.is_problem, -n.seconds, n.unique_id))
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.status] = counts.get(node.status, 0) + 1
    lines = [
        f"dbt build: {len(nodes)} nodes, {sum(n.seconds for n in nodes):.1f} s of node time; "
        + ", ".join(f"{status} {count}" for status, count in sorted(counts.items())),
        f"{'status':<8} {'seconds':>8} {'rows':>8} {'failures':>8}  node",
    ]
    for node in ordered:
        rows = "" if node.rows_affected is None else str(node.rows_affected)
        failures = "" if node.failures is None else str(node.failures)
        line = f"{node.status:<8} {node.seconds:>8.2f} {rows:>8} {failures:>8}  {node.unique_id}"
        if node.is_problem and node.message:
            line += f"  -- {node.message.strip().splitlines()[0][:300]}"
        lines.append(line)
    return "\n".join(lines)


def failing_rows(conn: psycopg.Connection, node: NodeResult, limit: int = FAILING_ROWS_SHOWN) -> list[dict]:
    """Up to ``limit`` rows the failing test returned, re-read with its compiled SQL."""
    import psycopg
    from psycopg.rows import dict_row

    query = f"select * from (\n{node.compiled_code}\n) as failing_rows limit {int(limit)}"
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
            return [_jsonable(row) for row in cursor.execute(query).fetchall()]
    except psycopg.Error as error:  # the sample is a help, never a reason to hide the outcome
        return [{"could_not_read_failing_rows": str(error).strip().splitlines()[0]}]


def attach_failing_rows(conn: psycopg.Connection, invocation_id: str, samples: dict[str, list[dict]]) -> int:
    """Add each failing test's sample to its row in dq.check_results; returns how many rows were updated."""
    from psycopg.types.json import Jsonb

    if not samples or conn.execute("select to_regclass('dq.check_results')").fetchone()[0] is None:
        return 0
    updated = 0
    for check_name, rows in samples.items():
        updated += conn.execute(
            "update dq.check_results set observed = observed || jsonb_build_object('failing_rows', %s::jsonb)"
            " where run_id = %s and check_name = %s",
            (Jsonb(rows), invocation_id, check_name),
        ).rowcount
    return updated


def publish_run_results(target_dir: Path, warehouse_dsn: str | None) -> dict[str, Any]:
    """Log every node's outcome, sample failing tests' rows into the log and dq.check_results; a summary."""
    import psycopg

    invocation_id, nodes = read_run_results(target_dir)
    log.info("%s\n(dbt invocation %s: dq.check_results run_id)", render_node_table(nodes), invocation_id)
    samples: dict[str, list[dict]] = {}
    failing = [node for node in nodes if node.is_failing_test]
    if failing and warehouse_dsn:
        with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
            for node in failing:
                samples[node.name] = failing_rows(conn, node)
                log.warning(
                    "%s %s (%s rows): first %d:\n%s",
                    node.status.upper(),
                    node.unique_id,
                    node.failures,
                    len(samples[node.name]),
                    "\n".join(json.dumps(row, ensure_ascii=False) for row in samples[node.name]),
                )
            attach_failing_rows(conn, invocation_id, samples)
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.status] = counts.get(node.status, 0) + 1
    return {
        "invocation_id": invocation_id,
        "counts": counts,
        "nodes": [
            {
                k: v
                for k, v in asdict(node).items()
                if k not in ("compiled_code", "message") or node.is_problem
            }
            for node in nodes
        ],
        "failing_rows": samples,
    }


def publish_from_cosmos(project_dir: str, context: Any = None, **_: Any) -> None:
    """Cosmos callback (``DbtBuildLocalOperator(callback=...)``): runs after dbt, whether it passed or not."""
    from epifeeds.tasks import warehouse_dsn

    target_dir = Path(project_dir) / "target"
    if not (target_dir / RUN_RESULTS_FILE).exists():
        log.warning(
            "dbt wrote no %s in %s: nothing to publish (dbt failed before running)",
            RUN_RESULTS_FILE,
            target_dir,
        )
        return
    summary = publish_run_results(target_dir, warehouse_dsn())
    if context is not None and "ti" in context:
        context["ti"].xcom_push(key="dbt_nodes", value=summary)


def _jsonable(row: dict) -> dict:
    def value(item: Any) -> Any:
        if isinstance(item, (date, datetime)):
            return item.isoformat()
        if isinstance(item, Decimal):
            return float(item)
        if isinstance(item, (str, int, float, bool)) or item is None:
            return item
        return str(item)

    return {key: value(item) for key, item in row.items()}
