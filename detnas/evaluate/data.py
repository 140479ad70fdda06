"""Data YAMLs: resolve splits the way Ultralytics does, check them cheaply, and write a seeded training subset.

This module does not import torch or Ultralytics so that bad input is reported in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from detnas.datasets import IMG_FORMATS
from detnas.errors import InputError, read_yaml_file

from .recipe import Recipe


@dataclass
class DataSpec:
    """A data YAML with its splits resolved to absolute image lists."""

    yaml_path: Path
    root: Path
    names: dict[int, str]
    train_images: list[Path]
    val_images: list[Path]

    @property
    def nc(self) -> int:
        return len(self.names)


@dataclass
class PreparedData:
    """The derived data YAML a candidate trains on, and what went into it."""

    data_yaml: Path
    source_yaml: Path
    names: dict[int, str]
    train_images: list[Path]
    val_images: list[Path]
    subset_sha256: str
    coco_annotations: list[Path] = field(default_factory=list)

    @property
    def nc(self) -> int:
        return len(self.names)


def label_path(image: Path) -> Path:
    """Ultralytics' rule: the last /images/ in the path becomes /labels/ and the suffix becomes .txt."""
    text = str(image)
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    if sa in text:
        text = sb.join(text.rsplit(sa, 1))
    return Path(text.rsplit(".", 1)[0] + ".txt")


def _names(raw: Any, yaml_path: Path) -> dict[int, str]:
    if isinstance(raw, list):
        return {i: str(n) for i, n in enumerate(raw)}
    if isinstance(raw, dict) and raw:
        try:
            names = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError):
            names = None
        if names is not None and sorted(names) == list(range(len(names))):
            return names
    raise InputError(
        f"data YAML {yaml_path}: 'names' must be a list or a {{0: name, 1: ...}} mapping with keys 0..nc-1"
    )


def _root(data: dict[str, Any], yaml_path: Path) -> Path:
    """Dataset root: 'path:' when given (relative to the YAML's folder), else the YAML's folder (as Ultralytics)."""
    path = data.get("path")
    if not path:
        return yaml_path.parent.resolve()
    path = Path(str(path)).expanduser()
    if path.is_absolute():
        return path
    beside = (yaml_path.parent / path).resolve()
    if beside.exists():
        return beside
    try:  # Ultralytics resolves a relative 'path:' against its settings' datasets_dir
        from ultralytics.utils import DATASETS_DIR

        return (Path(DATASETS_DIR) / path).resolve()
    except Exception:  # noqa: BLE001 - fall back to the YAML folder, the error below then names that path
        return beside


def _split_images(entry: Any, root: Path, yaml_path: Path, split: str) -> list[Path]:
    entries = entry if isinstance(entry, list) else [entry]
    images: list[Path] = []
    for item in entries:
        if not isinstance(item, str | Path) or not str(item):
            raise InputError(f"data YAML {yaml_path}: '{split}:' entry {item!r} is not a path; give a folder or .txt")
        path = Path(str(item)).expanduser()
        path = path if path.is_absolute() else (root / path)
        if not path.exists() and str(item).startswith("../"):
            path = root / str(item)[3:]  # Ultralytics' fallback for '../' entries
        path = Path(os.path.abspath(path))  # not resolved: Ultralytics finds labels beside a linked path as given
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.*") if p.suffix[1:].lower() in IMG_FORMATS)
        elif path.is_file() and path.suffix == ".txt":
            found = []
            for line in path.read_text().splitlines():
                line = line.strip()
                if not line:
                    continue
                if line.startswith("./"):
                    found.append(Path(os.path.abspath(path.parent / line[2:])))
                else:
                    found.append(Path(os.path.abspath(Path(line).expanduser())))
            found = [p for p in found if p.suffix[1:].lower() in IMG_FORMATS]
            missing = [p for p in found if not p.is_file()]
            if missing:
                raise InputError(
                    f"image list {path} names {len(missing)} missing file(s), first {missing[0]}: fix the list"
                )
        else:
            raise InputError(
                f"data YAML {yaml_path}: '{split}:' path {path} does not exist; fix the entry "
                f"(relative entries resolve against {root})"
            )
        if not found:
            raise InputError(
                f"data YAML {yaml_path}: '{split}:' {path} holds no images ({', '.join(sorted(IMG_FORMATS))})"
            )
        images.extend(found)
    return images


def load_data_yaml(path: str | Path) -> DataSpec:
    """Read a detection data YAML and resolve both splits to image lists; raise InputError with the fix."""
    yaml_path = Path(path).expanduser()
    data = read_yaml_file(yaml_path, "data YAML", "pass an existing Ultralytics data YAML (--data)")
    if not isinstance(data, dict):
        raise InputError(f"data YAML {yaml_path} must be a mapping with 'train', 'val' and 'names' keys")
    for key in ("train", "val", "names"):
        if key in data and key == "names" and not data[key]:
            raise InputError(f"data YAML {yaml_path}: 'names' is empty: list the classes (at least one)")
        if not data.get(key):
            raise InputError(f"data YAML {yaml_path} has no '{key}:' key: add it")
    yaml_path = yaml_path.resolve()
    root = _root(data, yaml_path)
    names = _names(data["names"], yaml_path)
    if "nc" in data and int(data["nc"]) != len(names):
        raise InputError(
            f"data YAML {yaml_path}: nc={data['nc']} but 'names' has {len(names)} entries: make them agree"
        )
    train = _split_images(data["train"], root, yaml_path, "train")
    val = _split_images(data["val"], root, yaml_path, "val")
    return DataSpec(yaml_path=yaml_path, root=root, names=names, train_images=train, val_images=val)


