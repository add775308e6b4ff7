"""How close simulated HDL-64E sweeps are to real KITTI / SemanticKITTI ones; prints one JSON line.

Compares points per scan, the share of points per ring (rings ordered by elevation; real KITTI rings are
recovered from the firing order, where the azimuth wraps), and the histograms of range, intensity and
labels (19 SemanticKITTI classes). Label shares are compared twice: with the few labelled scans in the shared
folder, and with the whole SemanticKITTI dataset's (the `content` ratios of its `semantic-kitti.yaml`, over
all 43,552 scans): the statistic to move the simulator towards, since the shared scans are too few to tune
on. Distances: total variation (0 = same histogram, 1 = disjoint) and, for range and intensity, the 1-D
Wasserstein distance in metres / intensity units. Surface texture per class: the median, over 0.5 m cubes
holding >= 8 points of one class, of the RMS distance to the cube's best-fit plane (foliage is a fuzzy volume,
a wall a plane plus the sensor's range noise), and the 10/50/90th percentiles of each class's height; on the
labelled real scans and the simulated ones.

    python benchmarks/sim_vs_real.py [--data ../shared/data/lidar] [--seeds 8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml

from spot.runtime.io.binary import read_kitti_bin
from spot.runtime.io.semantickitti import LabelMap, read_label_file
from spot.sim import SimulatedSequence, label_map

RANGE_BINS = np.arange(0.0, 80.5, 1.0)
INTENSITY_BINS = np.linspace(0.0, 1.0, 51)


def histogram(values: np.ndarray, bins: np.ndarray) -> np.ndarray:
    counts = np.histogram(np.clip(values, bins[0], bins[-1] - 1e-9), bins)[0].astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return round(0.5 * float(np.abs(p - q).sum()), 4)


def wasserstein(p: np.ndarray, q: np.ndarray, bins: np.ndarray) -> float:
    return round(float(np.sum(np.abs(np.cumsum(p) - np.cumsum(q)) * np.diff(bins))), 4)


def kitti_ring_shares(xyz: np.ndarray, rings: int = 64) -> np.ndarray:
    """Share of points per ring, rings sorted by elevation: a new ring starts where the azimuth wraps."""
    azimuth = np.arctan2(xyz[:, 1], xyz[:, 0])
    ring = np.concatenate([[0], np.cumsum(np.diff(azimuth) < -np.pi)])
    counts = np.bincount(ring)
    elevation = np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1]))
    median = np.array([np.median(elevation[ring == r]) if counts[r] else np.inf for r in range(len(counts))])
    largest = np.sort(np.argsort(counts)[::-1][:rings])  # drop the stub of a ring split at the file start
    ordered = largest[np.argsort(median[largest])]
    return counts[ordered] / counts.sum()


def real_scans(data: Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(points (N, 4), contract labels or None) of the real HDL-64E scans in the shared folder."""
    label_map = LabelMap.from_yaml(data / "semantickitti" / "semantic-kitti.yaml")
    scans = []
    for path in sorted((data / "semantickitti" / "sequences" / "00" / "velodyne").glob("*.bin")):
        scan = read_kitti_bin(path)
        semantic, _ = read_label_file(path.parents[1] / "labels" / f"{path.stem}.label", len(scan))
        scans.append((scan.points, label_map(semantic)))
    for path in sorted((data / "kitti_object" / "training" / "velodyne").glob("*.bin")):
        scans.append((read_kitti_bin(path).points, None))
    return scans


def dataset_label_shares(data: Path) -> np.ndarray:
    """Share of each of the 19 classes among the labelled points of the whole SemanticKITTI dataset."""
    path = data / "semantickitti" / "semantic-kitti.yaml"
    content = yaml.safe_load(path.read_text())["content"]
    raw = np.array(list(content), dtype=np.int64)
    classes = LabelMap.from_yaml(path)(raw)
    shares = np.bincount(classes[classes >= 0], weights=np.array(list(content.values()))[classes >= 0], minlength=19)
    return shares / shares.sum()


def plane_residuals(xyz: np.ndarray, labels: np.ndarray, cell: float = 0.5, min_points: int = 8):
    """RMS distance (m) to the best-fit plane of each (cube, class) holding >= `min_points`, and its class."""
    keys = np.concatenate([np.floor(xyz / cell).astype(np.int64), labels[:, None].astype(np.int64)], axis=1)
    _, group, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    kept = counts[group] >= min_points
    group, points, labels = group[kept], xyz[kept].astype(np.float64), labels[kept]
    n = np.maximum(np.bincount(group, minlength=len(counts)), 1)
    centred = points - np.stack([np.bincount(group, points[:, i], len(counts)) for i in range(3)], 1)[group] / n[
        group, None]  # fmt: skip
    covariance = np.stack([np.bincount(group, centred[:, i] * centred[:, j], len(counts)) / n
                           for i in range(3) for j in range(3)], 1).reshape(-1, 3, 3)  # fmt: skip
    smallest = np.linalg.eigvalsh(covariance)[:, 0]
    cube_class = np.full(len(counts), -1)
    cube_class[group] = labels
    used = counts >= min_points
    return np.sqrt(np.maximum(smallest[used], 0.0)), cube_class[used]


