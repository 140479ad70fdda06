"""Retention on real images: an inherited copy keeps its parent's detections, an untrained network of the same design
keeps none (so the metric sees detection quality, not an output norm)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from detnas.architecture import build_model
from detnas.inherit.candidate import inherit
from detnas.inherit.checkpoint import load_parent
from detnas.inherit.retention import retention
from tests.helpers import shared_checkpoint

pytestmark = pytest.mark.slow


def _val_images(coco8: Path, size: int = 640) -> torch.Tensor:
    folder = coco8.parent / "coco8" / "images" / "val"
    pictures = [cv2.resize(cv2.imread(str(p)), (size, size)) for p in sorted(folder.glob("*.jpg"))]
    batch = np.stack([p[:, :, ::-1].transpose(2, 0, 1) for p in pictures]).astype(np.float32) / 255.0
    return torch.from_numpy(batch)


def test_copy_keeps_the_detections_and_an_untrained_network_keeps_none(coco8: Path) -> None:
    parent = load_parent(shared_checkpoint("yolo11n.pt"))
    images = _val_images(coco8)
    child, _ = inherit(parent.genome, [parent], nc=80)
    kept = retention(child, parent.model, images)
    assert kept.parent_detections >= 5, kept  # the parent sees objects in coco8's val images
    assert kept.fraction >= 0.95, kept
    torch.manual_seed(0)
    untrained = build_model(parent.genome, 80)
    assert retention(untrained, parent.model, images).fraction <= 0.05
