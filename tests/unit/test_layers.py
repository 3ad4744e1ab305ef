"""The layers keep their place: read from the source itself (imports), so a new module cannot slip.

- the product (`plugins/epifeeds`) never imports the simulator, whose ground truth the checks must not see;
- parsing never judges: `epifeeds.feeds` never imports `epifeeds.quality` or `epifeeds.alerts`;
- the library never imports a DAG file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from epifeeds.settings import DAGS_DIR, PLUGINS_DIR

pytestmark = pytest.mark.unit

PRODUCT = PLUGINS_DIR / "epifeeds"
DAG_MODULES = {path.stem for path in DAGS_DIR.glob("*.py")}


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module a file imports, absolute (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return found


def offending_imports(folder: Path, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    offenders = {}
    for path in sorted(folder.rglob("*.py")):
        package = ".".join(path.relative_to(PLUGINS_DIR).parts[:-1])
        bad = sorted(
            module
            for module in imported_modules(path, package)
            if any(module == name or module.startswith(name + ".") for name in forbidden)
        )
        if bad:
            offenders[str(path.relative_to(PLUGINS_DIR))] = bad
    return offenders


def test_the_product_never_imports_the_simulator() -> None:
    assert offending_imports(PRODUCT, ("epifeeds_sim",)) == {}


def test_parsing_never_judges() -> None:
    assert offending_imports(PRODUCT / "feeds", ("epifeeds.quality", "epifeeds.alerts")) == {}


def test_the_library_never_imports_a_dag_file() -> None:
    assert offending_imports(PRODUCT, tuple(sorted(DAG_MODULES)) + ("dags",)) == {}


def test_imports_are_read_relative_ones_included(tmp_path: Path) -> None:
    """The check itself works: a planted import is seen, a relative one resolved against its package."""
    planted = tmp_path / "probe.py"
    planted.write_text("from ..quality import findings\nimport epifeeds_sim.generate\n", encoding="utf-8")
    assert imported_modules(planted, "epifeeds.feeds") == {"epifeeds.quality", "epifeeds_sim.generate"}
