"""Recover what slicing loses: refit each inherited convolution so that the child reproduces its parent's outputs.

Dropping channels, repeats or kernel taps removes terms from every sum downstream; BatchNorm re-estimation only
re-centres what is left, and a CPU-scale fine-tune cannot relearn it (a sliced YOLO scores near 0 mAP). Channel
pruning by reconstruction (He et al., 2017; ThiNet) instead solves, per layer, a least-squares problem: the child's
weights that best map the child's *actual* inputs to the parent's pre-BatchNorm outputs on real images.

How the fit is kept from overfitting its images (a first version kept 0 of 6 of the parent's detections on images it
had not seen while keeping 21% on its own):

- **Order.** The refit happens inside one forward pass of the child: a pre-forward hook on every inherited
  convolution fits its weights on the input it is about to receive, so each layer absorbs the error left by the
  layers before it (sequential reconstruction).
- **Samples.** Every position of every image is a sample. Each layer takes ``samples_per_unknown`` times as many
  positions as it has unknowns (input channels x kernel taps + 1) where the images have them, drawn at random.
- **Held-apart ridge.** The images are split: a quarter never enter the fit. The ridge that pulls the solution
  toward the inherited weights is chosen per layer on that quarter's error, among ``RIDGES`` (scaled by the mean
  diagonal of the Gram matrix), and ``Reconstruction.heldout_error`` is measured there.
- **Intercept.** A convolution followed by BatchNorm has no bias; the fitted intercept is folded into the BatchNorm's
  running mean instead, so the mean of a lost input is restored.
- **Block outputs.** In a residual block (``x + cv2(cv1(x))``) the child's skip input carries the error of every
  layer before it. The last convolution of the branch is fitted to the parent's *block* output: its target is the
  parent's pre-activation moved by the skip error, divided by the activation's slope there (one damped Gauss-Newton
  step through BatchNorm and SiLU), so the branch corrects what the skip path brings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

RIDGES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # times the Gram matrix's mean diagonal
HELD_APART = 0.25  # share of the images kept out of every fit to choose the ridge and report the error


@dataclass(frozen=True)
class ConvPair:
    """An inherited convolution: child output channel ``i`` copies parent output channel ``rows[i]`` (-1: none)."""

    child: nn.Conv2d
    parent: nn.Conv2d
    rows: torch.Tensor


@dataclass(frozen=True)
class Reconstruction:
    """What a reconstruction did: layers refitted, images used, and the relative output error of the fitted layers
    before and after, on the fit images (``error_*``) and on the held-apart images (``heldout_error_*``)."""

    layers: int
    images: int
    error_before: float
    error_after: float
    heldout_error_before: float = float("nan")
    heldout_error_after: float = float("nan")
    heldout_images: int = 0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "layers": self.layers,
            "images": self.images,
            "error_before": round(self.error_before, 4),
            "error_after": round(self.error_after, 4),
            "heldout_images": self.heldout_images,
            "heldout_error_before": round(self.heldout_error_before, 4),
            "heldout_error_after": round(self.heldout_error_after, 4),
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


def _units(model: nn.Module) -> dict[int, nn.Module]:
    """Each convolution's Conv+BN+activation unit (Ultralytics' ``Conv``), by the convolution's id."""
    return {
        id(m.conv): m
        for m in model.modules()
        if isinstance(getattr(m, "conv", None), nn.Conv2d) and isinstance(getattr(m, "bn", None), nn.BatchNorm2d)
    }


def _residual_tails(model: nn.Module) -> dict[int, nn.Module]:
    """The convolution that ends the branch of each residual block (``x + cv2(cv1(x))``), by its id -> the block."""
    out = {}
    for m in model.modules():
        tail = getattr(getattr(m, "cv2", None), "conv", None)
        if getattr(m, "add", False) is True and hasattr(m, "cv1") and isinstance(tail, nn.Conv2d):
            out[id(tail)] = m
    return out


def _positions(per_image: int, images: int, want: int, gen: torch.Generator) -> torch.Tensor:
    """Sorted flat indices (image-major) of at most ``want`` positions out of ``images * per_image``."""
    n = per_image * images
    return torch.randperm(n, generator=gen)[:want].sort().values if n > want else torch.arange(n)


