"""Training-free scores, computed on a freshly initialised model and a few real training batches (seconds each).

All scores are oriented "higher is better" (the search maximises them):

- ``params``: parameter count, the capacity baseline every zero-cost score must beat to be worth anything.
- ``synflow``: log of the SynFlow saliency (Tanaka et al., 2020): with every weight replaced by its absolute value and
  an all-ones input, the sum over parameters of |theta * dR/dtheta| for R = the sum of all head outputs. Data-free and
  label-free; measured in float64 on the raw head outputs with BatchNorm in eval mode (a positive linear map).
- ``zico``: the ZiCo score (Li et al., 2023): for every conv/linear weight, the mean over batches of the absolute
  gradient divided by its standard deviation across batches, summed per layer and logged, summed over layers. The
  gradients are of the real detection loss (box + cls + DFL) on real labelled images.
- ``entropy``: a feature-entropy score in the family of MAE-DET (Sun et al., 2022): with weights redrawn from N(0, 1),
  the Gaussian differential entropy (log of the standard deviation) of every feature map the detection head reads,
  summed over pyramid levels, with the scale that each BatchNorm removes added back (sum of log batch std, the
  Zen-NAS compensation), so that expressivity rather than normalisation is measured. Real images are the input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

TRAINING_FREE = ("params", "synflow", "zico", "entropy")


def real_batches(data_yaml: str | Path, *, imgsz: int, batch: int, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` letterboxed (unaugmented) batches of the data's *training* split, drawn with a fixed seed.

    Images are taken in a seeded random order; a split smaller than ``batch * count`` is cycled through again.
    """
    import torch

    from detnas.proxies.val_loss import letterboxed_dataset

    dataset = letterboxed_dataset(data_yaml, "train", imgsz=imgsz, batch=batch)
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    while len(order) < batch * count:
        order += torch.randperm(len(dataset), generator=generator).tolist()
    batches = []
    for start in range(0, batch * count, batch):
        items = [dataset[i] for i in order[start : start + batch]]
        collated = dataset.collate_fn(items)
        collated["img"] = collated["img"].float() / 255
        batches.append(collated)
    return batches


def _weights(model) -> list:
    import torch.nn as nn

    return [m.weight for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear) and m.weight.requires_grad]


def params_score(model, batches: list[dict[str, Any]]) -> float:
    return float(sum(p.numel() for p in model.parameters()))


def synflow_score(model, batches: list[dict[str, Any]]) -> float:
    import torch

    model = model.double().train()  # raw head outputs (no box decoding): the network stays a positive linear map
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    with torch.no_grad():
        for p in model.state_dict().values():
            if p.is_floating_point():
                p.abs_()
    model.zero_grad()
    image = batches[0]["img"][:1]
    outputs = model(torch.ones_like(image, dtype=torch.float64))
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    total = sum(_flatten_sum(o) for o in outputs)
    total.backward()
    saliency = sum(float((p.detach() * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)
    return math.log(saliency) if saliency > 0 else float("-inf")


def _flatten_sum(value) -> Any:
    if isinstance(value, list | tuple):
        return sum(_flatten_sum(v) for v in value)
    if isinstance(value, dict):
        return sum(_flatten_sum(v) for v in value.values())
    return value.sum()


def zico_score(model, batches: list[dict[str, Any]]) -> float:
    import torch

    from detnas.proxies.val_loss import attach_detection_loss

    if len(batches) < 2:
        raise ValueError("zico needs at least 2 batches (gradient standard deviation across batches)")
    model = model.float().train()
    attach_detection_loss(model)
    weights = _weights(model)
    grads: list[list[torch.Tensor]] = [[] for _ in weights]
    for batch in batches:
        model.zero_grad()
        loss, _ = model.loss(batch)
        loss.sum().backward()
        for i, w in enumerate(weights):
            grads[i].append(torch.zeros_like(w) if w.grad is None else w.grad.detach().clone())
    score = 0.0
    for per_batch in grads:
        stacked = torch.stack(per_batch)
        mean, std = stacked.abs().mean(0), stacked.std(0)
        nonzero = std > 0
        if nonzero.any():
            value = float((mean[nonzero] / std[nonzero]).sum())
            if value > 0:
                score += math.log(value)
    return score


def entropy_score(model, batches: list[dict[str, Any]]) -> float:
    import torch
    import torch.nn as nn

    model = model.double().train()  # batch statistics: every BN normalises, its removed scale is added back below
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                module.weight.normal_(0, 1, generator=torch.Generator().manual_seed(0))
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
                module.momentum = 1.0
    log_scales: list[float] = []
    head_inputs: list[Any] = []

    def on_bn(module, inputs, _output) -> None:
        variance = inputs[0].var(dim=(0, 2, 3)).mean()
        log_scales.append(0.5 * math.log(float(variance) + 1e-12))

    def on_head(module, inputs) -> None:
        head_inputs.extend(inputs[0])

    hooks = [m.register_forward_hook(on_bn) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    hooks.append(model.model[-1].register_forward_pre_hook(on_head))
    try:
        with torch.no_grad():
            model(batches[0]["img"].double())
    finally:
        for hook in hooks:
            hook.remove()
    features = sum(math.log(float(x.std()) + 1e-12) for x in head_inputs)
    return features + sum(log_scales)


SCORES: dict[str, Callable[[Any, list[dict[str, Any]]], float]] = {
    "params": params_score,
    "synflow": synflow_score,
    "zico": zico_score,
    "entropy": entropy_score,
}


def training_free_score(
    name: str, arch_yaml: str | Path, nc: int, batches: list[dict[str, Any]], *, seed: int = 0
) -> float:
    """Build ``arch_yaml`` fresh (seeded initialisation) and compute one training-free score on ``batches``."""
    import torch

    from detnas.architecture import build_model

    torch.manual_seed(seed)
    model = build_model(arch_yaml, nc)
    return SCORES[name](model, batches)
