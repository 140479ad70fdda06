"""mAP on the validation split: pycocotools where COCO JSON exists for every val image, else the Ultralytics metric.

Both are computed from the *same* predictions (one Ultralytics validation pass, conf 0.001, NMS IoU 0.7): the
Ultralytics figure from the validator's own matching, the COCO figure from its ``save_json``-style predictions with
image ids looked up by file name in the COCO JSON and classes mapped to COCO category ids by name (80 -> 91).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data import label_path
from .record import Metrics

VAL_CONF = 0.001
VAL_IOU = 0.7


def _coco80_to_91() -> list[int]:
    from ultralytics.data.converter import coco80_to_coco91_class

    return coco80_to_coco91_class()


def load_coco_gt(paths: Sequence[Path], file_names: set[str]) -> dict[str, Any]:
    """Merge COCO instance JSONs restricted to the given file names (ids deduplicated; official ids are global)."""
    images: dict[int, dict] = {}
    annotations: dict[int, dict] = {}
    categories: dict[int, dict] = {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        keep = {im["id"] for im in data.get("images", []) if im.get("file_name") in file_names}
        for im in data.get("images", []):
            if im["id"] in keep:
                images[im["id"]] = im
        for ann in data.get("annotations", []):
            if ann["image_id"] in keep:
                annotations[ann["id"]] = ann
        for cat in data.get("categories", []):
            categories[cat["id"]] = cat
    return {
        "images": list(images.values()),
        "annotations": list(annotations.values()),
        "categories": list(categories.values()),
    }


def category_map(names: dict[int, str], gt: dict[str, Any]) -> list[int] | None:
    """Class index -> COCO category id, by name; the standard 80 -> 91 table when names differ; None if neither fits."""
    by_name = {c["name"]: c["id"] for c in gt["categories"]}
    if all(names[i] in by_name for i in range(len(names))):
        return [by_name[names[i]] for i in range(len(names))]
    if len(names) == 80 and {c["id"] for c in gt["categories"]} <= set(_coco80_to_91()):
        return _coco80_to_91()
    return None


def coco_map(
    predictions: list[dict[str, Any]],
    annotation_files: Sequence[Path],
    names: dict[int, str],
    val_images: Sequence[Path],
) -> tuple[float, float] | None:
    """(mAP50-95, mAP50) from pycocotools, or None when the JSON cannot describe these images/classes.

    ``predictions`` are Ultralytics ``save_json`` rows with ``file_name`` and a 0-based class index in
    ``category_id``; boxes are [x, y, w, h] in original-image pixels.
    """
    file_names = {Path(p).name for p in val_images}
    gt = load_coco_gt(annotation_files, file_names)
    id_by_name = {im["file_name"]: im["id"] for im in gt["images"]}
    cats = category_map(names, gt)
    if cats is None or set(id_by_name) != file_names:
        return None
    return _coco_eval(gt, predictions, id_by_name, cats)


def coco_gt_from_labels(val_images: Sequence[Path], names: dict[int, str]) -> dict[str, Any]:
    """COCO-format ground truth built from the YOLO label files, for splits without COCO JSON.

    Every box counts (YOLO labels carry no crowd flag) and its area is the box area; pycocotools then scores the
    predictions exactly as it scores COCO val2017."""
    images, annotations = [], []
    for image_id, image in enumerate(val_images, start=1):
        from PIL import Image

        with Image.open(image) as im:
            width, height = im.size
        images.append({"id": image_id, "file_name": Path(image).name, "width": width, "height": height})
        classes, boxes = yolo_ground_truth(Path(image))
        for cls, (x1, y1, x2, y2) in zip(classes.tolist(), boxes.tolist(), strict=True):
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(cls) + 1,
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": names[i]} for i in range(len(names))]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_map_from_labels(
    predictions: list[dict[str, Any]], names: dict[int, str], val_images: Sequence[Path]
) -> tuple[float, float]:
    """(mAP50-95, mAP50) from pycocotools against ground truth read from the YOLO labels."""
    gt = coco_gt_from_labels(val_images, names)
    id_by_name = {im["file_name"]: im["id"] for im in gt["images"]}
    return _coco_eval(gt, predictions, id_by_name, [i + 1 for i in range(len(names))])


def _coco_eval(
    gt: dict[str, Any], predictions: list[dict[str, Any]], id_by_name: dict[str, int], cats: Sequence[int]
) -> tuple[float, float]:
    """(mAP50-95, mAP50) of save_json-style predictions (0-based class in ``category_id``) by pycocotools;
    ``cats`` maps a class index to the ground truth's category id."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rows = [
        {
            "image_id": id_by_name[p["file_name"]],
            "category_id": cats[int(p["category_id"])],
            "bbox": [float(x) for x in p["bbox"]],
            "score": float(p["score"]),
        }
        for p in predictions
        if p["file_name"] in id_by_name
    ]
    if not rows:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its whole table
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(rows)
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.params.imgIds = sorted(id_by_name.values())
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = [max(float(x), 0.0) for x in evaluator.stats[:2]]  # -1 means "no ground truth": report 0
    return stats[0], stats[1]


