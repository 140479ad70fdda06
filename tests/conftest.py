"""Shared fixtures: the real COCO subsets, found through detnas.data_location, skip only where absent."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

# Never let Ultralytics pip-install or download anything during tests.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")

from detnas.data_location import DATASETS_ENV, datasets_dir  # noqa: E402


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The folder of real COCO data YAMLs; skips the test with the reason where it is missing."""
    root = datasets_dir()
    if root is None:
        pytest.skip(f"real COCO subsets not found: set {DATASETS_ENV} or place them at ../shared/datasets")
    return root


@pytest.fixture(scope="session")
def coco8(datasets: Path) -> Path:
    path = datasets / "coco8.yaml"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def coco_mini(datasets: Path) -> Path:
    path = datasets / "coco_mini.yaml"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def make_yolo_asset() -> Callable[..., Path]:
    """A stand-in for an official asset: a stock model saved and stripped the way Ultralytics ships its .pt files."""

    def make(path: Path, cfg: str = "yolo11n.yaml") -> Path:
        from ultralytics import YOLO
        from ultralytics.utils.torch_utils import strip_optimizer

        path.parent.mkdir(parents=True, exist_ok=True)
        YOLO(cfg).save(path)
        strip_optimizer(path)
        return path

    return make
