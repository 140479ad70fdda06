"""How much of its parent's detection a child network keeps: the parent's confident detections that the child
reproduces (same class, IoU >= 0.5), on images the caller chooses (held-out ones, to see generalisation).

Why not the L2 of decoded outputs: the boxes' pixel coordinates dominate it, so a thinned child whose class scores are
dead can read a small error. A kept detection needs the box *and* the class to survive.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

CONFIDENT = 0.25  # Ultralytics' default prediction threshold: what a user would see as a detection
MATCH_IOU = 0.5
NMS_IOU = 0.7  # Ultralytics' predictor default


@dataclass(frozen=True)
class Retention:
    """The parent's confident detections the child kept, over a batch of images."""

    parent_detections: int
    kept: int
    child_detections: int

    @property
    def fraction(self) -> float:
        return self.kept / self.parent_detections if self.parent_detections else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "parent_detections": self.parent_detections,
            "kept": self.kept,
            "child_detections": self.child_detections,
            "fraction": round(self.fraction, 4),
        }


def matched(parent: torch.Tensor, child: torch.Tensor, iou: float = MATCH_IOU) -> int:
    """Detections of ``parent`` (rows ``x1 y1 x2 y2 score class``) that a distinct ``child`` detection of the same
    class overlaps by at least ``iou``; greedy, the parent's most confident first."""
    from torchvision.ops import box_iou

    if len(parent) == 0 or len(child) == 0:
        return 0
    overlaps = box_iou(parent[:, :4], child[:, :4])
    overlaps[parent[:, 5:6] != child[:, 5].unsqueeze(0)] = 0.0
    free = torch.ones(len(child), dtype=torch.bool)
    kept = 0
    for i in parent[:, 4].argsort(descending=True).tolist():
        candidates = torch.where(free, overlaps[i], torch.zeros_like(overlaps[i]))
        j = int(candidates.argmax())
        if candidates[j] >= iou:
            free[j] = False
            kept += 1
    return kept


@torch.no_grad()
def detect(model: nn.Module, images: torch.Tensor, conf: float = CONFIDENT) -> list[torch.Tensor]:
    """Per image, the model's detections after Ultralytics' NMS: rows ``x1 y1 x2 y2 score class``."""
    from ultralytics.utils.nms import non_max_suppression

    was = model.training
    model.eval()
    try:
        out = model(images.float())
    finally:
        model.train(was)
    return [d[:, :6].float() for d in non_max_suppression(out, conf_thres=conf, iou_thres=NMS_IOU)]


def retention(child: nn.Module, parent: nn.Module, images: torch.Tensor, conf: float = CONFIDENT) -> Retention:
    """The parent's detections above ``conf`` on ``images`` (a 0-1 float batch) that ``child`` keeps; the child's own
    detections count at the same threshold."""
    kept = total = found = 0
    for p, c in zip(detect(parent, images, conf), detect(child, images, conf), strict=True):
        total += len(p)
        found += len(c)
        kept += matched(p, c)
    return Retention(parent_detections=total, kept=kept, child_detections=found)
