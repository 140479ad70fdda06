"""How far a child's head outputs are from its parent's: the class probabilities and the box-side distributions it
predicts at every anchor. One measure serves as the distillation loss (``detnas.evaluate.distill``) and as the
class-score error of a reconstruction on images it never saw.

Why not the L2 of decoded outputs: box coordinates in pixels dominate it, so a child whose class scores are dead
reads a small error. Here the class term compares probabilities (binary cross-entropy against the parent's sigmoid,
so it is the parent's own entropy when they agree) and the box term the DFL distributions of the four sides (KL
divergence), weighted by the parent's confidence at the anchor so background anchors do not drown the objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class DivergenceWeights:
    """The terms' weights, the DFL temperature and the confidence floor of an anchor's box weight."""

    classes: float = 1.0
    boxes: float = 1.0
    temperature: float = 1.0
    min_confidence: float = 0.05


def head_outputs(output: Any) -> dict[str, torch.Tensor]:
    """The raw head dict (``boxes``: B x 4*reg_max x A logits, ``scores``: B x nc x A logits) of a Detect forward,
    in training mode (the dict itself) or eval mode (``(decoded, dict)``)."""
    if isinstance(output, tuple | list) and len(output) == 2 and isinstance(output[1], dict):
        output = output[1]
    if not isinstance(output, dict) or "boxes" not in output or "scores" not in output:
        raise TypeError("needs a Detect head that returns 'boxes' and 'scores' (Ultralytics >= 8.4)")
    return output


def class_divergence(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor]) -> torch.Tensor:
    """Binary cross-entropy of the student's class logits against the teacher's probabilities, summed over classes,
    averaged over anchors and images."""
    target = teacher["scores"].detach().float().sigmoid()
    return F.binary_cross_entropy_with_logits(student["scores"].float(), target, reduction="none").sum(1).mean()


def box_divergence(
    student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], *, reg_max: int, weights: DivergenceWeights
) -> torch.Tensor:
    """KL divergence of the four box-side distributions, averaged over anchors weighted by the teacher's confidence."""
    b, _, a = teacher["boxes"].shape
    tau = weights.temperature
    confidence = teacher["scores"].detach().float().sigmoid().amax(dim=1).clamp(min=weights.min_confidence)
    t_box = teacher["boxes"].detach().float().view(b, 4, reg_max, a)
    s_box = student["boxes"].float().view(b, 4, reg_max, a)
    kl = F.kl_div(F.log_softmax(s_box / tau, 2), F.log_softmax(t_box / tau, 2), log_target=True, reduction="none")
    per_anchor = kl.sum(2).sum(1) * tau * tau  # B x A
    return (per_anchor * confidence).sum() / confidence.sum()


def distillation_loss(
    student: dict[str, torch.Tensor],
    teacher: dict[str, torch.Tensor],
    *,
    reg_max: int,
    classes: bool = True,
    weights: DivergenceWeights = DivergenceWeights(),
) -> torch.Tensor:
    """The weighted sum of both terms (the class term only when ``classes``: the same classes); a scalar."""
    total = student["scores"].new_zeros((), dtype=torch.float32)
    if classes and weights.classes > 0:
        total = total + weights.classes * class_divergence(student, teacher)
    if weights.boxes > 0:
        total = total + weights.boxes * box_divergence(student, teacher, reg_max=reg_max, weights=weights)
    return total


@torch.no_grad()
def divergence(child: nn.Module, parent: nn.Module, images: torch.Tensor) -> dict[str, float]:
    """Class and box divergence of ``child`` from ``parent`` on ``images`` (a 0-1 float batch), both in eval mode;
    ``classes_floor`` is the parent against itself (its own entropy): a perfect child reads that."""
    was = child.training, parent.training
    child.eval()
    parent.eval()
    try:
        teacher = head_outputs(parent(images.float()))
        student = head_outputs(child(images.float()))
    finally:
        child.train(was[0])
        parent.train(was[1])
    reg_max = teacher["boxes"].shape[1] // 4
    return {
        "classes": float(class_divergence(student, teacher)),
        "classes_floor": float(class_divergence(teacher, teacher)),
        "boxes": float(box_divergence(student, teacher, reg_max=reg_max, weights=DivergenceWeights())),
    }