def texture(scans: list[tuple[np.ndarray, np.ndarray]], names: tuple[str, ...]) -> dict[str, float]:
    """Median plane residual (cm) per class with >= 10 cubes over `scans` [(points, labels)]."""
    per_scan = [plane_residuals(p[:, :3], lab) for p, lab in scans]
    residual, classes = (np.concatenate([scan[k] for scan in per_scan]) for k in (0, 1))
    return {name: round(100 * float(np.median(residual[classes == c])), 2)
            for c, name in enumerate(names) if (classes == c).sum() >= 10}  # fmt: skip


def heights(scans: list[tuple[np.ndarray, np.ndarray]], names: tuple[str, ...]) -> dict[str, list[float]]:
    """Per class with >= 100 points: the 10th, 50th and 90th percentile of z (m, sensor frame)."""
    z, classes = np.concatenate([p[:, 2] for p, _ in scans]), np.concatenate([lab for _, lab in scans])
    return {name: [round(float(v), 2) for v in np.percentile(z[classes == c], [10, 50, 90])]
            for c, name in enumerate(names) if (classes == c).sum() >= 100}  # fmt: skip


def road_reach(scans: list[tuple[np.ndarray, np.ndarray]], names: tuple[str, ...]) -> list[float]:
    """The 50th and 90th percentile of how far to the side of the sensor (|y|, m) the road points within 30 m
    lie: a straight street keeps them within its half width, side streets reach further."""
    road = names.index("road")
    lateral = np.concatenate([np.abs(p[(lab == road) & (np.hypot(p[:, 0], p[:, 1]) < 30.0), 1]) for p, lab in scans])
    return [round(float(v), 2) for v in np.percentile(lateral, [50, 90])]


def summary(points: list[np.ndarray], labels: list[np.ndarray], ring_shares: list[np.ndarray]) -> dict:
    stacked = np.concatenate(points)
    return {
        "points": np.array([len(p) for p in points]),
        "rings": np.mean(ring_shares, axis=0),
        "range": histogram(np.hypot(stacked[:, 0], stacked[:, 1]), RANGE_BINS),
        "intensity": histogram(stacked[:, 3], INTENSITY_BINS),
        "labels": np.bincount(np.concatenate([lab[lab >= 0] for lab in labels]), minlength=19)
        / sum(int((lab >= 0).sum()) for lab in labels),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "lidar")
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()

    real = real_scans(args.data)
    real_stats = summary([p for p, _ in real], [lab for _, lab in real if lab is not None],
                         [kitti_ring_shares(p[:, :3]) for p, _ in real])  # fmt: skip
    simulated = [SimulatedSequence("hdl64", frames=1, seed=seed).frame(0)[0] for seed in range(args.seeds)]
    sim_rings = [np.bincount(s.scan.column("ring").astype(int), minlength=64) / len(s.scan) for s in simulated]
    sim_stats = summary([s.scan.points for s in simulated], [s.labels for s in simulated], sim_rings)
    names = label_map().class_names
    dataset = dataset_label_shares(args.data)
    labelled = [(p, lab) for p, lab in real if lab is not None]
    simulated_labelled = [(s.scan.points, s.labels) for s in simulated]
    print(json.dumps({
        "benchmark": "sim_vs_real", "real_scans": len(real), "sim_scans": len(simulated),
        "points_per_scan_real": int(real_stats["points"].mean()),
        "points_per_scan_sim": int(sim_stats["points"].mean()),
        "points_relative_difference": round(float(sim_stats["points"].mean() / real_stats["points"].mean() - 1), 4),
        "ring_share_tv": total_variation(real_stats["rings"], sim_stats["rings"]),
        "range_tv": total_variation(real_stats["range"], sim_stats["range"]),
        "range_wasserstein_m": wasserstein(real_stats["range"], sim_stats["range"], RANGE_BINS),
        "intensity_tv": total_variation(real_stats["intensity"], sim_stats["intensity"]),
        "intensity_wasserstein": wasserstein(real_stats["intensity"], sim_stats["intensity"], INTENSITY_BINS),
        "label_tv": total_variation(real_stats["labels"], sim_stats["labels"]),
        "label_tv_dataset": total_variation(dataset, sim_stats["labels"]),
        "sim_label_share": {n: round(float(v), 4) for n, v in zip(names, sim_stats["labels"], strict=True) if v > 0},
        "real_label_share": {n: round(float(v), 4) for n, v in zip(names, real_stats["labels"], strict=True) if v > 0},
        "dataset_label_share": {n: round(float(v), 4) for n, v in zip(names, dataset, strict=True) if v > 0},
        "plane_residual_cm_real": texture(labelled, names),
        "plane_residual_cm_sim": texture(simulated_labelled, names),
        "height_m_p10_p50_p90_real": heights(labelled, names),
        "height_m_p10_p50_p90_sim": heights(simulated_labelled, names),
        "road_lateral_m_p50_p90_real": road_reach(labelled, names),
        "road_lateral_m_p50_p90_sim": road_reach(simulated_labelled, names),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