def _patches(conv: nn.Conv2d, x: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Rows of the im2col matrix of ``x`` for ``conv`` at flat output positions ``where`` (image-major)."""
    rows = []
    for b in range(x.shape[0]):
        cols = F.unfold(x[b : b + 1], conv.kernel_size, conv.dilation, conv.padding, conv.stride)[0]  # (D, L)
        per_image = cols.shape[1]
        mine = where[(where >= b * per_image) & (where < (b + 1) * per_image)] - b * per_image
        rows.append(cols[:, mine].T)
    return torch.cat(rows)


def _at(t: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """A (B, C, H, W) map's values at flat positions ``where``: (len(where), C)."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])[where]


def _unknowns(conv: nn.Conv2d) -> int:
    return conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1] + 1


def _silu_slope(u: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(u)
    return s * (1 + u * (1 - s))


@torch.no_grad()
def reconstruct(
    child: nn.Module,
    parent: nn.Module,
    pairs: Sequence[ConvPair],
    images: torch.Tensor,
    *,
    samples_per_unknown: int = 8,
    max_positions: int = 32768,
    ridges: Sequence[float] = RIDGES,
    intercept: bool = True,
    block_targets: bool = True,
    seed: int = 0,
) -> Reconstruction:
    """Refit every paired convolution of ``child`` in place (see the module doc); ``images``: a 0-1 float batch."""
    pairs = _usable(pairs)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(images.shape[0], generator=gen)
    held_count = int(images.shape[0] * HELD_APART) if images.shape[0] >= 4 else 0
    images = images[order].float()  # the first ``held_count`` images are the held-apart ones
    child_units, parent_units = _units(child), _units(parent)
    child_tails, parent_tails = _residual_tails(child), _residual_tails(parent)
    targets: dict[int, tuple[torch.Tensor, torch.Size, torch.Tensor]] = {}
    skips: dict[int, torch.Tensor] = {}  # residual tails: the parent's block input at the sampled positions
    block_inputs: dict[int, torch.Tensor] = {}

    def record(key: int, pair: ConvPair):
        def hook(_module, _inputs, out):
            per_image = out.shape[2] * out.shape[3]
            want = min(max_positions, samples_per_unknown * _unknowns(pair.child))
            where = _positions(per_image, out.shape[0], want, gen)
            rows = pair.rows[pair.rows >= 0]
            targets[key] = (_at(out, where)[:, rows].double(), out.shape, where)
            if key in block_inputs:
                skips[key] = _at(block_inputs.pop(key), where)[:, rows].double()

        return hook

    def remember_input(key: int):
        def hook(_module, inputs):
            block_inputs[key] = inputs[0]

        return hook

    was = child.training, parent.training
    child.eval()
    parent.eval()
    hooks = [p.parent.register_forward_hook(record(k, p)) for k, p in enumerate(pairs)]
    hooks += [
        parent_tails[id(p.parent)].register_forward_pre_hook(remember_input(k))
        for k, p in enumerate(pairs)
        if id(p.parent) in parent_tails and id(p.child) in child_tails
    ]
    try:
        parent(images)
    finally:
        for h in hooks:
            h.remove()
        block_inputs.clear()

    fit_before: list[float] = []
    fit_after: list[float] = []
    held_before: list[float] = []
    held_after: list[float] = []
    done = 0
    child_block_inputs: dict[int, torch.Tensor] = {}

    def target_for(key: int, pair: ConvPair, y: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """The pre-BatchNorm target of a residual tail moved to correct the child's skip error (see module doc)."""
        x_child = child_block_inputs.get(key)
        unit = parent_units.get(id(pair.parent))
        if not block_targets or key not in skips or x_child is None or unit is None:
            return y
        if not isinstance(unit.act, nn.SiLU):
            return y
        skip_child = _at(x_child, where).double()
        if skip_child.shape != skips[key].shape:
            return y
        bn = unit.bn
        rows = pair.rows[pair.rows >= 0]
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps))[rows].double()
        shift = (bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps))[rows].double()
        slope = _silu_slope(y * scale + shift)
        error = skips[key] - skip_child  # what the child's skip path lacks, after the activation
        step = error * slope / (slope * slope + 0.1)
        return y + step / scale

    def refit(key: int, pair: ConvPair):
        def hook(conv: nn.Conv2d, inputs):
            nonlocal done
            if key not in targets:
                return
            y, shape, where = targets[key]
            x = inputs[0]
            out_h = x.shape[2] + 2 * conv.padding[0] - conv.dilation[0] * (conv.kernel_size[0] - 1) - 1
            out_w = x.shape[3] + 2 * conv.padding[1] - conv.dilation[1] * (conv.kernel_size[1] - 1) - 1
            if (x.shape[0], out_h // conv.stride[0] + 1, out_w // conv.stride[1] + 1) != (shape[0], shape[2], shape[3]):
                return  # another geometry than the parent's: nothing to match
            y = target_for(key, pair, y, where)
            keep = torch.nonzero(pair.rows >= 0).flatten()
            a = _patches(conv, x, where).double()
            a = torch.cat([a, a.new_ones(a.shape[0], 1) if intercept else a.new_zeros(a.shape[0], 1)], dim=1)
            unit = child_units.get(id(conv))
            w0 = conv.weight[keep].reshape(len(keep), -1).double()
            b0 = conv.bias[keep].double() if conv.bias is not None else w0.new_zeros(len(keep))
            w0 = torch.cat([w0, b0[:, None]], dim=1)
            per_image = shape[2] * shape[3]
            held = where < held_count * per_image
            fit = ~held if bool((~held).sum() > a.shape[1]) else torch.ones_like(held)
            gram = a[fit].T @ a[fit]
            rhs = a[fit].T @ y[fit]
            scale = float(torch.diagonal(gram).mean()) + 1e-12
            eye = torch.eye(gram.shape[0], dtype=gram.dtype)
            best = None
            for ridge in ridges:
                lam = ridge * scale
                solution = torch.linalg.solve(gram + lam * eye, rhs + lam * w0.T)
                if not bool(held.any()):
                    best = (0.0, solution)
                    break
                err = float((a[held] @ solution - y[held]).norm())
                if best is None or err < best[0]:
                    best = (err, solution)
            assert best is not None
            solution = best[1]

            def rel(rows: torch.Tensor, w: torch.Tensor) -> float:
                return float((a[rows] @ w - y[rows]).norm()) / (float(y[rows].norm()) + 1e-12)

            fit_before.append(rel(fit, w0.T))
            fit_after.append(rel(fit, solution))
            if bool(held.any()):
                held_before.append(rel(held, w0.T))
                held_after.append(rel(held, solution))
            new = solution.T
            d = conv.weight[0].numel()
            conv.weight[keep] = new[:, :d].reshape(len(keep), *conv.weight.shape[1:]).to(conv.weight.dtype)
            offset = new[:, d]
            if conv.bias is not None:
                conv.bias[keep] = offset.to(conv.bias.dtype)
            elif unit is not None:  # BN(z + c) = BN'(z) with the running mean lowered by c
                unit.bn.running_mean[keep] -= offset.to(unit.bn.running_mean.dtype)
            done += 1

        return hook

    def remember_child_input(key: int):
        def hook(_module, inputs):
            child_block_inputs[key] = inputs[0]

        return hook

    hooks = [p.child.register_forward_pre_hook(refit(k, p)) for k, p in enumerate(pairs)]
    hooks += [
        child_tails[id(p.child)].register_forward_pre_hook(remember_child_input(k))
        for k, p in enumerate(pairs)
        if k in skips
    ]
    try:
        child(images)
    finally:
        for h in hooks:
            h.remove()
        child.train(was[0])
        parent.train(was[1])

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    return Reconstruction(
        layers=done,
        images=int(images.shape[0]) - held_count,
        error_before=mean(fit_before),
        error_after=mean(fit_after),
        heldout_error_before=mean(held_before),
        heldout_error_after=mean(held_after),
        heldout_images=held_count,
    )
