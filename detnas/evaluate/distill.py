"""Recover a sliced network by distillation from its parent: the child learns the parent's head outputs on images.

A child cut out of a COCO-trained parent has lost part of the function the parent computes, and the labels of a few
hundred images teach it back slowly (a one-pass fine-tune leaves YOLO11n at width 0.75 near 0 mAP). The parent itself
is a far denser teacher: at every anchor of every image it says which classes it sees (the class logits) and where the
box edges lie (the DFL distributions), so each image carries thousands of targets instead of a handful of boxes, and
it needs no labels at all. Here the child is trained on:

- class distillation: binary cross-entropy of the child's class logits against the parent's sigmoid probabilities
  (only when the data's classes are the parent's: a reset class head has nothing to learn from them);
- box distillation: KL divergence between the parent's and the child's DFL distributions of the four box sides,
  weighted by the parent's confidence at that anchor, so background anchors do not drown the objects;
- optionally Ultralytics' own detection loss on the data's labels (``label_weight``; 0 for unlabelled images).

Images are the data's training split, letterboxed at ``imgsz``, flipped left-right at random; the parent runs in
eval mode without gradients. The loop is plain PyTorch: cheaper per image than Ultralytics' trainer, and its cost is
bounded by ``steps`` or ``time_limit_s``.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detnas.inherit.divergence import DivergenceWeights, distillation_loss, head_outputs


@dataclass(frozen=True)
class DistillSettings:
    """How long and how hard the child learns from its parent."""

    epochs: float = 1.0  # passes over the training images (fractions allowed); ``steps`` overrides when given
    steps: int | None = None
    batch: int = 8
    lr: float = 5e-4  # AdamW, cosine to zero; a damaged network needs more than a fine-tune's 1e-4
    weight_decay: float = 5e-4
    cls_weight: float = 1.0
    box_weight: float = 1.0
    label_weight: float = 0.0  # Ultralytics' detection loss on the labels; 0: the parent's outputs only
    temperature: float = 1.0  # of the DFL distributions
    min_confidence: float = 0.05  # anchors where the parent is less sure than this weigh in only at this value
    time_limit_s: float | None = None
    # CPU seconds of this process (all its threads): the budget of a recovery on a shared machine, where wall time
    # depends on the neighbours. The step count is re-planned from the first steps' cost so the schedule still ends.
    cpu_limit_s: float | None = None
    max_images: int | None = None  # a seeded subset of the training images
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.steps is None or self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (self.epochs > 0 and math.isfinite(self.epochs), f"epochs must be positive, got {self.epochs}"),
            (self.batch >= 1, f"batch must be >= 1, got {self.batch}"),
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be positive, got {self.lr}"),
            (min(self.cls_weight, self.box_weight, self.label_weight) >= 0, "loss weights must be >= 0"),
            (self.temperature > 0, f"temperature must be positive, got {self.temperature}"),
            (self.time_limit_s is None or self.time_limit_s > 0, "time_limit_s must be positive or None"),
            (self.cpu_limit_s is None or self.cpu_limit_s > 0, "cpu_limit_s must be positive or None"),
            (self.max_images is None or self.max_images >= 1, f"max_images must be >= 1, got {self.max_images}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"distillation: {message}")


@dataclass
class DistillReport:
    """What a distillation run did: optimiser steps, images seen, seconds, losses at the start and at the end."""

    steps: int
    images: int
    seconds: float
    cpu_seconds: float
    first_loss: float
    last_loss: float
    distilled_classes: bool
    stopped_by_time_limit: bool = False
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("seconds", "cpu_seconds", "first_loss", "last_loss"):
            out[key] = round(out[key], 4)
        return out


def _flip(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch mirrored left-right, labels too (normalised xywh boxes)."""
    out = dict(batch)
    out["img"] = batch["img"].flip(-1)
    if "bboxes" in batch and len(batch["bboxes"]):
        boxes = batch["bboxes"].clone()
        boxes[:, 0] = 1.0 - boxes[:, 0]
        out["bboxes"] = boxes
    return out


