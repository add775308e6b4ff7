"""The install contract: every script explains itself, and the runtime never pulls in torch."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = ["spot-train", "spot-data", "spot-export", "spot-run", "spot-bench"]  # spot-replay: tests/ros_node
BIN = Path(sys.executable).parent  # the environment's scripts, whether or not it is activated


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
