"""Every module of the package imports on its own, first, in a fresh process: no import cycle hides in one order.

The modules are found by walking the package folders (each top-level folder with an `__init__.py` is
`spot.<folder>`), so a new module is covered without being listed. Modules that need an optional dependency
which is absent here (ROS 2, spconv, TensorRT) skip with that reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def package_modules() -> list[str]:
    """`spot.<part>.<...>` of every .py file under each top-level package folder of the repository."""
    modules = []
    for folder in sorted(p for p in REPO.iterdir() if (p / "__init__.py").is_file()):
        package = f"spot.{folder.name}"
        assert Path(find_spec(package).origin).resolve() == folder / "__init__.py", f"{package} is not {folder}"
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            modules.append(".".join((package, *parts[: -1 if parts[-1] == "__init__" else None])))
    return modules


MODULES = package_modules()


@pytest.fixture(scope="module")
def import_results() -> dict[str, dict]:
    """Each module imported first in its own fork of a fresh interpreter (`tests/import_each.py`): as every
    module is the first `spot` module its process loads, the order they run in does not matter."""
    script = [sys.executable, str(REPO / "tests" / "import_each.py"), *MODULES]
    run = subprocess.run(script, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["module"]: r for r in map(json.loads, run.stdout.splitlines())}
    assert set(results) == set(MODULES)
    return results


def test_the_walk_finds_every_part():
    parts = {name.split(".")[1] for name in MODULES}
    assert {"runtime", "sim", "trainer", "export"} <= parts
    assert "spot.trainer.engine.task" in MODULES and "spot.runtime.io" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first_in_a_fresh_process(module, import_results):
    result = import_results[module]
    if result["status"] == "missing":
        pytest.skip(result["detail"])
    assert result["status"] == "ok", result["detail"]
