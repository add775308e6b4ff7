"""Every experiment config in configs/ loads and trains a step (tiny data, the config's own model and objective)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from nuscenes_tree import VERSION as NUSCENES_VERSION
from nuscenes_tree import write_nuscenes_tree
from omegaconf import OmegaConf

from spot.sim import SimulatedSequence
from spot.sim.writer import write_sequence
from spot.trainer.config import compose_yaml, load_config
from spot.trainer.engine.run import train

CONFIGS = Path(__file__).parents[2] / "configs"
EXPERIMENTS = sorted(p for folder in ("pretrain", "finetune", "eval") for p in (CONFIGS / folder).glob("*.yaml"))
# A camera-frame Car 10 m ahead of the sensor, under the identity-like calibration below (x_lidar = z_camera).
CAR = "Car 0 0 0 0 0 10 10 1.5 1.6 3.9 0 1.7 10 0\n"
CALIB = "R0_rect: 1 0 0 0 1 0 0 0 1\nTr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0\n"


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A SemanticKITTI-layout sequence and a KITTI-object split, both from three coarse simulated frames, and a
    nuScenes-lidarseg tree of three keyframes."""
    root = tmp_path_factory.mktemp("data")
    write_sequence(SimulatedSequence("vlp16", frames=3, seed=3, horizontal_resolution_deg=2.0), root / "skitti", 0)
    kitti = root / "kitti" / "training"
    for folder in ("velodyne", "label_2", "calib"):
        (kitti / folder).mkdir(parents=True)
    scan = np.fromfile(root / "skitti" / "sequences" / "00" / "velodyne" / "000000.bin", dtype="<f4")
    scan.tofile(kitti / "velodyne" / "000000.bin")
    (kitti / "label_2" / "000000.txt").write_text(CAR)
    (kitti / "calib" / "000000.txt").write_text(CALIB)
    nuscenes = write_nuscenes_tree(root / "nuscenes")
    return {"semantickitti": root / "skitti", "kitti_object": kitti, "nuscenes_lidarseg": nuscenes}


def tiny(config: Path, folders: dict[str, Path]) -> list[str]:
    """Overrides that shrink each data section to a frame or three of its own kind of dataset, and a paper-sized
    model (GPU widths) to CPU widths at the same depth; everything else is the config's own."""
    composed = compose_yaml(config)
    channels = composed.model.get("channels", [])
    overrides = [f"model.channels=[{','.join(['8'] * len(channels))}]"] if max(channels, default=0) > 128 else []
    if composed.objective.name == "also_surface":
        overrides.append("objective.queries.queries_per_scan=2000")
    for part, section in composed.data.items():
        key = f"data.{part}"
        if section.name == "multi_domain":  # each domain shrunk as its own section, the list given whole
            domains = [{**OmegaConf.to_container(domain), "data": tiny_section(domain.data, part, folders)}
                       for domain in section.domains]  # fmt: skip
            overrides.append(f"{key}.domains={json.dumps(domains)}")
        else:
            overrides += [f"{key}.{name}={json.dumps(value)}" for name, value in
                          tiny_section(section, part, folders).items() if section.get(name) != value]  # fmt: skip
    return overrides


def tiny_section(section, part: str, folders: dict[str, Path]) -> dict:
    """A dataset section shrunk to a frame or three of its own kind of dataset."""
    values = OmegaConf.to_container(section)
    if section.name == "sim":
        frames = 1 + 2 * section.get("aggregate_frames", 0)
        return {**values, "seeds": [7 if part == "train" else 8], "frames": frames, "horizontal_resolution_deg": 2.0}
    values["root"] = str(folders[section.name])
    if section.name == "nuscenes_lidarseg":
        return {**values, "version": NUSCENES_VERSION, "scenes_file": None, "scenes": None}
    return {**values, "sequences": ["00"]} if section.name == "semantickitti" else values


@pytest.mark.slow
@pytest.mark.parametrize("config", EXPERIMENTS, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_every_config_trains_a_step(tmp_path, folders, config):
    one_step = ["train.max_steps=1", "train.batch_size=1", "train.num_workers=0", "train.log_every=1",
                f"train.output_dir={tmp_path / 'run'}"]  # fmt: skip
    experiment = load_config(config, [*tiny(config, folders), *one_step])
    run_dir = train(experiment, stage="finetune")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["split"] == "train"]
    assert len(losses) == 1 and np.isfinite(losses[0])
    meta = json.loads((run_dir / "checkpoints" / "last" / "meta.json").read_text())
    assert meta["dataset_info"]["voxelization"] == experiment.voxelization.grid.to_dict()
    classes = experiment.classes.class_names if experiment.classes else ()
    assert tuple(meta["dataset_info"]["class_names"]) == classes
    domains = getattr(experiment.data.train.config, "domains", [])
    assert [d["name"] for d in meta["dataset_info"].get("domains", [])] == [d.name for d in domains]


def test_the_experiment_configs_are_all_found():
    names = {f"{p.parent.name}/{p.stem}" for p in EXPERIMENTS}
    assert {"pretrain/spot-unet-semantickitti", "finetune/det-bev-sim-hdl64", "eval/det-kitti-real",
            "finetune/det-bev-sim-hdl64-front", "eval/det-kitti-real-front", "finetune/seg-unet-real-one-scan"} <= names
    assert len(names) == 20
