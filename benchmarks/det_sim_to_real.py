"""Simulator -> real for detection: does a car detector trained only on simulated scans find the real KITTI cars?

Fine-tunes configs/finetune/det-bev-sim-hdl64-front.yaml exactly as shipped (simulated HDL-64E streets, KITTI's
front range and camera view; its own schedule, only `train.num_workers=0`), per seed, and scores each run's last
checkpoint on its held-out simulated streets (`data.val`) and, as `spot-train eval --ckpt CKPT -c
configs/eval/det-kitti-real-front.yaml` does, on the 3 labelled real KITTI object scans: car AP by BEV centre
distance (nuScenes, mean over 0.5 / 1 / 2 / 4 m) against issue 15's target of 0.5. Two labelled cars decide that
number, so the report says why it is what it is: per labelled car, its range, the returns inside its box and the
nearest car prediction (how far off, its score, its rank among every car prediction over the real scans), and the
AP that recall alone caps. Prints the tables and one JSON line; `--report F.md` also writes them there with the
command, machine and time, every number as `.json` and a bird's-eye view of each real scan per seed as `.png`.
Every run caches `result.json` in its folder under `--out`: a rerun skips finished runs, and seeds can run in
parallel processes (`--seeds 0` in one, `--seeds 1` in another, then all of them for the report).

    OMP_NUM_THREADS=1 python benchmarks/det_sim_to_real.py [--seeds 0 1 2] [--out F] [--report F]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from spot.runtime.boxes import box_corners, points_in_boxes
from spot.sim import SIMULATOR_VERSION
from spot.trainer.config import ExperimentConfig, load_config
from spot.trainer.engine.checkpoint import write_atomically
from spot.trainer.engine.hooks import METRICS_FILE, read_metrics
from spot.trainer.engine.run import CHECKPOINTS, build_dataset, evaluate, experiment_info, load_for_evaluation, train
from spot.trainer.engine.task import DatasetInfo
from spot.trainer.metrics.detection import CENTRE_DISTANCES, nuscenes_ap, precision_recall
from spot.trainer.study.command import machine
from spot.trainer.study.report import cell, compare, difference_text, last_share_gain, summary

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs/finetune/det-bev-sim-hdl64-front.yaml"
REAL = REPO / "configs/eval/det-kitti-real-front.yaml"
REAL_SCANS = REPO.parent / "shared/data/lidar/kitti_object/training"  # what REAL's data sections read
SCHEDULE = ("train.num_workers=0",)  # the config's own schedule: a process per seed is the parallelism
CLASS = "car"
TARGET = 0.5  # car AP on the real scans, issue 15
RESULT = "result.json"


def run(out: Path, seed: int) -> dict:
    """Simulated and real metrics of one run's last checkpoint, its real car predictions and its held-out
    learning curve (cached)."""
    folder = out / f"seed{seed}"
    if (folder / RESULT).is_file():
        cached = json.loads((folder / RESULT).read_text())
        if cached["simulator_version"] != SIMULATOR_VERSION:
            print(f"det_sim_to_real: {folder / RESULT} was trained on simulator version "
                  f"{cached['simulator_version']}, this spot simulates {SIMULATOR_VERSION}: pass another --out",
                  file=sys.stderr)  # fmt: skip
            sys.exit(2)
        return cached
    overrides = [*SCHEDULE, f"train.seed={seed}", f"train.output_dir={folder / 'run'}"]
    started = time.time()
    run_dir = train(load_config(CONFIG, overrides), stage="finetune", resume=(folder / "run" / CHECKPOINTS).is_dir())
    last = run_dir / CHECKPOINTS / "last"
    result = {
        "sim": evaluate(last, pictures=False),
        "real": evaluate(last, REAL),  # what `spot-train eval --ckpt last -c REAL` prints, with its pictures
        "scans": real_detections(last),
        "curve": [
            [r["step"], 100 * r[f"ap/{CLASS}"]] for r in read_metrics(run_dir / METRICS_FILE) if r["split"] == "val"
        ],
        "seconds": time.time() - started,
        "simulator_version": SIMULATOR_VERSION,
    }
    write_atomically(folder / RESULT, json.dumps(result, indent=2))
    return result


def real_detections(checkpoint: Path) -> list[dict]:
    """Per real scan: its id, its labelled cars (boxes), the returns inside each, and the car predictions (box +
    score) decoded by the task's `predict`, scan by scan as REAL's evaluation batches them (`batch_size: 1`)."""
    task, config, info, _ = load_for_evaluation(checkpoint, REAL)
    car = task.spec.class_names.index(CLASS)
    scans = []
    for frame in real_frames(config, info):
        truth = task.frame_boxes(frame)
        truth = truth.select(truth.class_ids == car)
        predicted = task.predict(task.collate([frame]))[0]
        predicted = predicted.select(predicted.class_ids == car)
        owner = points_in_boxes(frame.sample.scan.xyz, truth.data)
        scans.append({
            "scan": Path(frame.sample.source).stem,
            "cars": truth.data.tolist(),
            "returns": np.bincount(owner[owner >= 0], minlength=len(truth)).tolist(),
            "predicted": np.column_stack([predicted.data, predicted.scores]).tolist(),  # box columns, then score
        })  # fmt: skip
    return scans


def real_frames(config: ExperimentConfig, info: DatasetInfo) -> list:
    """The real scans as REAL's `data.val` yields them (front view applied)."""
    dataset = build_dataset(config.data.val, info)
    return [dataset[index] for index in range(len(dataset))]


