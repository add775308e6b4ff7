"""loss_curve.png: validation rates and counts on axes of their own, so that neither flattens the other."""

from PIL import Image

from spot.trainer.engine.hooks import plot_metrics, split_by_scale

VAL = [
    {"step": 10, "epoch": 0, "split": "val", "miou": 0.21, "iou/car": 0.4, "points_outside_grid": 22014.0},
    {"step": 20, "epoch": 1, "split": "val", "miou": 0.35, "iou/car": 0.6, "points_outside_grid": 22014.0},
]
TRAIN = [{"step": s, "epoch": 0, "split": "train", "loss": 3.0 / s} for s in (5, 10, 15, 20)]


def test_rates_and_counts_are_split_by_their_values():
    assert split_by_scale(VAL) == (["iou/car", "miou"], ["points_outside_grid"])
    losses = [{"step": 1, "split": "val", "loss": 1.4, "accuracy": 0.5}, {"step": 2, "split": "val", "loss": 0.7}]
    assert split_by_scale(losses) == (["accuracy"], ["loss"])  # one value above 1 and it is not a rate


def test_the_picture_has_a_panel_per_scale(tmp_path):
    plot_metrics(TRAIN + VAL, tmp_path / "three.png", "run")
    plot_metrics(TRAIN, tmp_path / "one.png", "run")  # no validation: the training loss alone
    three, one = Image.open(tmp_path / "three.png"), Image.open(tmp_path / "one.png")
    assert three.size[1] == one.size[1] and three.size[0] == 3 * one.size[0]