def select_subset(images: list[Path], recipe: Recipe) -> list[Path]:
    """Seeded random sample of the training images (not a prefix); returned in sorted order for stable files."""
    unique = sorted(set(images))
    k = recipe.subset_size(len(unique))
    if k >= len(unique):
        return unique
    return sorted(random.Random(recipe.seed).sample(unique, k))


def check_images(images: list[Path]) -> None:
    """Header check of every image (PIL verify): an undecodable file fails here, not minutes into training."""
    for image in images:
        try:
            with Image.open(image) as im:
                im.verify()
                width, height = im.size
        except Exception as e:  # noqa: BLE001 - PIL raises many types for bad files
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            message = f"image {image} does not decode ({reason}): replace the file or drop it from the split"
            raise InputError(message) from None
        if width < 10 or height < 10:
            raise InputError(f"image {image} is {width}x{height} px (Ultralytics needs >= 10 px): replace or drop it")


def check_labels(images: list[Path], nc: int) -> None:
    """Check every label file of these images: 5 fields (or a polygon), class in [0, nc), coordinates in [0, 1].

    A missing label file is a background image, as in Ultralytics.
    """
    for image in images:
        path = label_path(image)
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            n = len(fields)
            if n != 5 and not (n >= 7 and n % 2 == 1):
                raise InputError(
                    f"label file {path} line {number} has {n} fields, expected 5 (class cx cy w h) "
                    "or a polygon (class x1 y1 x2 y2 x3 y3 ...): fix or delete the line"
                )
            try:
                values = [float(x) for x in fields]
            except ValueError:
                raise InputError(
                    f"label file {path} line {number} holds a non-number: fix or delete the line"
                ) from None
            cls = values[0]
            if cls != int(cls) or not 0 <= cls < nc:
                raise InputError(
                    f"label file {path} line {number}: class {fields[0]} is not an integer in [0, {nc - 1}] "
                    "(the data YAML's names): fix the class id"
                )
            coords = values[1:]
            if any(not (0.0 <= v <= 1.0) for v in coords):
                raise InputError(
                    f"label file {path} line {number}: coordinates must be normalized to [0, 1], got "
                    f"{' '.join(fields[1:])}: divide by the image width/height"
                )


def check_val_labelled(val: list[Path], yaml_path: Path) -> None:
    """A val split with no box at all cannot score mAP: refuse it up front instead of ranking every candidate at 0."""
    for image in val:
        path = label_path(image)
        if path.is_file() and path.read_text().strip():
            return
    raise InputError(
        f"data YAML {yaml_path}: none of its {len(val)} val images has a box in its label file (labels/.../*.txt "
        "beside images/): point 'val:' at labelled images"
    )


def find_coco_annotations(val_images: list[Path]) -> list[Path]:
    """COCO instance JSON files that cover every validation image (by file name), or [] when some are not covered.

    Looks in ``<root>/annotations/instances_*.json`` for each dataset root (the folder above ``images/``), preferring
    the file named after the split folder (``instances_val2017.json`` for ``images/val2017``).
    """
    candidates: list[Path] = []
    for image in sorted({p.parent for p in val_images}):
        parts = image.parts
        if "images" not in parts:
            return []
        i = len(parts) - 1 - parts[::-1].index("images")
        root, split = Path(*parts[:i]), parts[i + 1] if i + 1 < len(parts) else ""
        folder = root / "annotations"
        preferred = folder / f"instances_{split}.json"
        found = [preferred] if preferred.is_file() else sorted(folder.glob("instances_*.json"))
        candidates.extend(p for p in found if p not in candidates)
    if not candidates:
        return []
    wanted = {p.name for p in val_images}
    covered: set[str] = set()
    used: list[Path] = []
    for path in candidates:
        try:
            images = json.loads(path.read_text()).get("images", [])
        except (OSError, ValueError):
            continue
        names = {im.get("file_name") for im in images} & wanted
        if names - covered:
            used.append(path)
            covered |= names
    return used if covered == wanted else []


def _digest(paths: list[Path]) -> str:
    return hashlib.sha256("\n".join(str(p) for p in paths).encode()).hexdigest()


def prepare_data(data: str | Path, recipe: Recipe, out_dir: Path, *, check: bool = True) -> PreparedData:
    """Write ``out_dir/data.yaml`` with absolute train (seeded subset) and val image lists; check them first."""
    spec = load_data_yaml(data)
    train = select_subset(spec.train_images, recipe)
    val = sorted(set(spec.val_images))
    if check:
        check_images(train + val)
        check_labels(train + val, spec.nc)
        check_val_labelled(val, spec.yaml_path)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "train.txt").write_text("".join(f"{p}\n" for p in train))
    (out_dir / "val.txt").write_text("".join(f"{p}\n" for p in val))
    derived = {
        "path": str(out_dir),
        "train": str(out_dir / "train.txt"),
        "val": str(out_dir / "val.txt"),
        "nc": spec.nc,
        "names": spec.names,
    }
    data_yaml = out_dir / "data.yaml"
    header = f"# Derived by detnas.evaluate from {spec.yaml_path} (subset={recipe.subset}, seed={recipe.seed})\n"
    data_yaml.write_text(header + yaml.safe_dump(derived, sort_keys=False))
    return PreparedData(
        data_yaml=data_yaml,
        source_yaml=spec.yaml_path,
        names=spec.names,
        train_images=train,
        val_images=val,
        subset_sha256=_digest(train),
        coco_annotations=find_coco_annotations(val),
    )
