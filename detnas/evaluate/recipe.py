"""The proxy training recipe: the few knobs that decide what a short search-time training run costs and measures."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from detnas.errors import InputError

HEAD_PROBE = ("auto", "on", "off")
DISTILL = ("auto", "on", "off")


@dataclass(frozen=True)
class Recipe:
    """How a candidate is trained for the search (a proxy for full training, not a replacement).

    ``subset`` picks a seeded random sample of the training images: an int is a number of images, a float in (0, 1]
    a fraction. Ultralytics' own ``fraction`` takes the alphabetical prefix of the split, which is biased (COCO file
    names follow image ids), so it is never used. The same ``seed`` gives the same subset and the same trainer seed.

    ``time_limit_s`` stops training gracefully after the current batch once the wall time is spent (the weights of
    the last completed step are kept and validated). Ultralytics' own ``time=`` is not used because it *re-plans*
    the epoch count to fill the time instead of capping it.

    Augmentation defaults suit runs of a few epochs: ``close_mosaic`` closes mosaic for the final N epochs (mosaic
    images look unlike validation images, so short runs that end on mosaic score worse), ``warmup_epochs`` is capped
    by Ultralytics at ``epochs - 1``.
    """

    epochs: int = 1
    imgsz: int = 320
    batch: int = 16
    subset: int | float | None = None
    seed: int = 0
    time_limit_s: float | None = None
    optimizer: str = "AdamW"
    lr0: float = 0.001
    warmup_epochs: float = 1.0
    mosaic: float = 1.0
    close_mosaic: int = 1
    mixup: float = 0.0
    fliplr: float = 0.5
    scale: float = 0.5
    cache: bool = False
    workers: int = 0
    val_batch: int = 16
    # The class-head probe (detnas.evaluate.head_probe) before training: "auto" when the data's classes are not the
    # parent's (the class predictions start fresh), "on" always for inheriting proxies, "off" never.
    head_probe: str = "auto"
    probe_epochs: int = 30
    probe_lr: float = 1e-2
    # Distillation from the parent (detnas.evaluate.distill) after inheriting, before the fine-tune: "auto" when
    # slicing changed the parent's function and the data's classes are the parent's, "on" for every inheriting
    # candidate, "off" never. ``distill_epochs``: passes over the recipe's training images.
    distill: str = "off"
    distill_epochs: float = 1.0

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.imgsz >= 32, f"imgsz must be >= 32, got {self.imgsz}"),
            (self.batch >= 1, f"batch must be >= 1, got {self.batch}"),
            (self.val_batch >= 1, f"val_batch must be >= 1, got {self.val_batch}"),
            (self.head_probe in HEAD_PROBE, f"head_probe must be one of {HEAD_PROBE}, got {self.head_probe!r}"),
            (self.distill in DISTILL, f"distill must be one of {DISTILL}, got {self.distill!r}"),
            (
                self.distill_epochs > 0 and math.isfinite(self.distill_epochs),
                f"distill_epochs must be positive, got {self.distill_epochs}",
            ),
            (self.probe_epochs >= 1, f"probe_epochs must be >= 1, got {self.probe_epochs}"),
            (self.probe_lr > 0 and math.isfinite(self.probe_lr), f"probe_lr must be positive, got {self.probe_lr}"),
            (self.workers >= 0, f"workers must be >= 0, got {self.workers}"),
            (self.lr0 > 0 and math.isfinite(self.lr0), f"lr0 must be a positive number, got {self.lr0}"),
            (
                self.time_limit_s is None or self.time_limit_s > 0,
                f"time_limit_s must be positive or None, got {self.time_limit_s}",
            ),
        ]
        if self.subset is not None:
            if isinstance(self.subset, bool) or not isinstance(self.subset, int | float):
                checks.append((False, f"subset must be an int (images) or a float fraction, got {self.subset!r}"))
            elif isinstance(self.subset, int):
                checks.append((self.subset >= 1, f"subset must be >= 1 image, got {self.subset}"))
            else:
                checks.append((0 < self.subset <= 1, f"a fractional subset must lie in (0, 1], got {self.subset}"))
        for ok, message in checks:
            if not ok:
                raise InputError(f"recipe: {message}")

    def probes_head(self, head_reset: bool) -> bool:
        """Whether an inheriting candidate's class branches are probed before anything else trains."""
        return self.head_probe == "on" or (self.head_probe == "auto" and head_reset)

    def distills(self, sliced: bool, head_reset: bool) -> bool:
        """Whether an inheriting candidate learns from its parent's outputs before the fine-tune."""
        return self.distill == "on" or (self.distill == "auto" and sliced and not head_reset)

    def subset_size(self, available: int) -> int:
        """Number of training images this recipe uses out of ``available``."""
        if self.subset is None:
            return available
        if isinstance(self.subset, int):
            return min(self.subset, available)
        return max(1, min(available, round(self.subset * available)))

    def train_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``YOLO.train`` that this recipe decides (data, device and paths come elsewhere)."""
        return {
            "epochs": self.epochs,
            "imgsz": self.imgsz,
            "batch": self.batch,
            "seed": self.seed,
            "deterministic": True,
            "optimizer": self.optimizer,
            "lr0": self.lr0,
            "warmup_epochs": self.warmup_epochs,
            "mosaic": self.mosaic,
            "close_mosaic": self.close_mosaic,
            "mixup": self.mixup,
            "fliplr": self.fliplr,
            "scale": self.scale,
            "cache": "ram" if self.cache else False,
            "workers": self.workers,
        }

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """Build from a dict, rejecting unknown keys so a typo in a config file is not silently ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"recipe: unknown field(s) {unknown}; known fields are {sorted(names)}")
        return cls(**data)


# A brief fine-tune that keeps what a COCO-trained checkpoint knows: one pass over a seeded subset, AdamW at the rate
# Ultralytics' "auto" optimizer picks for short runs (~1e-4), no warm-up (its bias warm-up starts at lr 0.1, which
# wrecks trained weights in a one-epoch run) and no mosaic (a single epoch would otherwise end on mosaic images).
FINE_TUNE_DEFAULTS: dict[str, Any] = {
    "epochs": 1,
    "imgsz": 320,
    "subset": 128,
    "lr0": 1e-4,
    "warmup_epochs": 0.0,
    "mosaic": 0.0,
    "close_mosaic": 0,
}


def fine_tune_recipe(**overrides: Any) -> Recipe:
    """The recipe candidates that inherit COCO-trained weights are fine-tuned with (see ``FINE_TUNE_DEFAULTS``);
    every override counts, ``subset=None`` (all images) included."""
    return Recipe(**(FINE_TUNE_DEFAULTS | overrides))


# A search without checkpoints trains every candidate from scratch: two short epochs at a small size keep it minutes.
SCRATCH_SEARCH_DEFAULTS: dict[str, Any] = {"epochs": 2, "imgsz": 128}


def scratch_search_recipe(**overrides: Any) -> Recipe:
    """The recipe a search without checkpoints trains candidates with (see ``SCRATCH_SEARCH_DEFAULTS``)."""
    return Recipe(**(SCRATCH_SEARCH_DEFAULTS | overrides))
