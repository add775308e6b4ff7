"""A PPT checkpoint deploys one domain at a time: norms folded, classifier baked, verified, run by spot-run; and it
loads into ordinary fine-tuning with `pretrained.domain`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import REPO, random_batch_norm, seeded_checkpoint

from spot.export.cli import main as export
from spot.export.exporter import ExportOptions, export_checkpoint, load_task
from spot.runtime import SpotInputError, voxelize
from spot.runtime.artifact import Artifact
from spot.runtime.cli.run import main as run
from spot.runtime.io.label_maps import NUSCENES16_CLASSES
from spot.trainer.config import load_config
from spot.trainer.engine.checkpoint import CheckpointError, load_pretrained, load_weights, read_checkpoint
from spot.trainer.engine.run import build_task, experiment_info
from spot.trainer.engine.task import DatasetInfo
from spot.trainer.models.norms import DomainNorm
from spot.trainer.sparse import SparseTensor

CONFIG = "configs/pretrain/ppt-unet-sim-language.yaml"
DOMAINS = ("sim-kitti", "sim-nusc", "sim-waymo")


@pytest.fixture(autouse=True)
def single_thread():
    """One thread, as the sparse tests: on a loaded two-core machine small parallel regions wait for time slices."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def distinct_domains(task) -> None:
    """Every domain's norms its own statistics, gamma / beta and modulation; heads random: folding must pick d's."""
    generator = torch.Generator().manual_seed(1)
    random_batch_norm(task, generator)  # each domain's own BatchNorm draws its own values
    for module in task.modules():
        if isinstance(module, DomainNorm):
            for modulation in module.domain_modulation:
                modulation.copy_(torch.randn(modulation.shape, generator=generator) * 0.2)


@pytest.fixture(scope="module")
def ppt_checkpoint(tmp_path_factory) -> Path:
    overrides = ["model.norm.adaptive=true"]  # decoupled norms with modulation: both fold
    return seeded_checkpoint(tmp_path_factory.mktemp("ppt"), CONFIG, overrides, distinct_domains)


def test_folded_domain_task_equals_the_ppt_task(ppt_checkpoint, simulated_scans):
    checkpoint = read_checkpoint(ppt_checkpoint, with_train_state=False)
    info = DatasetInfo.from_dict(checkpoint.meta["dataset_info"])
    ppt = build_task(load_config(checkpoint.path / "config.yaml"), info)
    load_weights(ppt, checkpoint.weights, ppt_checkpoint)
    ppt.eval()
    voxels = voxelize(ppt.info.grid, simulated_scans[0].scan.with_columns(("x", "y", "z", "intensity")).points)
    for name in DOMAINS:
        single, objective, producer = load_task(ppt_checkpoint, name)
        assert objective == "semantic_segmentation" and producer["domain"] == name
        assert not any(isinstance(m, DomainNorm) for m in single.modules())
        x = SparseTensor.from_voxels(voxels.features, voxels.coords, ppt.info.grid.grid_shape, 1)
        x.domain = ppt.info.domain_index(name)
        with torch.no_grad():
            expected = ppt.head(ppt.backbone(x).features, x.domain)
            (got,) = single.infer(SparseTensor.from_voxels(voxels.features, voxels.coords, x.spatial_shape, 1))
        assert got.shape[1] == len(ppt.info.domains[x.domain].class_names)
        assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_a_label_set_by_its_texts_equals_the_domains_own_head_and_scores_any_other(ppt_checkpoint, simulated_scans,
                                                                                   tmp_path):  # fmt: skip
    from spot.runtime.io.label_maps import WAYMO22_CLASSES, named_label_map

    checkpoint = read_checkpoint(ppt_checkpoint, with_train_state=False)
    ppt = build_task(
        load_config(checkpoint.path / "config.yaml"), DatasetInfo.from_dict(checkpoint.meta["dataset_info"])
    )
    load_weights(ppt, checkpoint.weights, ppt_checkpoint)
    voxels = voxelize(ppt.info.grid, simulated_scans[0].scan.with_columns(("x", "y", "z", "intensity")).points)

    def logits(task):
        with torch.no_grad():
            return task.infer(SparseTensor.from_voxels(voxels.features, voxels.coords, ppt.info.grid.grid_shape, 1))[0]

    own = ppt.for_label_set("sim-kitti", named_label_map("semantickitti").class_names)
    torch.testing.assert_close(logits(own), logits(ppt.for_domain("sim-kitti")), rtol=1e-5, atol=1e-4)
    other = ppt.for_label_set("sim-kitti", WAYMO22_CLASSES)  # sim-kitti's norms, Waymo's 22 classes
    assert other.info.class_names == WAYMO22_CLASSES
    scores = logits(other)
    assert scores.shape[1] == 22 and scores.abs().max() <= 100.0 + 1e-3  # 100 x cosine
    options = ExportOptions("portable", domain="sim-kitti", label_map="semantickitti_waymo22")
    assert export_checkpoint(ppt_checkpoint, tmp_path / "zero-shot", simulated_scans[:1], options).passed
    artifact = Artifact.load(tmp_path / "zero-shot")
    assert artifact.segmentation.class_names == WAYMO22_CLASSES
    assert artifact.producer["label_map"] == "semantickitti_waymo22" and artifact.producer["domain"] == "sim-kitti"
    decoupled = seeded_checkpoint(tmp_path, "configs/pretrain/ppt-unet-sim-decoupled.yaml", [], lambda task: None)
    with pytest.raises(SpotInputError, match="needs the language-guided head; this model's head is 'decoupled'"):
        load_task(decoupled, "sim-kitti", "semantickitti_waymo22")


