"""Bird's-eye-view pictures of detections: ground truth in class colours, predictions in white with scores.

Built on `viz.render_bev` (numpy + Pillow), so the trainer's evaluation report, the real-scan demo and the
vehicle-side tools draw boxes the same way.
"""

from __future__ import annotations

from dataclasses import replace

from PIL import Image, ImageDraw

from .boxes import Boxes
from .sample import Sample
from .viz import TEXT, BevCanvas, render_bev

PREDICTION_COLOR = (255, 255, 255)


def render_detections(
    sample: Sample,
    truth: Boxes,
    predicted: Boxes,
    class_names: tuple[str, ...],
    extent_m: float = 50.0,
    resolution_m: float = 0.1,
    min_score: float = 0.3,
) -> Image.Image:
    """The scan coloured by intensity, `truth` boxes in their class colours (legend), `predicted` boxes with a
    score of at least `min_score` in white, labelled with class and score. Class ids index `class_names`."""
    shown = replace(sample, labels=None, boxes=truth, box_class_names=tuple(class_names))
    image = render_bev(shown, extent_m=extent_m, resolution_m=resolution_m, color_by="intensity")
    canvas = BevCanvas(extent_m, resolution_m)
    canvas.image, canvas.draw = image, ImageDraw.Draw(image)  # draw over the rendered picture
    strong = predicted.select(predicted.scores >= min_score) if predicted.scores is not None else predicted
    canvas.draw_boxes(strong.data, [PREDICTION_COLOR] * len(strong))
    for box, class_id, score in zip(strong.data, strong.class_ids, strong.scores, strict=True):
        column, row = canvas.to_pixels(box[None, :2])[0]
        canvas.draw.text((column + 6, row - 6), f"{class_names[class_id]} {score:.2f}", fill=TEXT, font=canvas.font)
    note = f"white: predicted, score >= {min_score:g} ({len(strong)})"
    canvas.draw.text((8, canvas.size - canvas.font.size - 8), note, fill=TEXT, font=canvas.font)
    return image
