"""Teach a fresh class head on frozen features: the first step of the transfer recipe for data with its own classes.

When a candidate inherits a COCO-trained body but the data has other classes, its class predictions start fresh, and
one brief fine-tune over the whole network cannot teach them (mAP50-95 ~0.01 after 128 images). The body is good as it
is; only the class branch needs to learn. So the network runs once over the training images with everything frozen,
the inputs of the final class convolutions (and the box outputs) are cached, and those convolutions are then trained
on the cache with Ultralytics' own detection loss and assigner: many passes for the price of one forward pass, since
nothing behind the head needs a gradient. A brief full fine-tune follows (see ``detnas.evaluate.worker``).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class ProbeSettings:
    """How long and how hard the class branches learn on the cached features."""

    epochs: int = 30
    lr: float = 1e-2
    batch: int = 16
    weight_decay: float = 5e-4
    max_images: int | None = None  # None: every training image (the cache holds one letterboxed pass of each)
    # "last": the final 1x1 conv of each class branch, a linear probe (coco_indoor4, YOLO11n at 320: 0.171 mAP50-95
    # after 30 passes); "branch": every layer of the branches (0.172 after 10 passes, at about 30x the seconds)
    part: str = "last"
    # A small data set fills few batches: at least this many optimiser steps however few the images (4 images in one
    # batch x 30 passes = 30 steps left a one-class head below the validation threshold: 0 predictions on coco8)
    min_steps: int = 200

    def passes(self, batches: int) -> int:
        """Passes over ``batches`` cached batches: ``epochs``, more when that would make fewer than ``min_steps``."""
        return max(self.epochs, -(-self.min_steps // max(batches, 1)))

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 1 or not self.lr > 0 or self.part not in ("branch", "last"):
            raise ValueError(f"probe settings need epochs >= 1, batch >= 1, lr > 0, part branch|last; got {self}")


@dataclass(frozen=True)
class ProbeReport:
    images: int
    epochs: int  # passes over the cached batches actually run (see ProbeSettings.passes)
    steps: int
    cache_seconds: float
    fit_seconds: float
    cls_loss_first: float
    cls_loss_last: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def init_class_bias(detect: nn.Module) -> None:
    """Ultralytics' prior for fresh class logits (about 0.01 objects per anchor at 640 px), box biases untouched."""
    for branch, stride in zip(detect.cv3, detect.stride, strict=True):
        branch[-1].bias.data[: detect.nc] = math.log(5 / detect.nc / (640 / float(stride)) ** 2)


@dataclass
class _Batch:
    feats: list[torch.Tensor]  # Detect inputs per level, float16
    boxes: torch.Tensor  # box distribution outputs, float16 (bs, 4 * reg_max, anchors)
    targets: dict[str, torch.Tensor]


def _trained(detect: nn.Module, part: str) -> list[nn.Module]:
    """The module of each level's class branch that learns; the cache holds what enters it."""
    return [branch if part == "branch" else branch[-1] for branch in detect.cv3]


@torch.no_grad()
def _cache(model: nn.Module, data_yaml: Path, imgsz: int, settings: ProbeSettings, seed: int) -> list[_Batch]:
    from ultralytics.data import build_dataloader

    from detnas.proxies.val_loss import letterboxed_dataset

    detect = model.model[-1]
    dataset = letterboxed_dataset(data_yaml, "train", imgsz=imgsz, batch=settings.batch, stride=int(model.stride.max()))
    if settings.max_images is not None and settings.max_images < len(dataset):
        keep = sorted(random.Random(seed).sample(range(len(dataset)), settings.max_images))
        dataset = torch.utils.data.Subset(dataset, keep)
        dataset.collate_fn = dataset.dataset.collate_fn
    loader = build_dataloader(dataset, settings.batch, workers=0, shuffle=False, pin_memory=False)
    seen: dict[str, list[torch.Tensor]] = {}
    hook = detect.register_forward_pre_hook(lambda _m, args: seen.__setitem__("x", [t.clone() for t in args[0]]))
    batches = []
    try:
        for item in loader:
            model(item["img"].float() / 255)
            x = seen["x"]
            bs = x[0].shape[0]
            boxes = torch.cat([detect.cv2[i](x[i]).view(bs, 4 * detect.reg_max, -1) for i in range(detect.nl)], -1)
            targets = {k: item[k] for k in ("batch_idx", "cls", "bboxes")}
            inputs = x if settings.part == "branch" else [detect.cv3[i][:-1](x[i]) for i in range(detect.nl)]
            batches.append(_Batch([t.half() for t in inputs], boxes.half(), targets))
    finally:
        hook.remove()
    return batches


def probe_class_head(
    model: nn.Module, data_yaml: str | Path, *, imgsz: int, seed: int = 0, settings: ProbeSettings | None = None
) -> ProbeReport:
    """Train the class branches of ``model``'s Detect head on cached features of the frozen network, in place.

    Batch norm statistics stay as inherited (the branches run in eval mode); only ``cv3`` receives gradients.
    """
    from ultralytics.cfg import get_cfg
    from ultralytics.utils.loss import v8DetectionLoss

    settings = settings or ProbeSettings()
    torch.manual_seed(seed)
    model = model.float().eval()
    detect = model.model[-1]
    init_class_bias(detect)
    saved_args = getattr(model, "args", None)
    model.args = get_cfg()  # the loss reads its gains from here; the model's own args are put back below
    criterion = v8DetectionLoss(model)
    model.args = saved_args

    started = time.perf_counter()
    batches = _cache(model, Path(data_yaml), imgsz, settings, seed)
    cache_seconds = time.perf_counter() - started

    learners = _trained(detect, settings.part)
    params = [p for m in learners for p in m.parameters()]
    frozen = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    passes = settings.passes(len(batches))
    steps = passes * len(batches)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=steps, pct_start=0.1)
    order = random.Random(seed)
    first = last = float("nan")
    started = time.perf_counter()
    try:
        for epoch in range(passes):
            total, count = 0.0, 0
            for batch in order.sample(batches, len(batches)):
                feats = [t.float() for t in batch.feats]
                bs = feats[0].shape[0]
                scores = torch.cat([learners[i](feats[i]).view(bs, detect.nc, -1) for i in range(detect.nl)], -1)
                preds = {"boxes": batch.boxes.float(), "scores": scores, "feats": feats}
                _, loss, _ = criterion.get_assigned_targets_and_loss(preds, batch.targets)
                optimizer.zero_grad(set_to_none=True)
                loss[1].backward()
                optimizer.step()
                schedule.step()
                total, count = total + float(loss[1].detach()), count + 1
            mean = total / max(count, 1)
            first = mean if epoch == 0 else first
            last = mean
    finally:
        for p, flag in frozen.items():
            p.requires_grad_(flag)
    return ProbeReport(
        images=sum(len(b.boxes) for b in batches),
        epochs=passes,
        steps=steps,
        cache_seconds=round(cache_seconds, 3),
        fit_seconds=round(time.perf_counter() - started, 3),
        cls_loss_first=round(first, 5),
        cls_loss_last=round(last, 5),
    )