def distill(
    student: nn.Module,
    teacher: nn.Module,
    data_yaml: str | Path,
    *,
    imgsz: int,
    settings: DistillSettings = DistillSettings(),
    distill_classes: bool = True,
    device: str = "cpu",
    log: Any = None,
) -> DistillReport:
    """Train ``student`` (an Ultralytics DetectionModel, in place) to reproduce ``teacher`` on the training images of
    ``data_yaml`` at ``imgsz``; ``distill_classes``: whether the class logits are targets (the same classes)."""
    from detnas.proxies.val_loss import attach_detection_loss, letterboxed_dataset

    started, cpu_started = time.perf_counter(), time.process_time()
    rng = random.Random(settings.seed)
    torch.manual_seed(settings.seed)
    stride = int(max(int(student.stride.max()), int(teacher.stride.max())))
    dataset = letterboxed_dataset(data_yaml, "train", imgsz=imgsz, batch=settings.batch, stride=stride)
    order = list(range(len(dataset)))
    rng.shuffle(order)
    if settings.max_images is not None:
        order = order[: settings.max_images]
    if not order:
        raise ValueError(f"distillation: {data_yaml} has no training images")
    per_epoch = max(1, math.ceil(len(order) / settings.batch))
    plan = {"steps": settings.steps or max(1, round(settings.epochs * per_epoch))}
    if settings.cpu_limit_s is not None and settings.steps is None:
        plan["steps"] = 10**9  # set from the measured cost of the first steps
    reg_max = int(getattr(detect_head(student), "reg_max", 16))
    if settings.label_weight > 0:
        stored = student.args if isinstance(getattr(student, "args", None), dict) else None
        attach_detection_loss(student, {k: v for k, v in (stored or {}).items() if k in ("box", "cls", "dfl")})

    from ultralytics.utils.torch_utils import select_device

    where = select_device(device, verbose=False)
    teacher = teacher.float().to(where).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student.float().to(where).train()
    for p in student.parameters():
        p.requires_grad_(True)
    params = [p for p in student.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * min(1.0, i / plan["steps"])))
    )
    weights = DivergenceWeights(settings.cls_weight, settings.box_weight, settings.temperature, settings.min_confidence)
    first = last = float("nan")
    seen = done = 0
    stopped = False
    position = 0
    step = 0
    loop_started = time.process_time()
    while step < plan["steps"]:
        if settings.time_limit_s is not None and time.perf_counter() - started > settings.time_limit_s:
            stopped = True
            break
        if settings.cpu_limit_s is not None:
            spent = time.process_time() - cpu_started
            if spent > settings.cpu_limit_s:
                stopped = True
                break
            if step == 3 and settings.steps is None:  # re-plan: the steps that fit the rest of the budget
                per_step = (time.process_time() - loop_started) / 3
                plan["steps"] = max(4, 3 + int((settings.cpu_limit_s - spent) / max(per_step, 1e-6)))
        if position + settings.batch > len(order):
            rng.shuffle(order)
            position = 0
        items = [dataset[i] for i in order[position : position + settings.batch]]
        position += settings.batch
        batch = dataset.collate_fn(items)
        batch["img"] = batch["img"].to(where).float() / 255
        if rng.random() < 0.5:
            batch = _flip(batch)
        if settings.label_weight > 0:
            batch = {k: v.to(where) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        with torch.no_grad():
            target = head_outputs(teacher(batch["img"]))
        output = head_outputs(student(batch["img"]))
        loss = distillation_loss(output, target, reg_max=reg_max, classes=distill_classes, weights=weights)
        if settings.label_weight > 0:
            detection, _ = student.loss(batch, output)
            loss = loss + settings.label_weight * detection.sum() / batch["img"].shape[0]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"distillation loss became {float(loss)} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        schedule.step()
        value = float(loss.detach())
        first = value if step == 0 else first
        last = value
        seen += len(items)
        done += 1
        if log is not None and (step % 10 == 0 or step == plan["steps"] - 1):
            log(f"distill step {step + 1}/{plan['steps']} loss {value:.4f}")
        step += 1
    student.cpu().eval()
    teacher.cpu()
    for p in student.parameters():
        p.requires_grad_(False)
    return DistillReport(
        steps=done,
        images=seen,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started,
        first_loss=first,
        last_loss=last,
        distilled_classes=distill_classes,
        stopped_by_time_limit=stopped,
        settings=asdict(settings),
    )


def detect_head(model: nn.Module) -> nn.Module:
    """The model's Ultralytics Detect head (ValueError, one line, when it has none)."""
    from ultralytics.nn.modules.head import Detect

    for module in model.modules():
        if isinstance(module, Detect):
            return module
    raise ValueError("distillation needs detection models: no Ultralytics Detect head found")
