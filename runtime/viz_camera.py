"""A scan drawn onto a camera image through the calibration: the check that LiDAR and camera line up.

numpy + Pillow only. Points are drawn far to near (near ones on top) as small squares, coloured by class (the
palette of `viz`), by intensity, or by depth (near red to far blue on a log scale).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import SpotInputError
from .io.cameras import CameraFrame
from .sample import Sample
from .viz import COLOR_MODES, draw_legend, intensity_colors, label_colors, label_legend

PROJECTION_COLOR_MODES = (*COLOR_MODES, "depth")
DEPTH_RAMP = np.array([(255, 40, 40), (255, 200, 0), (80, 220, 80), (40, 160, 255), (120, 60, 220)], np.float64)
DEPTH_RANGE_M = (2.0, 80.0)  # the ends of the depth ramp


def depth_colors(depth: np.ndarray) -> np.ndarray:
    """uint8 (N, 3) colours of depths along DEPTH_RAMP, log-spaced over DEPTH_RANGE_M."""
    near, far = np.log(DEPTH_RANGE_M[0]), np.log(DEPTH_RANGE_M[1])
    position = np.clip((np.log(np.maximum(depth, 1e-3)) - near) / (far - near), 0, 1) * (len(DEPTH_RAMP) - 1)
    low = np.minimum(position.astype(np.int64), len(DEPTH_RAMP) - 2)
    weight = (position - low)[:, None]
    return (DEPTH_RAMP[low] * (1 - weight) + DEPTH_RAMP[low + 1] * weight).astype(np.uint8)


def render_projection(sample: Sample, frame: CameraFrame, color_by: str = "auto", point_size: int = 2) -> Image.Image:
    """The camera image with the sample's points drawn where they project; `color_by`: auto (labels when the
    sample has them, else depth), label, intensity or depth."""
    if color_by not in PROJECTION_COLOR_MODES:
        raise SpotInputError(f"color_by={color_by!r}; expected one of {PROJECTION_COLOR_MODES}")
    if color_by == "label" and sample.labels is None:
        raise SpotInputError("has no per-point labels to colour by", source=sample.source or None)
    mode = ("label" if sample.labels is not None else "depth") if color_by == "auto" else color_by
    col, row, seen = frame.calibration.pixels(sample.scan.xyz)
    _, depth = frame.calibration.project(sample.scan.xyz)
    index = np.flatnonzero(seen)[np.argsort(-depth[seen], kind="stable")]  # far first: near points on top
    legend: list[tuple[str, tuple[int, int, int]]] = []
    if mode == "label":
        colors = label_colors(sample.labels[index], sample.class_names)
        legend = label_legend(sample.labels[index], sample.class_names)
    elif mode == "intensity":
        colors = intensity_colors(sample.scan.intensity[index])
    else:
        colors = depth_colors(depth[index])
        legend = [(f"{d:g} m", tuple(int(c) for c in depth_colors(np.array([d]))[0])) for d in (2, 5, 10, 20, 40, 80)]
    canvas = frame.image.copy()
    height, width = canvas.shape[:2]
    for dy in range(point_size):
        for dx in range(point_size):
            canvas[np.minimum(row[index] + dy, height - 1), np.minimum(col[index] + dx, width - 1)] = colors
    image = Image.fromarray(canvas)
    font = ImageFont.load_default(size=max(10, height // 40))
    title = f"{frame.name}: {len(index)} of {len(sample.scan)} points ({mode})"
    draw_legend(ImageDraw.Draw(image), font, legend, title)
    return image


def save_projection_png(path: str | Path, sample: Sample, frame: CameraFrame, **options) -> Image.Image:
    image = render_projection(sample, frame, **options)
    image.save(Path(path), format="PNG")
    return image
