"""``detnas predict``: detections of any model (found design, YOLO .pt/.tflite, YOLO-NAS) on images or folders.

Writes one annotated image per input (Ultralytics' own plotting) and every detection to ``detections.json`` and
``detections.csv`` (image, class id, class name, confidence, x1, y1, x2, y2 in original-image pixels).

Every image is decoded in full before prediction (:func:`image_problem`): OpenCV, which Ultralytics reads with, turns
a JPEG cut short into a partly grey picture without an error, and Ultralytics skips a file it cannot decode at all
with a log warning. An image that cannot be read is left out and listed in ``PredictResult.failed`` and under
``failed`` in ``detections.json`` (``images`` there lists the predicted ones); when none can be read, nothing is
written and :class:`~detnas.errors.InputError` names them.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from detnas.errors import InputError
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


@dataclass(frozen=True)
class FailedImage:
    """An input image that was not predicted, and why (one line, without the file name)."""

    image: str
    reason: str


@dataclass
class PredictResult:
    detections: list[Detection]
    annotated: list[Path]
    json_path: Path
    csv_path: Path
    imgsz: int
    failed: list[FailedImage] = field(default_factory=list)  # unreadable inputs, left out


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as an image ('cannot be read as an image (...)'), or None when it decodes in full.

    Pillow decodes the whole file with truncated images refused (a JPEG cut short fails here instead of decoding as a
    partly grey picture, as OpenCV does); a format Pillow does not know is left to Ultralytics' own reader."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    # Pillow's own open: once Ultralytics is imported, Image.open is its wrapper, which answers a file Pillow cannot
    # identify by trying to install a HEIF plugin.
    open_image = getattr(sys.modules.get("ultralytics.utils.patches"), "_image_open", Image.open)
    try:
        if path.stat().st_size == 0:
            return "cannot be read as an image (empty file)"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    keep = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # some libraries switch it on globally; a cut-off file must fail here
    try:
        with open_image(path) as image:
            image.load()
        return None
    except (UnidentifiedImageError, Image.DecompressionBombError, ImportError):
        pass  # not a format Pillow reads (or too many pixels for it): Ultralytics' reader decides below
    except (PermissionError, IsADirectoryError) as e:
        return f"cannot be read ({e.strerror or e})"
    except Exception as e:  # noqa: BLE001 - decoders raise OSError, SyntaxError, ValueError, struct.error ...
        detail = " ".join(str(e).split()) or type(e).__name__
        return f"cannot be read as an image (truncated or corrupt: {detail})"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = keep
    from ultralytics.utils.patches import imread

    return None if imread(str(path)) is not None else "cannot be read as an image (not an image file)"


def _none_readable(failed: list[FailedImage]) -> InputError:
    if len(failed) == 1:
        return InputError(f"{failed[0].image}: {failed[0].reason}; pass a readable image")
    shown = ", ".join(f"{f.image} {f.reason.removeprefix('cannot be read as an image ')}" for f in failed[:3])
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    return InputError(f"none of the {len(failed)} images can be read: {shown}{more}; pass readable images")


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

    Exports with a fixed input size (TFLite) run at their own size; another ``imgsz`` is refused. Images that cannot
    be read are skipped and returned in ``failed``; when none can be read, InputError names them and nothing is
    written.
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
    failed = [FailedImage(str(p), why) for p in images if (why := image_problem(p)) is not None]
    if len(failed) == len(images):
        raise _none_readable(failed)
    unreadable = {f.image for f in failed}
    loaded = load_model(model, weights_dir=weights_dir)
    if loaded.fixed_imgsz and imgsz and imgsz != loaded.fixed_imgsz:
        raise ValueError(
            f"imgsz {imgsz} does not apply to {model}: the export runs at its fixed size {loaded.fixed_imgsz} "
            "(drop --imgsz)"
        )
    size = loaded.fixed_imgsz or imgsz or loaded.design_imgsz or 640
    detections: list[Detection] = []
    annotated: list[Path] = []
    predicted: list[Path] = []
    used: set[str] = set()
    for image in images:
        if str(image) in unreadable:
            continue
        results = loaded.model.predict(str(image), conf=conf, iou=iou, imgsz=size, device=device, verbose=False)
        if not results:  # Ultralytics' reader gave up on it after all (it only logs a warning)
            failed.append(FailedImage(str(image), "cannot be read as an image (Ultralytics could not decode it)"))
            continue
        result = results[0]
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
        target.parent.mkdir(parents=True, exist_ok=True)
        result.save(filename=str(target))
        annotated.append(target)
        predicted.append(image)
    order = {str(p): i for i, p in enumerate(images)}
    failed.sort(key=lambda f: order[f.image])
    if not predicted:
        raise _none_readable(failed)
    json_path, csv_path = out / "detections.json", out / "detections.csv"
    payload = {
        "model": str(loaded.resolved.path or loaded.resolved.spec),
        "kind": loaded.kind,
        "precision": loaded.precision,
        "imgsz": size,
        "conf": conf,
        "iou": iou,
        "images": [str(p) for p in predicted],
        "failed": [asdict(f) for f in failed],
        "detections": [asdict(d) for d in detections],
    }
    json_path.write_text(json.dumps(payload, indent=1) + "\n")
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=DETECTION_FIELDS)
        writer.writeheader()
        writer.writerows(asdict(d) for d in detections)
    return PredictResult(detections, annotated, json_path, csv_path, size, failed)


def _unique_name(image: Path, used: set[str]) -> str:
    """Annotated file name: the image's own name, suffixed when two inputs share it."""
    name, n = image.name, 1
    while name in used:
        name = f"{image.stem}_{n}{image.suffix}"
        n += 1
    used.add(name)
    return name
