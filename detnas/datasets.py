"""Where the real COCO subsets live, and the fixed search / held-out split of a val set.

Set ``DETNAS_DATASETS`` to a folder holding Ultralytics data YAMLs (``coco8.yaml``, ``coco_mini.yaml``, ...);
without it, detnas looks for ``../shared/datasets`` beside the repository checkout and then beside the current
directory.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import yaml

# Same suffixes as ultralytics.data.utils.IMG_FORMATS (kept here so this module stays import-light).
IMG_FORMATS = {"avif", "bmp", "dng", "heic", "heif", "jp2", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp"}

DATASETS_ENV = "DETNAS_DATASETS"
_REPO_ROOT = Path(__file__).resolve().parents[1]


def datasets_dir() -> Path | None:
    """Return the datasets folder, or None when no candidate exists."""
    override = os.environ.get(DATASETS_ENV)
    if override:
        path = Path(override).expanduser()
        return path if path.is_dir() else None
    for base in (_REPO_ROOT, Path.cwd()):
        path = (base / ".." / "shared" / "datasets").resolve()
        if path.is_dir():
            return path
    return None


def dataset_yaml(name: str) -> Path:
    """Path of a named data YAML (``coco8``, ``coco_mini``, ...) in the datasets folder.

    Raises FileNotFoundError with a one-line fix when the folder or the file is missing.
    """
    root = datasets_dir()
    if root is None:
        raise FileNotFoundError(
            f"no datasets folder found: set {DATASETS_ENV}=/path/to/datasets (a folder of Ultralytics data YAMLs) "
            "or place the shared datasets at ../shared/datasets"
        )
    path = root / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if not path.is_file():
        raise FileNotFoundError(
            f"dataset YAML {path} does not exist: choose one of {sorted(p.stem for p in root.glob('*.yaml'))}"
        )
    return path


# ---------------------------------------------------------------- search / held-out split
# A data set's val images split once into a *search* half and a *held-out* half.
#
# A search picks designs by their score on the images it sees; a figure published for the picked designs must come
# from images it never saw, or it flatters them. The split is fixed: sorted image list, shuffled with
# ``random.Random(seed)``, first half for the search, second held out.
def split_val(source: Path, out: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """Data YAMLs ``OUT/<name>_search.yaml`` and ``OUT/<name>_heldout.yaml``: same train split, halves of val.

    ``source``'s val is an image-list file (one path per line) or a folder of images, relative to the YAML's ``path``
    (its folder when it has none).
    """
    spec = yaml.safe_load(source.read_text())
    root = source.parent / spec.get("path", "")
    listing = root / spec["val"]
    if listing.is_file():
        lines = sorted(x for x in listing.read_text().splitlines() if x.strip())
        base = source.parent if "path" not in spec else root
    elif listing.is_dir():
        lines = sorted(str(p.relative_to(root)) for p in listing.rglob("*") if p.suffix[1:].lower() in IMG_FORMATS)
        base = root
    else:
        raise ValueError(f"{source}: val {spec['val']!r} is neither an image-list file nor a folder of images")
    if len(lines) < 2:
        raise ValueError(f"{source}: val has {len(lines)} image(s); a search/held-out split needs at least 2")
    random.Random(seed).shuffle(lines)
    half = len(lines) // 2
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, part in (("search", lines[:half]), ("heldout", lines[half:])):
        images = out / f"val_{name}.txt"
        # absolute, not resolved: labels are found beside the images' path as given, a linked folder included
        images.write_text("\n".join(os.path.abspath(base / x) for x in sorted(part)) + "\n")
        train = os.path.abspath(root / spec["train"])
        data = {"train": train, "val": os.path.abspath(images), "names": spec["names"]}
        path = out / f"{source.stem}_{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        paths.append(path)
    return paths[0], paths[1]
