import pytest
import torch

from spot.trainer.config import load_config
from spot.trainer.engine.run import evaluate, train
from spot.trainer.objectives.segmentation_task import segmentation_metrics

from .experiments import train_losses, write_experiment


def test_metrics_hand_computed():
    # rows = truth, columns = prediction; class 2 never occurs in the truth and is left out of the mean.
    confusion = torch.tensor([[3.0, 1.0, 0.0], [1.0, 1.0, 2.0], [0.0, 0.0, 0.0]])
    metrics = segmentation_metrics(confusion, ("road", "car", "pole"))
    assert metrics["iou/road"] == pytest.approx(3 / 5)
    assert metrics["iou/car"] == pytest.approx(1 / 5)
    assert "iou/pole" not in metrics
    assert metrics["miou"] == pytest.approx((3 / 5 + 1 / 5) / 2)
    assert metrics["accuracy"] == pytest.approx(4 / 8)


@pytest.mark.slow
def test_finetune_from_a_pretrained_backbone_learns_segmentation(tmp_path, caplog):
    occupancy = {"name": "spot_occupancy", "target": "semantic", "occupancy_voxel_size": [0.6, 0.6, 0.6]}
    pretrained = train(load_config(write_experiment(tmp_path / "pre", occupancy, True, steps=10)), stage="pretrain")
    segmentation = {"name": "semantic_segmentation"}
    checkpoint = pretrained / "checkpoints" / "last"
    config = write_experiment(tmp_path / "fine", segmentation, True, steps=40, pretrained={"path": str(checkpoint)})
    with caplog.at_level("INFO"):
        run_dir = train(load_config(config), stage="finetune")
    report = " ".join(record.getMessage() for record in caplog.records)
    assert "loaded" in report and "0 new" in report  # every backbone tensor came from the pre-training run
    losses = train_losses(run_dir)
    assert losses[-1] < 0.5 * losses[0]
    metrics = evaluate(run_dir / "checkpoints" / "last", None, [])
    # 40 steps on 8 VLP-16 frames: far from converged, but well past chance on the large classes.
    assert metrics["miou"] > 0.12 and metrics["iou/road"] > 0.5 and metrics["iou/car"] > 0.1
