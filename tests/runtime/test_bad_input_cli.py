"""Bad files against the runtime's command lines, as a user meets them (issue 14): each run is a subprocess of
the installed entry point, and must end with exit code 2, one `Error:` line per bad file naming it, and no
traceback. Folders are batches: every file is processed and every failure reported before the exit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

from spot.runtime.artifact import Artifact

MAX_POINTS = 200_000  # the bound segmentation_artifact is exported with


def _points(n: int, seed: int = 0) -> np.ndarray:
    """x y z intensity inside the artifact's grid (+-51.2 m, -3..1.8 m)."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform([-20, -20, -2], [20, 20, 1], (n, 3))
    return np.column_stack([xyz, rng.uniform(0, 1, n)]).astype(np.float32)


@pytest.fixture(scope="module")
def artifact(segmentation_artifact) -> Path:
    """The session's exported segmentation model (verified on a simulated scan, no real data needed)."""
    assert Artifact.load(segmentation_artifact).max_points == MAX_POINTS
    return segmentation_artifact


def spot(command: str, *args) -> subprocess.CompletedProcess:
    """Run the console script `command` (its installed entry point) in a fresh interpreter."""
    (entry,) = [e for e in entry_points(group="console_scripts") if e.name == command]
    module, _, function = entry.value.partition(":")
    code = f"import sys; sys.argv[0] = {command!r}; from {module} import {function}; sys.exit({function}())"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def error_lines(run: subprocess.CompletedProcess) -> list[str]:
    """The `Error:` lines of a run that failed as bad input should: exit code 2 and no traceback."""
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "Traceback" not in output, output
    return [line for line in run.stderr.splitlines() if line.startswith("Error:")]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    """One file per kind of bad scan, named after what is wrong with it."""
    folder = tmp_path_factory.mktemp("bad")
    files = {name: folder / name for name in (
        "truncated.bin", "strings.npy", "complex.npy", "seven_columns.npz", "short_header.pcd", "too_many.npy",
        "all_nan.npy",
    )}  # fmt: skip
    files["truncated.bin"].write_bytes(_points(10).tobytes()[:-3])
    np.save(files["strings.npy"], np.array([["1", "2", "3", "a"]] * 5))
    np.save(files["complex.npy"], _points(5).astype(np.complex64))
    np.savez(files["seven_columns.npz"], points=np.zeros((5, 7), np.float32), columns=np.array(["x", "y", "z", "i"]))
    header = "VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 500\nHEIGHT 1\nPOINTS 500\n"
    files["short_header.pcd"].write_bytes(f"{header}DATA binary\n".encode() + _points(1000)[:, :3].tobytes())
    np.save(files["too_many.npy"], _points(MAX_POINTS + 1))
    np.save(files["all_nan.npy"], np.full((4, 4), np.nan, np.float32))
    return files


EXPECTED = {  # file -> what its Error line says
    "truncated.bin": "size 157 bytes is not a multiple of 16",
    "strings.npy": "field 'x' holds <U1 values",
    "complex.npy": "field 'x' holds complex64 values",
    "seven_columns.npz": "scan has 7 columns but 4 names",
    "short_header.pcd": "header says POINTS 500",
    "too_many.npy": f"scan has {MAX_POINTS + 1} points, more than this artifact's bound of {MAX_POINTS}",
    "all_nan.npy": "scan holds no points",
}


