"""The install contract: every script explains itself, the runtime never pulls in torch, and the simulator and
`spot-data` work in the base install (numpy + onnxruntime + small I/O libraries)."""

import ast
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spot.runtime.io import iter_samples
from spot.runtime.viz import class_color

SCRIPTS = ["spot-train", "spot-data", "spot-export", "spot-run", "spot-bench"]  # spot-replay: spot_ros (tests/ros_node)
BIN = Path(sys.executable).parent  # the environment's scripts, whether or not it is activated
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_has_help(script):
    result = subprocess.run([str(BIN / script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 3


def test_runtime_does_not_import_torch_nor_rosbags_until_a_bag_is_opened():
    code = "import spot.runtime, spot.runtime.io, sys; assert not {'torch', 'rosbags'} & set(sys.modules), 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_bad_input_is_one_error_line_with_exit_2():
    result = subprocess.run([str(BIN / "spot-bench"), "nowhere"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: nowhere: no spot.json: not a spot artifact")


def _absolute_imports(folder: Path):
    """(file, module) for every absolute import in the .py files under `folder`."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                yield from ((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                yield path, node.module


def _base_install_modules() -> set[str]:
    """Top-level import names of the distributions the base install requires (requirements without an extra)."""

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    required = {canonical(re.match(r"[\w.-]+", r)[0]) for r in metadata.requires("spot-lidar") if "extra ==" not in r}
    providers = metadata.packages_distributions()
    return {module for module, dists in providers.items() if any(canonical(d) in required for d in dists)}


def test_simulator_imports_only_the_runtime():
    """spot.sim = numpy + the base install's libraries + spot.runtime's contracts: nothing of trainer or torch."""
    allowed = set(sys.stdlib_module_names) | _base_install_modules()
    for path, module in _absolute_imports(REPO / "sim"):
        top = module.partition(".")[0]
        ok = module.split(".")[:2] == ["spot", "runtime"] if top == "spot" else top in allowed
        assert ok, f"{path.relative_to(REPO)} imports {module}"


def test_only_the_command_lines_of_the_runtime_import_the_simulator():
    """runtime/cli/ sits above spot.sim (spot-data simulate, spot-bench's default scan); the rest of the runtime
    imports no other part, so the simulator's imports of the runtime never close a loop."""
    for path, module in _absolute_imports(REPO / "runtime"):
        if module.startswith("spot."):
            part, command_line = module.split(".")[1], "cli" in path.relative_to(REPO / "runtime").parts
            assert part == "runtime" or (part == "sim" and command_line), f"{path.relative_to(REPO)} imports {module}"


SPOT_DATA = "from spot.runtime.cli.data import main; main()"  # the console script; argv[1:] is its command line


def test_spot_data_simulates_and_inspects_without_torch(run_without_torch, tmp_path):
    simulate = run_without_torch(SPOT_DATA, "simulate", "--sensor", "vlp16", "--frames", "2", "--seed", "3",
                                 "-o", tmp_path)  # fmt: skip
    assert simulate.returncode == 0, simulate.stderr
    assert json.loads(simulate.stdout) == {"sequence": str(tmp_path / "sequences/00"), "sensor": "vlp16",
                                           "frames": 2, "seed": 3}  # fmt: skip
    velodyne = tmp_path / "sequences/00/velodyne"
    written = list(iter_samples(velodyne))
    assert len(written) == 2 and (tmp_path / "sequences/00/occupancy/000001.npz").is_file()

    stats = run_without_torch(SPOT_DATA, "stats", velodyne)
    assert stats.returncode == 0, stats.stderr
    line = json.loads(stats.stdout)
    points = sum(len(sample.scan) for sample in written)
    assert line["samples"] == 2 and line["points"] == points > 20_000 and line["rings"] == 16
    assert sum(line["labels"].values()) == points and line["labels"]["road"] > 0

    picture = tmp_path / "f.png"
    show = run_without_torch(SPOT_DATA, "show", velodyne, "--frame", "1", "--color-by", "label", "-o", picture)
    assert show.returncode == 0, show.stderr
    assert show.stdout.startswith(f"wrote {picture} (1000x1000) from {velodyne / '000001.bin'}")
    image = np.asarray(Image.open(picture).convert("RGB"))
    names = written[1].class_names
    assert (image == class_color("road", names.index("road"))).all(axis=2).sum() > 1_000
