"""A candidate network started from trained parents: build, transfer from the parent that covers it best, re-estimate
BatchNorm on real images, save as an Ultralytics checkpoint that training, validation and prediction load as it is."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from detnas.architecture import build_model
from detnas.genome import ArchGenome
from detnas.inherit.reconstruct import reconstruct
from detnas.inherit.transfer import Inheritance, out_channels, summarize, transfer


class Parent(Protocol):
    """What inheritance needs of a parent (``detnas.inherit.checkpoint.ParentCheckpoint`` is one)."""

    path: Path
    model: nn.Module
    genome: ArchGenome
    nc: int


def inherit(
    genome: ArchGenome,
    parents: Sequence[Parent],
    *,
    nc: int,
    names: dict[int, str] | None = None,
    seed: int = 0,
    images: Callable[[], torch.Tensor] | None = None,
) -> tuple[nn.Module, Inheritance]:
    """The candidate filled from the parent whose transfer covers most of its parameters (ties: the first given).

    Layers no parent fills keep a fresh initialisation drawn with ``seed``, so the result is reproducible. When the
    data's class count differs from a parent's, the class predictions start fresh (``Inheritance.head_reset``).
    With ``images`` (returns a 0-1 float batch of real training images; called only when needed), a candidate whose
    transfer changed the parent's
    function has its inherited convolutions refitted to reproduce the parent's outputs on them
    (``detnas.inherit.reconstruct``).
    """
    if not parents:
        raise ValueError("inheritance needs at least one parent")
    torch.manual_seed(seed)
    fresh = build_model(genome, nc, names=names or {i: str(i) for i in range(nc)})
    fresh._detnas_out_channels = out_channels(fresh)  # one forward pass, shared by every parent's transfer
    best = None
    for parent in parents:
        model = copy.deepcopy(fresh)
        tally = transfer(model, genome.architecture.with_nc(nc), parent.model, parent.genome)
        result = summarize(tally, model, Path(parent.path).name)
        result = replace(result, head_reset=not same_classes(parent.names, nc, names))
        if best is None or result.inherited_params > best[1].inherited_params:
            best = (model, result, tally, parent)
    assert best is not None
    model, result, tally, parent = best
    if images is not None and any(m == "sliced" for m in result.methods):
        done = reconstruct(model, parent.model, tally.pairs, images(), seed=seed)
        result = replace(result, reconstruction=done.to_dict())
    return model, result


def same_classes(parent_names: dict[int, str], nc: int, names: dict[int, str] | None) -> bool:
    """Whether the data's classes are the parent's: same count and, where the data names them, the same names in the
    same order (case and spaces aside). Otherwise the parent's class predictions mean nothing for this data."""
    if len(parent_names) != nc:
        return False
    if names is None:
        return True

    def norm(text: str) -> str:
        return " ".join(str(text).lower().split())

    return all(norm(parent_names.get(i, "")) == norm(names.get(i, "")) for i in range(nc))


@torch.no_grad()
def reestimate_bn(model: nn.Module, images: Iterable[torch.Tensor]) -> int:
    """Replace every BatchNorm's running statistics by their plain average over ``images`` (batches, 0-1 floats).

    Sliced or grown layers see inputs whose statistics differ from what the parent's BN layers stored; recomputing
    them on a few real batches is what once-for-all networks do before evaluating a sub-network. Returns the
    number of images seen.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [(m.momentum, m.training) for m in norms]
    was_training = model.training
    seen = 0
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    model.eval()
    for m in norms:
        m.train()
    try:
        for batch in images:
            model(batch.float())
            seen += int(batch.shape[0])
    finally:
        for m, (momentum, training) in zip(norms, saved, strict=True):
            m.momentum = momentum
            m.train(training)
        model.train(was_training)
    if seen == 0:
        raise ValueError("BatchNorm re-estimation needs at least one batch of images")
    return seen


def save_checkpoint(model: nn.Module, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Save as an Ultralytics checkpoint (``YOLO(path)`` loads, trains, validates and predicts it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    checkpoint = {"model": model, "ema": None, "optimizer": None, "epoch": -1, "train_args": {}, "date": None}
    checkpoint.update(extra or {})
    torch.save(checkpoint, path)
    return path