def diagnose(scans: list[dict]) -> dict:
    """Every labelled car against its nearest car prediction (rank 1: the highest score over all the real scans),
    the recall any matching could reach at each centre distance, and the AP that recall caps: what these
    predictions would score, by the evaluation's own curve and AP, were the reachable cars ranked first."""
    scores = np.array([box[7] for scan in scans for box in scan["predicted"]])
    cars = []
    for scan in scans:
        predicted = np.asarray(scan["predicted"], dtype=np.float64).reshape(-1, 8)
        for box, returns in zip(scan["cars"], scan["returns"], strict=True):
            car = {"scan": scan["scan"], "ahead_m": box[0], "distance_m": float(np.hypot(box[0], box[1])),
                   "returns": returns, "nearest_m": None, "score": None, "rank": None}  # fmt: skip
            if len(predicted):
                gaps = np.linalg.norm(predicted[:, :2] - np.asarray(box[:2]), axis=1)
                nearest = int(np.argmin(gaps))
                score = float(predicted[nearest, 7])
                car |= {"nearest_m": float(gaps[nearest]), "score": score, "rank": 1 + int(np.sum(scores > score))}
            cars.append(car)
    reached = {f"{d:g}m": sum(c["nearest_m"] is not None and c["nearest_m"] < d for c in cars)
               for d in CENTRE_DISTANCES}  # fmt: skip
    ceiling = {}
    for key, found in reached.items():
        hits = np.zeros(len(scores))
        hits[: min(found, len(scores))] = 1  # two cars may share their nearest prediction: one match
        ceiling[key] = nuscenes_ap(*precision_recall(hits, np.ones(len(scores)), len(cars)))
    return {"cars": cars, "predictions": len(scores), "recall": {k: n / len(cars) for k, n in reached.items()},
            "ap_ceiling": ceiling, "ap_ceiling_mean": float(np.mean(list(ceiling.values())))}  # fmt: skip


def why(diagnosis: dict) -> str:
    """The diagnosis in one sentence: each car and what the nearest prediction makes of it, then the recall cap."""
    reach, n = max(CENTRE_DISTANCES), len(diagnosis["cars"])
    parts = []
    for car in diagnosis["cars"]:
        seen = (f"the car {car['ahead_m']:.1f} m ahead ({car['distance_m']:.1f} m away, scan {car['scan']}) has "
                f"{car['returns']} returns")  # fmt: skip
        if car["nearest_m"] is None or car["nearest_m"] >= reach:
            parts.append(f"{seen} and no car prediction within {reach:g} m")
        else:
            parts.append(f"{seen} and its nearest car prediction {car['nearest_m']:.2f} m off (score "
                         f"{car['score']:.2f}, rank {car['rank']} of {diagnosis['predictions']})")  # fmt: skip
    caps = ", ".join(f"{round(r * n)}/{n} within {key.removesuffix('m')} m" for key, r in diagnosis["recall"].items())
    cap = 100 * diagnosis["ap_ceiling_mean"]
    return f"{'; '.join(parts)}: recall is capped at {caps}, so AP ≤ {cap:.1f} even were those ranked first."


