"""The retention metric on known detections: a kept detection needs its box and its class."""

from __future__ import annotations

import torch

from detnas.inherit.retention import Retention, matched


def _dets(*rows: tuple[float, float, float, float, float, int]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)


def test_a_detection_is_kept_only_with_its_class_and_enough_overlap() -> None:
    parent = _dets((0, 0, 10, 10, 0.9, 1), (20, 20, 40, 40, 0.8, 2), (50, 50, 60, 60, 0.7, 3))
    child = _dets(
        (0, 0, 10, 11, 0.6, 1),  # same class, IoU 0.91: kept
        (20, 20, 40, 40, 0.9, 5),  # right box, wrong class: not kept
        (50, 50, 55, 60, 0.9, 3),  # right class, IoU 0.5: kept (at the threshold)
    )
    assert matched(parent, child) == 2
    assert matched(parent, child, iou=0.6) == 1
    assert matched(parent, _dets()) == 0 and matched(_dets(), child) == 0


def test_one_child_detection_keeps_one_parent_detection() -> None:
    parent = _dets((0, 0, 10, 10, 0.9, 1), (0, 0, 10, 10, 0.5, 1))
    assert matched(parent, _dets((0, 0, 10, 10, 0.3, 1))) == 1
    assert Retention(parent_detections=4, kept=1, child_detections=2).fraction == 0.25
    assert Retention(parent_detections=0, kept=0, child_detections=3).fraction == 0.0
