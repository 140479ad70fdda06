"""The one place that decides where the real COCO subsets live.

Set ``DETNAS_DATASETS`` to a folder holding Ultralytics data YAMLs (``coco8.yaml``, ``coco_mini.yaml``, ...);
without it, detnas looks for ``../shared/datasets`` beside the repository checkout and then beside the current
directory.
"""

from __future__ import annotations

import os
from pathlib import Path

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