def test_spot_run_processes_every_file_of_a_folder_and_reports_every_failure(artifact, bad_files, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    for index, path in enumerate(bad_files.values()):
        shutil.copy(path, folder / path.name)
        np.save(folder / f"good_{index}.npy", _points(2000, seed=index))
    run = spot("spot-run", artifact, folder, "-o", tmp_path / "out", "--threads", "1", "--no-png")
    errors = error_lines(run)
    assert len(errors) == len(bad_files), run.stderr
    for name, message in EXPECTED.items():
        assert [line for line in errors if f"{folder / name}: {message}" in line], (name, run.stderr)
    assert f"{len(bad_files)} of {2 * len(bad_files)} scans failed" in run.stderr
    summaries = sorted((tmp_path / "out").glob("*.json"))
    assert [json.loads(p.read_text())["source"] for p in summaries] == sorted(str(p) for p in folder.glob("good_*"))


@pytest.mark.parametrize("name", ["strings.npy", "too_many.npy"])
def test_spot_run_on_one_bad_file_is_one_error_line(artifact, bad_files, tmp_path, name):
    (line,) = error_lines(spot("spot-run", artifact, bad_files[name], "-o", tmp_path, "--threads", "1"))
    assert line.startswith(f"Error: {bad_files[name]}: {EXPECTED[name]}"), line


def _tampered(artifact: Path, folder: Path, change) -> Path:
    copy = shutil.copytree(artifact, folder)
    change(copy)
    return copy


def _edit_spot_json(edit):
    def change(folder: Path) -> None:
        data = json.loads((folder / "spot.json").read_text())
        edit(data)
        (folder / "spot.json").write_text(json.dumps(data))

    return change


def _swap_feeds(data: dict) -> None:
    """The last submanifold map's pairs fed from the first one's: valid names, indices beyond the voxel set."""
    maps = [m["name"] for m in data["sparse_plan"]["maps"] if m["kind"] == "submanifold"]
    for spec in data["inputs"]:
        if spec.get("of") == maps[-1] and spec["feed"] in ("pairs", "counts"):
            spec["of"] = maps[0]


ARTIFACT_FAULTS = {  # issue 14.4 / 14.13 / 14.17: the artifact is blamed, in one line naming its file
    "truncated_model": (lambda f: (f / "model.onnx").write_bytes((f / "model.onnx").read_bytes()[:100_000]),
                        "model.onnx: onnxruntime cannot load the model (corrupt or truncated?)"),
    "random_model": (lambda f: (f / "model.onnx").write_bytes(os.urandom(4096)),
                     "model.onnx: onnxruntime cannot load the model"),
    "fewer_class_names": (_edit_spot_json(lambda d: d["tasks"]["segmentation"].update(
        class_names=d["tasks"]["segmentation"]["class_names"][:5],
        class_colors=d["tasks"]["segmentation"]["class_colors"][:5])),
        "spot.json: output 'voxel_logits' has shape"),
    "tiny_voxels": (_edit_spot_json(lambda d: d["voxelization"].update(voxel_size=[1e-6] * 3)),
                    "spot.json: voxel grid of 1024"),
    "three_columns": (_edit_spot_json(lambda d: d["input"].update(columns=["x", "y", "z"])),
                      "spot.json: input.columns ('x', 'y', 'z') must start with"),
    "feeds_of_another_map": (_edit_spot_json(_swap_feeds),
                             "spot.json: onnxruntime cannot run the model on the inputs spot.json describes"),
}


@pytest.mark.parametrize("fault", ARTIFACT_FAULTS)
def test_a_broken_artifact_stops_spot_run_at_once(artifact, tmp_path, fault):
    change, message = ARTIFACT_FAULTS[fault]
    broken = _tampered(artifact, tmp_path / "art", change)
    for index in range(2):
        np.save(tmp_path / f"scan_{index}.npy", _points(2000, seed=index))
    run = spot("spot-run", broken, tmp_path / "scan_0.npy", tmp_path / "scan_1.npy", "-o", tmp_path / "out")
    (line,) = error_lines(run)
    assert line.startswith(f"Error: {broken}/") and message in line, line


def test_spot_bench_reports_a_broken_artifact_and_bad_scans(artifact, bad_files, tmp_path):
    change, message = ARTIFACT_FAULTS["truncated_model"]
    (line,) = error_lines(spot("spot-bench", _tampered(artifact, tmp_path / "art", change), "--runs", "1"))
    assert message in line
    for name in ("strings.npy", "too_many.npy"):
        run = spot("spot-bench", artifact, "--input", bad_files[name], "--runs", "1", "--threads", "1")
        (line,) = error_lines(run)
        assert line.startswith(f"Error: {bad_files[name]}: {EXPECTED[name]}"), line


def test_spot_data_reads_every_file_of_a_folder(bad_files, tmp_path):
    for name in ("truncated.bin", "strings.npy"):
        shutil.copy(bad_files[name], tmp_path / name)
    np.save(tmp_path / "z_good.npy", _points(100))  # read after the bad files
    run = spot("spot-data", "stats", tmp_path)
    assert sorted(line.split(": ", 2)[1] for line in error_lines(run)) == sorted(
        str(tmp_path / name) for name in ("truncated.bin", "strings.npy")
    )
    assert json.loads(run.stdout)["samples"] == 1 and "2 of 3 scans failed" in run.stderr
    run = spot("spot-data", "show", tmp_path, "-o", tmp_path / "bev.png")
    assert len(error_lines(run)) == 2 and (tmp_path / "bev.png").stat().st_size > 0