def seed_row(seed: int, result: dict) -> dict:
    """One seed's numbers for the report (AP in points)."""
    real = result["real"]
    return {
        "seed": seed, "sim_ap": 100 * result["sim"][f"ap/{CLASS}"], "real_ap": 100 * real[f"ap/{CLASS}"],
        "real_ap_at": {f"{d:g}m": 100 * real[f"ap/{CLASS}@{d:g}m"] for d in CENTRE_DISTANCES},
        "diagnosis": diagnose(result["scans"]), "plateau": last_share_gain(result["curve"]),
        "minutes": result["seconds"] / 60, "sim": result["sim"], "real": real, "scans": result["scans"],
    }  # fmt: skip


def markdown(report: dict) -> str:
    rows, distances = report["runs"], list(report["runs"][0]["real_ap_at"])
    lines = ["# Simulator -> real: a car detector trained on simulated scans only, scored on real KITTI scans "
             "(issue 15)", "",
             "Generated by `benchmarks/det_sim_to_real.py`; do not edit by hand. Command:", "",
             f"    {report['command']}", "",
             f"Machine: {report['machine']}; {report['minutes']:.0f} min of training and scoring in this invocation "
             "(cached runs cost nothing; each run's own time is in the table). Config "
             f"`{report['config']}` as shipped, with `{' '.join(report['schedule'])}`; seeds {report['seeds']}; "
             f"last checkpoint. Simulator version {report['simulator_version']}. Real: the labelled KITTI object "
             f"scans of `../shared/data/lidar`, scored as `{report['real_config']}` scores them (front range, front "
             "camera's view). Car AP in points (AP x 100): BEV centre distance (nuScenes), mean over "
             f"{', '.join(distances)}; issue 15's target {TARGET:g} is {100 * TARGET:.0f}.", "",
             "| seed | simulated car AP | real car AP | " + " | ".join(f"real @{d}" for d in distances)
             + " | real car predictions | AP cap from recall | minutes |",
             "|" + " --- |" * (len(distances) + 6)]  # fmt: skip
    for row in rows:
        lines.append(f"| {row['seed']} | {row['sim_ap']:.1f} | **{row['real_ap']:.1f}** | "
                     + " | ".join(f"{row['real_ap_at'][d]:.1f}" for d in distances)
                     + f" | {row['diagnosis']['predictions']} | {100 * row['diagnosis']['ap_ceiling_mean']:.1f} | "
                     f"{row['minutes']:.1f} |")  # fmt: skip
    car_ap = report["car_ap"]
    lines += [f"| mean ± std | {cell(car_ap['sim'])} | **{cell(car_ap['real'])}** | "
              + " | ".join(cell(car_ap["real_at"][d]) for d in distances) + " | | | |", "",
              "| claim | difference (points, mean [95 % interval]) | verdict |", "| --- | --- | --- |"]  # fmt: skip
    for claim in report["claims"]:
        lines.append(f"| {claim['name']} | {difference_text(claim['difference'])} | **{claim['verdict']}** |")
    lines += ["", "### Why: every labelled real car against the nearest car prediction", "",
              "Rank 1 is the highest-scoring car prediction over all the real scans; ahead: along the sensor's x "
              "axis, distance: from the sensor in the ground plane; returns: the scan's points inside the label box. "
              "The AP cap from recall in the first table is what a run's car predictions would score were every "
              "labelled car with one within the centre distance ranked above all the others.", "",
              "| seed | scan | ahead (m) | distance (m) | returns in box | nearest car prediction (m) | its score "
              "| its rank |", "|" + " --- |" * 8]  # fmt: skip
    for row in rows:
        for car in row["diagnosis"]["cars"]:
            found = car["nearest_m"] is not None
            lines.append(f"| {row['seed']} | {car['scan']} | {car['ahead_m']:.1f} | {car['distance_m']:.1f} | "
                         f"{car['returns']} | "
                         + (f"{car['nearest_m']:.2f} | {car['score']:.2f} | {car['rank']} of "
                            f"{row['diagnosis']['predictions']} |" if found else "none | – | – |"))  # fmt: skip
    lines += [""] + [f"- Seed {row['seed']}: {why(row['diagnosis'])}" for row in rows]
    lines += ["", "Held-out simulated car AP gained over the schedule's last third (points; near zero: the run had "
              "plateaued): " + ", ".join(f"seed {r['seed']} {r['plateau']:+.1f}" for r in rows) + "."]  # fmt: skip
    if "figure" in report:
        lines += ["", f"![the real scans from above, per seed: labelled cars and car predictions]({report['figure']})"]
    return "\n".join(lines) + "\n"


