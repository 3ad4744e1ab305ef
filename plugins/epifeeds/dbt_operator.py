"""The Cosmos operator build_warehouse runs: `dbt build` in-process, without an OpenLineage pass.

Imported only when a DAG is built (it imports Cosmos); see ``epifeeds.warehouse.dbt_build_task``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cosmos.operators.local import DbtBuildLocalOperator


class DbtBuildOperator(DbtBuildLocalOperator):
    """``DbtBuildLocalOperator`` minus the OpenLineage parse of every node's artifacts after the build.

    The platform runs no OpenLineage provider, yet Cosmos parses ``run_results.json`` and the manifest
    into lineage events whenever openlineage-integration-common is importable: ~5 s and ~400 warning
    lines per build on this project. Per-node results are published by ``epifeeds.dbt_results`` instead.
    """

    def calculate_openlineage_events_completes(
        self, env: dict[str, str | os.PathLike[Any] | bytes], project_dir: Path, dbt_command_line: Any = None
    ) -> bool:
        return False