@pytest.mark.slow
def test_exported_domain_verifies_and_runs(ppt_checkpoint, simulated_scan_file, tmp_path):
    artifact = tmp_path / "nusc"
    options = ["--domain", "sim-nusc", "--flavour", "portable", "--verify", str(simulated_scan_file)]
    result = CliRunner().invoke(export, [str(ppt_checkpoint), "-o", str(artifact), *options])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip().splitlines()[-1])
    assert line["passed"] and all(scan["label_agreement"] >= 0.999 for scan in line["scans"])
    loaded = Artifact.load(artifact)
    assert loaded.segmentation.class_names == NUSCENES16_CLASSES and loaded.producer["domain"] == "sim-nusc"
    ran = CliRunner().invoke(run, [str(artifact), str(simulated_scan_file), "-o", str(tmp_path / "out"),
                                   "--threads", "1", "--no-png"])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    summary = json.loads((tmp_path / "out" / "000000_000000.json").read_text())
    assert summary["class_names"] == list(NUSCENES16_CLASSES) and set(summary["points_per_class"]) <= set(
        NUSCENES16_CLASSES
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--domain", "sim-argo"], "Error: unknown domain 'sim-argo'; this model's domains: sim-kitti, sim-nusc, "
                                   "sim-waymo"),
        ([], "the checkpoint was trained on several domains (sim-kitti, sim-nusc, sim-waymo): choose the one to export "
             "with --domain NAME"),
        (["--label-map", "semantickitti_waymo22"], "--label-map needs --domain"),
        (["--domain", "sim-kitti", "--label-map", "waymo"], "unknown label map 'waymo'"),
    ],
)  # fmt: skip
def test_the_domain_must_be_one_of_the_checkpoints(ppt_checkpoint, simulated_scan_file, tmp_path, options, message):
    result = CliRunner().invoke(export, [str(ppt_checkpoint), "-o", str(tmp_path / "a"), "--verify",
                                         str(simulated_scan_file), *options])  # fmt: skip
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "a").exists()


def test_a_ppt_backbone_loads_into_ordinary_finetuning(ppt_checkpoint):
    config = load_config(REPO / "configs/finetune/seg-unet-sim-hdl64.yaml", ["data.val=null"])
    task = build_task(config, experiment_info(config))
    with pytest.raises(CheckpointError, match=r"per-domain norms \(PPT\): set pretrained.domain .*sim-kitti, sim-n"):
        load_pretrained(task, ppt_checkpoint)
    with pytest.raises(CheckpointError, match="unknown domain 'kitti'"):
        load_pretrained(task, ppt_checkpoint, domain="kitti")
    report = load_pretrained(task, ppt_checkpoint, domain="sim-waymo")
    assert not report.missing and len(report.loaded) == len([k for k in task.state_dict() if k.startswith("backbone")])
    single, _, _ = load_task(ppt_checkpoint, "sim-waymo")
    for key, value in single.backbone.state_dict().items():
        assert torch.equal(task.state_dict()[f"backbone.{key}"], value), key
    assert np.isfinite(task.backbone.stem[1].running_var.numpy()).all()