def yolo_ground_truth(image: Path) -> tuple[np.ndarray, np.ndarray]:
    """(classes, xyxy pixel boxes) of one image from its YOLO label file (polygons become their bounding box)."""
    from PIL import Image

    with Image.open(image) as im:
        width, height = im.size
    path = label_path(image)
    classes, boxes = [], []
    if path.is_file():
        for line in path.read_text().splitlines():
            values = [float(x) for x in line.split()]
            if not values:
                continue
            if len(values) == 5:
                cx, cy, w, h = values[1:]
                x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
            else:
                xs, ys = values[1::2], values[2::2]
                x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
            classes.append(int(values[0]))
            boxes.append([x1 * width, y1 * height, x2 * width, y2 * height])
    return np.array(classes, dtype=np.float32), np.array(boxes, dtype=np.float32).reshape(-1, 4)


def ultralytics_map(
    predictions: list[dict[str, Any]], val_images: Sequence[Path], names: dict[int, str], workdir: Path
) -> tuple[float, float]:
    """(mAP50-95, mAP50) by Ultralytics' own matching and AP code for save_json-style predictions and YOLO labels.

    The validator computes this during validation already; this standalone form lets a test feed identical
    predictions to both implementations.
    """
    import torch
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils.metrics import DetMetrics, box_iou

    matcher = DetectionValidator(save_dir=Path(workdir), args={"plots": False})  # only its match_predictions is used
    metrics = DetMetrics(names=dict(names))
    by_file: dict[str, list[dict[str, Any]]] = {}
    for p in predictions:
        by_file.setdefault(p["file_name"], []).append(p)
    for image in val_images:
        target_cls, target_boxes = yolo_ground_truth(Path(image))
        rows = sorted(by_file.get(Path(image).name, []), key=lambda r: -r["score"])
        conf = np.array([r["score"] for r in rows], dtype=np.float32)
        pred_cls = np.array([r["category_id"] for r in rows], dtype=np.float32)
        xywh = np.array([r["bbox"] for r in rows], dtype=np.float32).reshape(-1, 4)
        pred_boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        if len(rows) and len(target_cls):
            iou = box_iou(torch.from_numpy(target_boxes), torch.from_numpy(pred_boxes))
            tp = matcher.match_predictions(torch.from_numpy(pred_cls), torch.from_numpy(target_cls), iou).numpy()
        else:
            tp = np.zeros((len(rows), 10), dtype=bool)
        metrics.update_stats(
            {
                "tp": tp,
                "conf": conf,
                "pred_cls": pred_cls,
                "target_cls": target_cls,
                "target_img": np.unique(target_cls),
                "im_name": Path(image).name,
            }
        )
    metrics.process(save_dir=Path(workdir), plot=False)
    results = metrics.results_dict
    return float(results["metrics/mAP50-95(B)"]), float(results["metrics/mAP50(B)"])


def _proxy_validator_class():
    from ultralytics.models.yolo.detect import DetectionValidator

    class ProxyValidator(DetectionValidator):
        """Ultralytics' detection validator with class indices left unmapped in its JSON rows and no built-in
        COCO evaluation (it would need faster-coco-eval and Ultralytics' fixed COCO file layout); we map and
        evaluate with pycocotools ourselves."""

        def init_metrics(self, model) -> None:
            super().init_metrics(model)
            self.class_map = list(range(len(model.names)))

        def eval_json(self, stats: dict[str, Any]) -> dict[str, Any]:
            return stats

    return ProxyValidator


def run_validation(
    model: Path | Any,
    data_yaml: Path,
    *,
    imgsz: int,
    batch: int,
    device: str,
    save_dir: Path,
    names: dict[int, str],
    val_images: Sequence[Path],
    coco_annotations: Sequence[Path] = (),
    nas: bool = False,
) -> Metrics:
    """Validate a model once on the val split and return both metric sources' figures.

    ``model`` is a weights path, or an in-memory module for YOLO-NAS (``nas=True``), which ``ultralytics.NAS``
    validates with its own validator: the thresholds, the JSON predictions and the metrics are the same either way.
    """
    validator_cls = _proxy_validator_class()
    if nas:
        from ultralytics.models.nas.val import NASValidator

        validator_cls = type("NASProxyValidator", (validator_cls, NASValidator), {})
    target = str(model) if isinstance(model, str | Path) else model
    args = {
        "data": str(data_yaml),
        "imgsz": imgsz,
        "batch": batch,
        "device": device,
        "conf": VAL_CONF,
        "iou": VAL_IOU,
        "save_json": True,
        "plots": False,
        "verbose": False,
        "split": "val",
        "workers": 0,
        "half": False,
    }
    if isinstance(target, str):
        args["model"] = target
    validator = validator_cls(save_dir=Path(save_dir), args=args)
    stats = validator(model=target)
    predictions = list(validator.jdict)
    ul_5095, ul_50 = float(stats["metrics/mAP50-95(B)"]), float(stats["metrics/mAP50(B)"])
    coco = coco_map(predictions, coco_annotations, names, val_images) if coco_annotations else None
    source = "pycocotools"
    if coco is None and val_images:  # no COCO JSON covers these images: pycocotools against the YOLO labels
        coco, source = coco_map_from_labels(predictions, names, val_images), "pycocotools-labels"
    return Metrics(
        map50_95=coco[0] if coco else ul_5095,
        map50=coco[1] if coco else ul_50,
        metric_source=source if coco else "ultralytics",
        map50_95_ultralytics=ul_5095,
        map50_ultralytics=ul_50,
        precision=float(stats.get("metrics/precision(B)", float("nan"))),
        recall=float(stats.get("metrics/recall(B)", float("nan"))),
        val_images=len(val_images),
        predictions=len(predictions),
        coco_annotations=[str(p) for p in coco_annotations] if coco and source == "pycocotools" else [],
    )
