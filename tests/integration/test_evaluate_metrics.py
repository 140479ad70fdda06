"""pycocotools and the Ultralytics metric agree on coco_mini for the same predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detnas.evaluate.data import find_coco_annotations, load_data_yaml
from detnas.evaluate.metrics import coco_map, ultralytics_map, yolo_ground_truth

# Measured on coco_mini val (79 images) with the predictions below: |diff| 0.0025 (mAP50-95), 0.0029 (mAP50).
# The gap comes from COCO's crowd regions (ignored by pycocotools, absent from the YOLO labels) and maxDets=100.
TOLERANCE = 0.01


def _noisy_predictions(images: list[Path], seed: int = 0) -> list[dict]:
    """Ground truth with box noise, 20% misses, 10% wrong classes and random low-score false positives."""
    rng = np.random.default_rng(seed)
    predictions = []
    for image in images:
        classes, boxes = yolo_ground_truth(image)
        for cls, (x1, y1, x2, y2) in zip(classes, boxes, strict=True):
            if rng.random() < 0.2:
                continue
            w, h = x2 - x1, y2 - y1
            box = [x1 + rng.normal(0, 0.08) * w, y1 + rng.normal(0, 0.08) * h]
            box += [w * np.exp(rng.normal(0, 0.1)), h * np.exp(rng.normal(0, 0.1))]
            k = int(cls) if rng.random() > 0.1 else int(rng.integers(80))
            predictions.append(
                {
                    "file_name": image.name,
                    "category_id": k,
                    "bbox": [float(v) for v in box],
                    "score": float(rng.uniform(0.2, 1.0)),
                }
            )
        for _ in range(3):
            xy = rng.uniform(0, 300, 2)
            predictions.append(
                {
                    "file_name": image.name,
                    "category_id": int(rng.integers(80)),
                    "bbox": [float(xy[0]), float(xy[1]), 50.0, 50.0],
                    "score": float(rng.uniform(0.0, 0.5)),
                }
            )
    return predictions


def test_pycocotools_and_ultralytics_agree_on_coco_mini(coco_mini: Path, tmp_path: Path):
    spec = load_data_yaml(coco_mini)
    annotations = find_coco_annotations(spec.val_images)
    predictions = _noisy_predictions(spec.val_images)
    coco = coco_map(predictions, annotations, spec.names, spec.val_images)
    ultra = ultralytics_map(predictions, spec.val_images, spec.names, tmp_path)
    assert coco is not None
    assert 0.2 < coco[0] < 0.5 and 0.4 < coco[1] < 0.8  # a non-trivial operating point
    assert coco[0] == pytest.approx(ultra[0], abs=TOLERANCE)
    assert coco[1] == pytest.approx(ultra[1], abs=TOLERANCE)


def test_perfect_predictions_score_near_one_in_both(coco_mini: Path, tmp_path: Path):
    spec = load_data_yaml(coco_mini)
    predictions = []
    for image in spec.val_images:
        classes, boxes = yolo_ground_truth(image)
        for cls, (x1, y1, x2, y2) in zip(classes, boxes, strict=True):
            predictions.append(
                {
                    "file_name": image.name,
                    "category_id": int(cls),
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    "score": 0.9,
                }
            )
    coco = coco_map(predictions, find_coco_annotations(spec.val_images), spec.names, spec.val_images)
    ultra = ultralytics_map(predictions, spec.val_images, spec.names, tmp_path)
    assert coco[0] > 0.95 and ultra[0] > 0.95


def test_coco_map_refuses_images_the_json_does_not_cover(coco_mini: Path, coco8: Path):
    spec = load_data_yaml(coco_mini)
    other = load_data_yaml(coco8).val_images
    assert coco_map([], find_coco_annotations(spec.val_images), spec.names, other) is None
