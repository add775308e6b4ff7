"""Small simulated experiments for objective tests: VLP-16 sequences and a 3-level UNet unless a test picks
another sensor or model, a few dozen steps."""

import json
from pathlib import Path

import yaml

DATA = {"name": "sim", "sensor": "vlp16", "frames": 4, "horizontal_resolution_deg": 0.6}
GRID = {"point_cloud_range": [-19.2, -19.2, -3.2, 19.2, 19.2, 1.6], "voxel_size": [0.3, 0.3, 0.3]}
SEMANTIC_KITTI = {"label_map": "semantickitti"}


UNET = {"name": "sparse_unet", "channels": [16, 32, 64], "encoder_blocks": 1, "decoder_blocks": 1}


def write_experiment(
    folder: Path,
    objective: dict,
    use_labels: bool,
    steps: int,
    data: dict = DATA,
    model: dict = UNET,
    train_seeds: tuple[int, ...] = (0, 1),
    val_seeds: tuple[int, ...] = (50,),
    classes: dict | None = SEMANTIC_KITTI,
    **extra,
) -> Path:
    """A config whose run folder is `folder / "run"`, on `GRID`; `extra` adds top-level sections (e.g.
    `pretrained`). Simulated data gets `train_seeds` / `val_seeds`; data on disk (`root`) is used as given."""
    values = {
        "name": objective["name"],
        "voxelization": GRID,
        "classes": classes,
        "data": {
            "train": {**data, **_sequences(data, train_seeds, None), "use_labels": use_labels},
            "val": {**data, **_sequences(data, val_seeds, 2), "use_labels": use_labels},
        },
        "model": model,
        "objective": objective,
        "optim": {"lr": 0.01},
        "schedule": {"name": "onecycle", "pct_start": 0.2},
        "train": {
            "max_steps": steps,
            "batch_size": 2,
            "num_workers": 0,
            "log_every": 5,
            "eval_every": steps,
            "output_dir": str(folder / "run"),
        },
        **extra,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _sequences(data: dict, seeds: tuple[int, ...], frames: int | None) -> dict:
    """The simulator's seeds and frame count for a section; a dataset on disk keeps its own sequences."""
    if not data["name"].startswith("sim"):
        return {}
    return {"seeds": list(seeds)} | ({"frames": frames} if frames else {})


def train_losses(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if row["split"] == "train"]
