"""``detnas predict``: detections of any model (found design, YOLO .pt/.tflite, YOLO-NAS) on images or folders.

Writes one annotated image per input (Ultralytics' own plotting) and every detection to ``detections.json`` and
``detections.csv`` (image, class id, class name, confidence, x1, y1, x2, y2 in original-image pixels).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from detnas.evaluate.data import IMG_FORMATS
from detnas.models import load_model

DETECTION_FIELDS = ("image", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2")


@dataclass(frozen=True)
class Detection:
    image: str
    class_id: int
    class_name: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass
class PredictResult:
    detections: list[Detection]
    annotated: list[Path]
    json_path: Path
    csv_path: Path
    imgsz: int


def collect_images(sources: Sequence[str | Path]) -> list[Path]:
    """Image files from files and folders (recursively), in order; one-line errors for missing or empty inputs."""
    images: list[Path] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix[1:].lower() in IMG_FORMATS)
            if not found:
                raise ValueError(f"folder {path} holds no images ({', '.join(sorted(IMG_FORMATS))})")
            images += found
        elif path.is_file():
            if path.suffix[1:].lower() not in IMG_FORMATS:
                raise ValueError(f"{path} is not an image ({', '.join(sorted(IMG_FORMATS))})")
            images.append(path)
        else:
            raise FileNotFoundError(f"source {path} does not exist: pass image files or folders")
    if not images:
        raise ValueError("no images given: pass image files or folders")
    return images


def predict(
    model: str | Path,
    sources: Sequence[str | Path],
    *,
    out: str | Path,
    conf: float = 0.25,
    iou: float = 0.7,
    imgsz: int | None = None,
    device: str = "cpu",
    weights_dir: str | Path | None = None,
) -> PredictResult:
    """Run a model over the images and write annotated copies plus detections.json / detections.csv into ``out``.

    Exports with a fixed input size (TFLite) run at their own size; another ``imgsz`` is refused.
    """
    if not 0.0 <= conf <= 1.0:
        raise ValueError(f"conf must lie in [0, 1], got {conf}")
    if not 0.0 <= iou <= 1.0:
        raise ValueError(f"iou must lie in [0, 1], got {iou}")
    if imgsz is not None and (imgsz < 32 or imgsz % 32):
        raise ValueError(f"imgsz must be a positive multiple of 32, got {imgsz}")
    images = collect_images(sources)
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: give a folder for the annotated images and detections")
    loaded = load_model(model, weights_dir=weights_dir)
    if loaded.fixed_imgsz and imgsz and imgsz != loaded.fixed_imgsz:
        raise ValueError(
            f"imgsz {imgsz} does not apply to {model}: the export runs at its fixed size {loaded.fixed_imgsz} "
            "(drop --imgsz)"
        )
    size = loaded.fixed_imgsz or imgsz or loaded.design_imgsz or 640
    (out / "images").mkdir(parents=True, exist_ok=True)
    detections: list[Detection] = []
    annotated: list[Path] = []
    used: set[str] = set()
    for image in images:
        result = loaded.model.predict(str(image), conf=conf, iou=iou, imgsz=size, device=device, verbose=False)[0]
        names = result.names or loaded.names
        boxes = result.boxes
        for xyxy, score, cls in zip(boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.cls.tolist(), strict=True):
            detections.append(
                Detection(
                    str(image),
                    int(cls),
                    str(names.get(int(cls), int(cls))),
                    round(score, 5),
                    *(round(v, 2) for v in xyxy),
                )
            )
        target = out / "images" / _unique_name(image, used)
        result.save(filename=str(target))
        annotated.append(target)
    json_path, csv_path = out / "detections.json", out / "detections.csv"
    payload = {
        "model": str(loaded.resolved.path or loaded.resolved.spec),
        "kind": loaded.kind,
        "precision": loaded.precision,
        "imgsz": size,
        "conf": conf,
        "iou": iou,
        "images": [str(p) for p in images],
        "detections": [asdict(d) for d in detections],
    }
    json_path.write_text(json.dumps(payload, indent=1) + "\n")
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=DETECTION_FIELDS)
        writer.writeheader()
        writer.writerows(asdict(d) for d in detections)
    return PredictResult(detections, annotated, json_path, csv_path, size)


def _unique_name(image: Path, used: set[str]) -> str:
    """Annotated file name: the image's own name, suffixed when two inputs share it."""
    name, n = image.name, 1
    while name in used:
        name = f"{image.stem}_{n}{image.suffix}"
        n += 1
    used.add(name)
    return name
