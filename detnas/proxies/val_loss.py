"""Detection loss on the validation split: a dense accuracy signal for models whose mAP is still at zero.

Trained from scratch for a few CPU-minutes, every candidate scores mAP50-95 of about 0.000 (only a handful of boxes
pass the confidence threshold), so mAP cannot rank them. The same loss Ultralytics trains with (box + cls + DFL,
task-aligned assignment, the checkpoint's own loss gains), averaged over the held-out images without augmentation,
still moves smoothly with what the model has learnt. Lower is better.

Images are scored one at a time and averaged: Ultralytics normalises a batch's loss by the sum of its target
scores clamped at 1, and for a barely trained model that sum is below 1, so a batch's loss grows with the number of
images in it; per-image scoring keeps the figure independent of batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from detnas.devices import torch_device


@dataclass(frozen=True)
class ValidationLoss:
    box: float
    cls: float
    dfl: float
    images: int

    @property
    def total(self) -> float:
        return self.box + self.cls + self.dfl


def letterboxed_dataset(data_yaml: str | Path, split: str, *, imgsz: int, batch: int, stride: int = 32):
    """An Ultralytics dataset of one split of ``data_yaml``, letterboxed to ``imgsz`` without augmentation."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(data_yaml))
    return build_yolo_dataset(get_cfg(overrides={"imgsz": imgsz}), data[split], batch, data, mode="val", stride=stride)


def attach_detection_loss(model, gains: dict[str, float] | None = None) -> None:
    """Give ``model`` the hyperparameters ``model.loss`` reads (default box/cls/DFL gains unless given) and a fresh
    criterion: a checkpoint loaded outside a trainer stores its arguments as a plain dict, which the loss cannot use."""
    from ultralytics.cfg import get_cfg

    model.args = get_cfg(overrides=gains or {})
    model.criterion = None


def validation_loss(weights: str | Path, data_yaml: str | Path, *, imgsz: int, device: str = "cpu") -> ValidationLoss:
    """Mean per-image box/cls/DFL loss of ``weights`` on the val split of ``data_yaml`` (letterboxed, no augment)."""
    import torch
    from ultralytics.data import build_dataloader
    from ultralytics.nn.tasks import load_checkpoint

    device = torch_device(device)  # "0" (as the CLI spells a GPU) is no torch device
    model, _ = load_checkpoint(str(weights), device=device, fuse=False)
    model = model.float().eval()
    stored = dict(model.args) if isinstance(model.args, dict) else vars(model.args)
    attach_detection_loss(model, {k: v for k, v in stored.items() if k in ("box", "cls", "dfl")})
    dataset = letterboxed_dataset(data_yaml, "val", imgsz=imgsz, batch=1, stride=int(model.stride.max()))
    loader = build_dataloader(dataset, 1, workers=0, shuffle=False, pin_memory=False, device=device)
    sums = torch.zeros(3)
    images = 0
    with torch.no_grad():
        for item in loader:
            item["img"] = item["img"].to(device).float() / 255
            for key in ("batch_idx", "cls", "bboxes"):
                item[key] = item[key].to(device)
            _, parts = model.loss(item)
            parts = torch.stack(list(parts.values())) if isinstance(parts, dict) else parts
            sums += parts.detach().float().cpu()[:3]
            images += 1
    box, cls, dfl = (float(v) / max(images, 1) for v in sums)
    return ValidationLoss(box=box, cls=cls, dfl=dfl, images=images)
