"""benchmarks/det_sim_to_real.py on a tiny schedule: a seed trains, is scored on the real KITTI scans, every
labelled real car is diagnosed against the predictions, and the report is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_cached_and_version_checked, benchmark_script, run_script
from PIL import Image

from spot.runtime.boxes import Boxes
from spot.trainer.metrics.detection import (
    DetectionEvalConfig,
    detection_metrics,
    frame_statistics,
    sum_statistics,
)


@pytest.fixture
def benchmark(monkeypatch):
    tiny = ("data.train.seeds=[0]", "data.train.frames=2", "data.val.seeds=[100]", "data.val.frames=2",
            "train.max_steps=4", "train.eval_every=2", "train.num_workers=0")  # fmt: skip
    return benchmark_script("det_sim_to_real", monkeypatch, tiny)


def car_ap_of(scans: list[dict]) -> float:
    """Car AP recomputed from the cached predictions and labels by the evaluation's own metric code."""
    evaluation = DetectionEvalConfig(("car",))
    frames = []
    for scan in scans:
        predicted = np.asarray(scan["predicted"], dtype=np.float32).reshape(-1, 8)
        truth = np.asarray(scan["cars"], dtype=np.float32).reshape(-1, 7)
        frames.append(frame_statistics(Boxes(predicted[:, :7], np.zeros(len(predicted)), predicted[:, 7]),
                                       Boxes(truth, np.zeros(len(truth))), evaluation))  # fmt: skip
    return detection_metrics(sum_statistics(frames), evaluation)["ap/car"]


@pytest.mark.slow
@pytest.mark.realdata
def test_a_seed_is_scored_and_diagnosed_on_the_real_scans(benchmark, monkeypatch, tmp_path, capsys):
    out, report = tmp_path / "runs", tmp_path / "report.md"
    run_script(benchmark, monkeypatch, "--seeds", "0", "--out", str(out), "--report", str(report))
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    result = json.loads((out / "seed0" / "result.json").read_text())
    assert printed["benchmark"] == "det_sim_to_real" and printed["seeds"] == [0]
    (row,) = printed["runs"]
    assert row["real_ap"] == pytest.approx(100 * result["real"]["ap/car"])
    assert row["sim_ap"] == pytest.approx(100 * result["sim"]["ap/car"])
    assert row["real_ap_at"]["4m"] == pytest.approx(100 * result["real"]["ap/car@4m"])
    assert [step for step, _ in result["curve"]] == [2, 4]
    # the predictions kept are the evaluation's: they give the AP it reported
    assert car_ap_of(result["scans"]) == pytest.approx(result["real"]["ap/car"])

    # the two labelled real cars, over the 3 scans, each with its returns and nearest prediction
    diagnosis = row["diagnosis"]
    assert [scan["scan"] for scan in result["scans"]] == ["000000", "000001", "000002"]
    assert sorted(round(car["ahead_m"]) for car in diagnosis["cars"]) == [35, 59]
    assert sorted(round(car["distance_m"]) for car in diagnosis["cars"]) == [35, 61]
    assert all(car["returns"] > 0 for car in diagnosis["cars"])
    assert diagnosis["predictions"] == result["real"]["num_detections/car"]
    for car in diagnosis["cars"]:
        if car["nearest_m"] is not None:
            assert 1 <= car["rank"] <= diagnosis["predictions"] and 0.1 <= car["score"] <= 1
    assert diagnosis["ap_ceiling"]["4m"] >= result["real"]["ap/car@4m"]  # recall caps AP from above
    assert printed["claims"][0]["name"] == "real car AP above 0.5"
    assert printed["claims"][0]["verdict"] in {"met", "not shown", "below target", "opposite"}

    text = report.read_text()
    assert "| 0 | 000001 |" in text and "Simulator version" in text and "recall is capped at" in text
    assert json.loads(report.with_suffix(".json").read_text())["runs"] == printed["runs"]
    with Image.open(report.with_suffix(".png")) as picture:
        assert picture.width > 400

    # cached: the second invocation trains nothing; a cache from another simulator version is refused
    assert_cached_and_version_checked(benchmark, monkeypatch, capsys, out / "seed0" / "result.json",
                                      "--seeds", "0", "--out", str(out))  # fmt: skip


def test_missing_real_scans_are_one_line_and_exit_2(benchmark, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(benchmark, "REAL_SCANS", tmp_path / "absent")
    with pytest.raises(SystemExit) as exit_info:
        run_script(benchmark, monkeypatch, "--out", str(tmp_path / "runs"))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "the real KITTI scans are missing" in error and error.count("\n") == 1


def test_each_labelled_car_meets_its_nearest_prediction_and_recall_caps_ap(benchmark):
    car = [0.0, 0.0, -1.0, 4.0, 1.8, 1.5, 0.0]
    near, far = [34.7, -3.2, *car[2:]], [58.8, 16.6, *car[2:]]
    scans = [
        {"scan": "000000", "cars": [], "returns": [], "predicted": [[10.0, 0.0, *car[2:], 0.9]]},
        {"scan": "000001", "cars": [far], "returns": [9], "predicted": [[58.8, 22.0, *car[2:], 0.2]]},
        {"scan": "000002", "cars": [near], "returns": [67], "predicted": [[35.8, -3.2, *car[2:], 0.35]]},
    ]
    diagnosis = benchmark.diagnose(scans)
    (far_car, near_car) = diagnosis["cars"]
    assert far_car["nearest_m"] == pytest.approx(5.4, abs=1e-5) and far_car["rank"] == 3
    assert near_car["nearest_m"] == pytest.approx(1.1, abs=1e-5) and near_car["rank"] == 2
    assert near_car["score"] == 0.35 and near_car["ahead_m"] == 34.7 and diagnosis["predictions"] == 3
    assert diagnosis["recall"] == {"0.5m": 0.0, "1m": 0.0, "2m": 0.5, "4m": 0.5}
    # the cap is what the evaluation scores once the near car's prediction outranks the false ones
    scans[2]["predicted"][0][7] = 0.95
    assert diagnosis["ap_ceiling_mean"] == pytest.approx(car_ap_of(scans)) and diagnosis["ap_ceiling_mean"] > 0
    text = benchmark.why(diagnosis)
    assert "the car 58.8 m ahead (61.1 m away, scan 000001) has 9 returns and no car prediction within 4 m" in text
    assert "nearest car prediction 1.10 m off (score 0.35, rank 2 of 3)" in text
    assert f"1/2 within 4 m, so AP ≤ {100 * diagnosis['ap_ceiling_mean']:.1f} even were those ranked first." in text
