"""Bird's-eye-view pictures of a sample: numpy + Pillow only, so spot-run can draw them on the vehicle.

The picture is centred on the sensor, +x (forward) up and +y (left) to the left, with range rings every
`ring_step_m` metres (labelled), the ego position as a triangle, points coloured by class (one fixed palette
for every part of spot) or by intensity, boxes as oriented rectangles with a heading tick, and a legend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .boxes import box_corners
from .errors import SpotInputError
from .sample import IGNORE_INDEX, Sample

BACKGROUND = (16, 16, 20)
GRID = (70, 70, 80)
TEXT = (230, 230, 230)
IGNORED_COLOR = (90, 90, 90)

# One colour per class name, shared by every picture spot draws (SemanticKITTI's own colours where it has them).
CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "car": (100, 150, 245),
    "bicycle": (100, 230, 245),
    "motorcycle": (30, 60, 150),
    "truck": (80, 30, 180),
    "other-vehicle": (100, 80, 250),
    "person": (255, 30, 30),
    "bicyclist": (255, 40, 200),
    "motorcyclist": (150, 30, 90),
    "road": (255, 0, 255),
    "parking": (255, 150, 255),
    "sidewalk": (75, 0, 75),
    "other-ground": (175, 0, 75),
    "building": (255, 200, 0),
    "fence": (255, 120, 50),
    "vegetation": (0, 175, 0),
    "trunk": (135, 60, 0),
    "terrain": (150, 240, 80),
    "pole": (255, 240, 150),
    "traffic-sign": (255, 0, 0),
    "pedestrian": (255, 30, 30),
    "cyclist": (255, 40, 200),
    "van": (120, 120, 255),
    "person_sitting": (255, 110, 110),
    "tram": (200, 100, 40),
    "misc": (180, 180, 180),
    "trailer": (255, 140, 0),
    "bus": (255, 215, 0),
    "construction_vehicle": (233, 150, 70),
    "traffic_cone": (255, 61, 99),
    "barrier": (112, 128, 144),
}
# Names outside CLASS_COLORS get one of these by class id, so a class keeps its colour across pictures.
FALLBACK_COLORS = np.array(
    [
        *((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180)),
        *((70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)),
    ],
    dtype=np.uint8,
)
# Intensity ramp (dark blue -> teal -> yellow), sampled at 0, 0.25, 0.5, 0.75, 1.
INTENSITY_RAMP = np.array([(40, 40, 120), (30, 110, 170), (40, 170, 140), (150, 210, 60), (255, 240, 40)], np.float64)
COLOR_MODES = ("auto", "label", "intensity")


def class_color(name: str, class_id: int) -> tuple[int, int, int]:
    """The fixed colour of a class: by name where spot knows it, else by id."""
    color = CLASS_COLORS.get(name.lower())
    return color if color is not None else tuple(int(c) for c in FALLBACK_COLORS[class_id % len(FALLBACK_COLORS)])


def intensity_colors(intensity: np.ndarray) -> np.ndarray:
    """uint8 (N, 3) colours of intensities in [0, 1] along INTENSITY_RAMP."""
    position = np.clip(intensity, 0, 1) * (len(INTENSITY_RAMP) - 1)
    low = np.minimum(position.astype(np.int64), len(INTENSITY_RAMP) - 2)
    weight = (position - low)[:, None]
    return (INTENSITY_RAMP[low] * (1 - weight) + INTENSITY_RAMP[low + 1] * weight).astype(np.uint8)


def label_colors(labels: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """uint8 (N, 3) colours of per-point class ids (IGNORED_COLOR where unlabeled)."""
    table = np.array([class_color(name, i) for i, name in enumerate(names)] + [IGNORED_COLOR], dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    index = np.where((labels >= 0) & (labels < len(names)), labels, len(names))
    return table[index]


class BevCanvas:
    """Metres -> pixels for a square view of +-`extent_m` around the sensor at `resolution_m` per pixel."""

    def __init__(self, extent_m: float, resolution_m: float):
        if extent_m <= 0 or resolution_m <= 0:
            raise SpotInputError(f"extent_m={extent_m} and resolution_m={resolution_m} must both be positive")
        self.extent_m, self.resolution_m = extent_m, resolution_m
        self.size = round(2 * extent_m / resolution_m)
        self.image = Image.new("RGB", (self.size, self.size), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default(size=max(12, self.size // 70))

    def to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) metres -> (N, 2) float pixel (column, row): +x up, +y left, sensor at the centre."""
        centre = self.size / 2
        return np.column_stack([centre - xy[:, 1] / self.resolution_m, centre - xy[:, 0] / self.resolution_m])

    def draw_points(self, xy: np.ndarray, colors: np.ndarray) -> None:
        pixels = np.floor(self.to_pixels(xy)).astype(np.int64)
        inside = ((pixels >= 0) & (pixels < self.size)).all(axis=1)
        array = np.asarray(self.image).copy()
        array[pixels[inside, 1], pixels[inside, 0]] = colors[inside]
        self.image.paste(Image.fromarray(array))

    def draw_grid(self, ring_step_m: float) -> None:
        """Range rings and axes (drawn under the points)."""
        centre = self.size / 2
        for radius_m in np.arange(ring_step_m, self.extent_m * 1.5, ring_step_m):
            radius = radius_m / self.resolution_m
            self.draw.ellipse([centre - radius, centre - radius, centre + radius, centre + radius], outline=GRID)
        self.draw.line([(centre, 0), (centre, self.size)], fill=GRID)
        self.draw.line([(0, centre), (self.size, centre)], fill=GRID)

    def draw_grid_labels(self, ring_step_m: float) -> None:
        """Ring distances on the lower-right diagonal, clear of the legend (drawn over the points)."""
        centre = self.size / 2
        for radius_m in np.arange(ring_step_m, self.extent_m * 1.5, ring_step_m):
            label_at = centre + radius_m / self.resolution_m * np.sqrt(0.5) + 3
            self.draw.text((label_at, label_at), f"{radius_m:g} m", fill=TEXT, font=self.font)

    def draw_ego(self) -> None:
        c, s = self.size / 2, max(6, self.size // 100)
        self.draw.polygon([(c, c - 1.6 * s), (c - s, c + s), (c + s, c + s)], outline=TEXT, fill=(200, 60, 60))

    def draw_boxes(self, boxes: np.ndarray, colors: list[tuple[int, int, int]]) -> None:
        """Oriented rectangles (bottom face) with a tick from the centre to the front edge."""
        width = max(2, self.size // 400)
        for box, corners, color in zip(boxes, box_corners(boxes), colors, strict=True):
            outline = [tuple(p) for p in self.to_pixels(corners[:4, :2])]
            self.draw.polygon(outline, outline=color, width=width)
            front = (corners[0, :2] + corners[3, :2]) / 2
            ends = self.to_pixels(np.array([box[:2], front]))
            self.draw.line([tuple(ends[0]), tuple(ends[1])], fill=color, width=width)

    def draw_legend(self, entries: list[tuple[str, tuple[int, int, int]]], title: str) -> None:
        draw_legend(self.draw, self.font, entries, title)


def draw_legend(draw: ImageDraw.ImageDraw, font, entries: list[tuple[str, tuple[int, int, int]]], title: str) -> None:
    """A title and colour swatches with their names in a box at the top left."""
    line = font.size + 6
    height = line * (len(entries) + 1) + 8
    width = max(draw.textlength(text, font=font) for text, _ in [(title, None), *entries]) + line + 16
    draw.rectangle([4, 4, 4 + width, 4 + height], fill=(0, 0, 0), outline=GRID)
    draw.text((10, 8), title, fill=TEXT, font=font)
    for row, (text, color) in enumerate(entries, start=1):
        top = 8 + row * line
        draw.rectangle([10, top + 2, 10 + line - 6, top + line - 4], fill=color)
        draw.text((10 + line, top), text, fill=TEXT, font=font)


def render_bev(
    sample: Sample,
    extent_m: float = 50.0,
    resolution_m: float = 0.1,
    color_by: str = "auto",
    ring_step_m: float = 10.0,
) -> Image.Image:
    """A square RGB picture (2 * extent_m / resolution_m pixels a side); `color_by`: auto (labels when the
    sample has them, else intensity), label or intensity."""
    if color_by not in COLOR_MODES:
        raise SpotInputError(f"color_by={color_by!r}; expected one of {COLOR_MODES}")
    if color_by == "label" and sample.labels is None:
        raise SpotInputError("has no per-point labels to colour by", source=sample.source or None)
    by_label = sample.labels is not None and color_by != "intensity"
    canvas = BevCanvas(extent_m, resolution_m)
    canvas.draw_grid(ring_step_m)
    legend: list[tuple[str, tuple[int, int, int]]] = []
    if by_label:
        order = np.argsort(np.asarray(sample.labels) == IGNORE_INDEX, kind="stable")[::-1]  # unlabeled drawn first
        canvas.draw_points(sample.scan.xyz[order, :2], label_colors(sample.labels[order], sample.class_names))
        legend += label_legend(sample.labels, sample.class_names)
    else:
        order = np.argsort(sample.scan.intensity, kind="stable")  # bright returns on top
        canvas.draw_points(sample.scan.xyz[order, :2], intensity_colors(sample.scan.intensity[order]))
        legend += [
            (f"intensity {value:g}", tuple(int(c) for c in intensity_colors(np.array([value]))[0]))
            for value in (0.0, 0.25, 0.5, 0.75, 1.0)
        ]
    if sample.boxes is not None and len(sample.boxes):
        names = [_name(sample.box_class_names, i) for i in sample.boxes.class_ids]
        colors = [class_color(name, int(i)) for name, i in zip(names, sample.boxes.class_ids, strict=True)]
        canvas.draw_boxes(sample.boxes.data, colors)
        legend += [(f"box: {name}", color) for name, color in dict(zip(names, colors, strict=True)).items()]
    canvas.draw_grid_labels(ring_step_m)
    canvas.draw_ego()
    canvas.draw_legend(legend, f"{Path(sample.source).name or sample.dataset}  ({len(sample.scan)} points)")
    return canvas.image


def save_bev_png(path: str | Path, sample: Sample, **options) -> Image.Image:
    """Render with `render_bev(sample, **options)` and write a PNG."""
    image = render_bev(sample, **options)
    image.save(Path(path), format="PNG")
    return image


def label_legend(labels: np.ndarray, names: tuple[str, ...]) -> list[tuple[str, tuple[int, int, int]]]:
    present = [int(i) for i in np.unique(labels) if 0 <= i < len(names)]
    entries = [(names[i], class_color(names[i], i)) for i in present]
    return [*entries, ("unlabeled", IGNORED_COLOR)] if (np.asarray(labels) == IGNORE_INDEX).any() else entries


def _name(names: tuple[str, ...], class_id: int) -> str:
    return names[class_id] if 0 <= class_id < len(names) else f"class_{class_id}"
