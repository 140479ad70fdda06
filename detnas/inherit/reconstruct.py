"""Recover what slicing loses: refit each inherited convolution so that it reproduces its parent's output.

Dropping channels, repeats or kernel taps removes terms from every sum downstream; BatchNorm re-estimation only
re-centres what is left, and a CPU-scale fine-tune cannot relearn it (a sliced YOLO scores near 0 mAP). Channel
pruning by reconstruction (He et al., 2017; ThiNet) instead solves, per layer, a least-squares problem: the child's
weights that best map the child's *actual* inputs to the parent's pre-BatchNorm outputs on real images.

Here the refit happens inside one forward pass of the child: a pre-forward hook on every inherited convolution fits
its weights on the input it is about to receive, so each layer also absorbs the error left by the layers before it
(sequential reconstruction). The parent's outputs are recorded once, at a fixed random subset of positions. A ridge
term pulls the solution toward the inherited weights, so an unchanged layer keeps them. The parent's BatchNorm
statistics then stay right for the refitted outputs, and no re-estimation is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ConvPair:
    """An inherited convolution: child output channel ``i`` copies parent output channel ``rows[i]`` (-1: none)."""

    child: nn.Conv2d
    parent: nn.Conv2d
    rows: torch.Tensor


@dataclass(frozen=True)
class Reconstruction:
    """What a reconstruction did: layers refitted and the relative output error before and after, over all of them."""

    layers: int
    images: int
    error_before: float
    error_after: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "layers": self.layers,
            "images": self.images,
            "error_before": round(self.error_before, 4),
            "error_after": round(self.error_after, 4),
        }


def _usable(pairs: Sequence[ConvPair]) -> list[ConvPair]:
    """One pair per child and per parent convolution (an extra repeat reuses a parent unit: it is not a copy of it),
    dense convolutions only, with at least one inherited output channel."""
    seen_child: set[int] = set()
    seen_parent: set[int] = set()
    out = []
    for pair in pairs:
        if pair.child.groups != 1 or pair.parent.groups != 1 or not bool((pair.rows >= 0).any()):
            continue
        if id(pair.child) in seen_child or id(pair.parent) in seen_parent:
            continue
        seen_child.add(id(pair.child))
        seen_parent.add(id(pair.parent))
        out.append(pair)
    return out


def _patches(conv: nn.Conv2d, x: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Rows of the im2col matrix of ``x`` for ``conv`` at flat output positions ``where`` (image-major), float64."""
    batch = x.shape[0]
    per_image = None
    rows = []
    for b in range(batch):
        cols = F.unfold(x[b : b + 1], conv.kernel_size, conv.dilation, conv.padding, conv.stride)[0]  # (D, L)
        per_image = cols.shape[1]
        mine = where[(where >= b * per_image) & (where < (b + 1) * per_image)] - b * per_image
        rows.append(cols[:, mine].T)
    return torch.cat(rows).double()


@torch.no_grad()
def reconstruct(
    child: nn.Module,
    parent: nn.Module,
    pairs: Sequence[ConvPair],
    images: torch.Tensor,
    *,
    positions: int = 8192,
    ridge: float = 1e-3,
    seed: int = 0,
) -> Reconstruction:
    """Refit every paired convolution of ``child`` in place (see the module doc); ``images``: a 0-1 float batch."""
    pairs = _usable(pairs)
    targets: dict[int, tuple[torch.Tensor, torch.Size, torch.Tensor]] = {}
    gen = torch.Generator().manual_seed(seed)

    def record(key: int, rows: torch.Tensor):
        def hook(_module, _inputs, out):
            flat = out.permute(0, 2, 3, 1).reshape(-1, out.shape[1])
            n = flat.shape[0]
            where = torch.randperm(n, generator=gen)[:positions].sort().values if n > positions else torch.arange(n)
            targets[key] = (flat[where][:, rows[rows >= 0]].double(), out.shape, where)

        return hook

    was = child.training, parent.training
    child.eval()
    parent.eval()
    hooks = [p.parent.register_forward_hook(record(k, p.rows)) for k, p in enumerate(pairs)]
    try:
        parent(images.float())
    finally:
        for h in hooks:
            h.remove()

    errors_before: list[float] = []
    errors_after: list[float] = []
    done = 0

    def refit(key: int, pair: ConvPair):
        def hook(conv: nn.Conv2d, inputs):
            nonlocal done
            if key not in targets:
                return
            y, shape, where = targets[key]
            x = inputs[0]
            out_h = (x.shape[2] + 2 * conv.padding[0] - conv.dilation[0] * (conv.kernel_size[0] - 1) - 1)
            out_w = (x.shape[3] + 2 * conv.padding[1] - conv.dilation[1] * (conv.kernel_size[1] - 1) - 1)
            if (x.shape[0], out_h // conv.stride[0] + 1, out_w // conv.stride[1] + 1) != (shape[0], shape[2], shape[3]):
                return  # another geometry than the parent's: nothing to match
            keep = torch.nonzero(pair.rows >= 0).flatten()
            a = _patches(conv, x, where)
            if conv.bias is not None:
                a = torch.cat([a, a.new_ones(a.shape[0], 1)], dim=1)
            w0 = conv.weight[keep].reshape(len(keep), -1).double()
            if conv.bias is not None:
                w0 = torch.cat([w0, conv.bias[keep].double()[:, None]], dim=1)
            gram = a.T @ a
            lam = ridge * float(torch.diagonal(gram).mean()) + 1e-12
            solution = torch.linalg.solve(gram + lam * torch.eye(gram.shape[0], dtype=gram.dtype), a.T @ y + lam * w0.T)
            scale = float(y.norm()) + 1e-12
            errors_before.append(float((a @ w0.T - y).norm()) / scale)
            errors_after.append(float((a @ solution - y).norm()) / scale)
            new = solution.T.to(conv.weight.dtype)
            d = conv.weight[0].numel()
            conv.weight[keep] = new[:, :d].reshape(len(keep), *conv.weight.shape[1:])
            if conv.bias is not None:
                conv.bias[keep] = new[:, d]
            done += 1

        return hook

    hooks = [p.child.register_forward_pre_hook(refit(k, p)) for k, p in enumerate(pairs)]
    try:
        child(images.float())
    finally:
        for h in hooks:
            h.remove()
        child.train(was[0])
        parent.train(was[1])
    mean = lambda v: sum(v) / len(v) if v else 0.0  # noqa: E731
    return Reconstruction(done, int(images.shape[0]), mean(errors_before), mean(errors_after))