def draw_scans(report: dict, path: Path) -> None:
    """Per seed (rows) and real scan (columns): the scan's points from above, the labelled cars in red and the
    car predictions (all above the decode's score floor) coloured by score."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    config = load_config(REAL)
    x_min, y_min, _, x_max, y_max, _ = config.voxelization.grid.point_cloud_range
    frames = real_frames(config, experiment_info(config))
    points = {Path(frame.sample.source).stem: frame.sample.scan.xyz for frame in frames}
    rows = report["runs"]
    figure, axes = plt.subplots(
        len(rows), len(frames), figsize=(4.6 * len(frames), 4.4 * len(rows)), squeeze=False, layout="constrained"
    )
    colours = plt.get_cmap("viridis")
    for row, row_axes in zip(rows, axes, strict=True):
        for scan, axis in zip(row["scans"], row_axes, strict=True):
            xyz = points[scan["scan"]]
            axis.scatter(xyz[:, 0], xyz[:, 1], s=0.05, c="0.6", rasterized=True)
            for corners in box_corners(np.asarray(scan["cars"]).reshape(-1, 7))[:, :4, :2]:
                axis.fill(*corners.T, fill=False, edgecolor="red", linewidth=1.5)
            predicted = np.asarray(scan["predicted"]).reshape(-1, 8)
            for corners, score in zip(box_corners(predicted[:, :7])[:, :4, :2], predicted[:, 7], strict=True):
                axis.fill(*corners.T, fill=False, edgecolor=colours(score), linewidth=1.0)
            axis.set(xlim=(x_min, x_max), ylim=(y_min, y_max), aspect="equal", xlabel="x (m)", ylabel="y (m)",
                     title=f"seed {row['seed']}, scan {scan['scan']}\n{len(predicted)} car predictions")  # fmt: skip
    scale = plt.cm.ScalarMappable(plt.Normalize(0, 1), colours)
    figure.colorbar(scale, ax=axes, label="car prediction score (labelled cars: red)")
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/det-sim-to-real"))
    parser.add_argument("--report", type=Path, help="also write the report here (markdown), with .json and .png")
    args = parser.parse_args()
    if not REAL_SCANS.is_dir():
        print(f"det_sim_to_real: the real KITTI scans are missing: expected {REAL_SCANS} (../shared/data/lidar "
              "beside the repository)", file=sys.stderr)  # fmt: skip
        sys.exit(2)
    args.out = args.out.resolve()
    report_path = None if args.report is None else args.report.resolve()  # before the chdir below
    os.chdir(REPO)  # the real data config's root is relative to the repository root, as documented
    started = time.time()
    rows = [seed_row(seed, run(args.out, seed)) for seed in args.seeds]
    real = [row["real_ap"] for row in rows]
    report = {
        "command": shlex.join(["python", *sys.argv]), "machine": machine("cpu"),
        "config": str(CONFIG.relative_to(REPO)), "real_config": str(REAL.relative_to(REPO)),
        "schedule": list(SCHEDULE), "seeds": args.seeds, "simulator_version": SIMULATOR_VERSION,
        "minutes": (time.time() - started) / 60,
        "car_ap": {"sim": summary([row["sim_ap"] for row in rows]), "real": summary(real),
                   "real_at": {d: summary([row["real_ap_at"][d] for row in rows]) for d in rows[0]["real_ap_at"]}},
        "claims": [{"name": f"real car AP above {TARGET:g}", **compare(real, [100 * TARGET] * len(real))}],
        "runs": rows,
    }  # fmt: skip
    if report_path is not None:
        figure = report_path.with_suffix(".png")
        report["figure"] = figure.name
        draw_scans(report, figure)
        report_path.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    if report_path is not None:
        report_path.write_text(text)
    print(text)
    print(json.dumps({"benchmark": "det_sim_to_real", **report}))


if __name__ == "__main__":
    main()
