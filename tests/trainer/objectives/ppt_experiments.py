"""Two simulated domains for the PPT tests: HDL-32E labelled with SemanticKITTI's 19 classes and VLP-16 labelled
with nuScenes' 16, a 3-level UNet with decoupled norms."""

from pathlib import Path

import yaml

from .experiments import GRID, UNET

KITTI = {"name": "sim", "sensor": "hdl32", "frames": 4, "horizontal_resolution_deg": 1.0,
         "label_map": "semantickitti"}  # fmt: skip
NUSC = {"name": "sim", "sensor": "vlp16", "frames": 4, "horizontal_resolution_deg": 1.0,
        "label_map": "semantickitti_nuscenes16"}  # fmt: skip


def domains(seeds: tuple[int, ...], frames: int | None = None) -> dict:
    def section(name: str, data: dict, offset: int) -> dict:
        values = {**data, "seeds": [seed + offset for seed in seeds]}
        return {"name": name, "ratio": 1, "data": values if frames is None else {**values, "frames": frames}}

    return {"name": "multi_domain", "domains": [section("sim-kitti", KITTI, 0), section("sim-nusc", NUSC, 10)]}


def write_ppt_experiment(folder: Path, head: str = "decoupled", steps: int = 20, norm: dict | None = None,
                         train_seeds=(0, 1), **train) -> Path:  # fmt: skip
    values = {
        "name": "ppt",
        "voxelization": GRID,
        "data": {"train": domains(train_seeds), "val": domains((50, 51, 52, 53), frames=2)},
        "model": {**UNET, "norm": norm if norm is not None else {"decouple": True}},
        "objective": {"name": "ppt_segmentation", "head": head},
        "optim": {"lr": 0.01},
        "schedule": {"name": "onecycle", "pct_start": 0.2},
        "train": {"max_steps": steps, "batch_size": 2, "num_workers": 0, "log_every": 1, "eval_every": steps,
                  "output_dir": str(folder / "run"), **train},
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path
