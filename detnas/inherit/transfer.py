"""Copy a trained parent's weights into a candidate of another shape, keeping the parent's function where it can.

Every tensor a candidate computes gets a **channel map**: for each of its channels, the parent channel it copies
(``-1``: none, the channel keeps its fresh initialisation). A producer writes its output rows by the map and every
consumer reads its input columns by the same map, so Concat, split halves and residual sums stay consistent the
way one dependency graph keeps them in Torch-Pruning.

- **Smaller** than the parent: a map keeps the parent's most important channels (largest ``|BN gamma|``, network
  slimming), in their original order; the first repeats of a block; the centre of a larger kernel.
- **Larger**: a map keeps every parent channel and repeats the most important ones (Net2Net widening); consumers
  divide the weights they read from a repeated channel by its count, so their sums are unchanged. Extra repeats are
  copies of the last parent repeat whose contribution is zeroed (C2f family: the output conv's weights for them are
  0), or identities (residual chains: the last BatchNorm of the repeat has gamma = beta = 0). A larger kernel is the
  parent's kernel zero-padded. With every such step, a grown candidate computes exactly what its parent computes.

Layers are matched by the role the genome builder names (``P4/16 block``, ``P3/8 td3``), not by index, and only
when the module class is the same; other layers keep their fresh initialisation. ``Transfer`` says how much was
taken and how, so the figure travels with every score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from detnas.architecture import build_layers
from detnas.genome import ArchGenome
from detnas.inherit.reconstruct import ConvPair


@dataclass(frozen=True)
class Map:
    """Child channel -> parent channel (``-1``: none) of one tensor whose parent version has ``size`` channels."""

    idx: torch.Tensor
    size: int

    def __len__(self) -> int:
        return int(self.idx.numel())

    @staticmethod
    def identity(n: int) -> Map:
        return Map(torch.arange(n), n)

    @staticmethod
    def fresh(n: int) -> Map:
        return Map(torch.full((n,), -1, dtype=torch.long), 0)

    def scale(self) -> torch.Tensor:
        """Per child channel 1/(copies of its parent channel): what a consumer multiplies its weights by."""
        valid = self.idx >= 0
        counts = torch.bincount(self.idx[valid], minlength=max(self.size, 1)).float()
        out = torch.ones(len(self))
        out[valid] = 1.0 / counts[self.idx[valid]]
        return out


@dataclass(frozen=True)
class Zero:
    """An input part that the parent does not have (an extra repeat): its weights start at 0."""

    n: int


def cat_maps(*maps: Map) -> Map:
    """The map of a channel concatenation, given the maps of its parts (in the same order on both sides)."""
    parts, offset = [], 0
    for m in maps:
        parts.append(torch.where(m.idx >= 0, m.idx + offset, -1))
        offset += m.size
    return Map(torch.cat(parts), offset)


def select(importance: torch.Tensor, k: int) -> Map:
    """Keep the ``k`` most important of the parent's channels (order kept), or all plus repeats of the best."""
    p = importance.numel()
    order = torch.argsort(importance.float(), descending=True, stable=True)
    if k <= p:
        return Map(torch.sort(order[:k]).values, p)
    extra = order[torch.arange(k - p) % p]
    return Map(torch.cat([torch.arange(p), extra]), p)


_NORMAL = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.005, 0.995, 99))  # quantiles of N(0, 1)


def importance(conv: nn.Module) -> torch.Tensor:
    """How much a channel carries: the RMS of its output, from its BatchNorm alone (no data).

    A BN channel outputs ``act(z)`` with ``z ~ N(beta, gamma^2)`` on the data it was fitted to; the RMS of that
    (through SiLU where the unit has one) ranks channels as network slimming's |gamma| does, and also sees that a
    channel whose bias keeps it below zero is silenced by SiLU. A bare convolution ranks by its filter's L1 norm.
    """
    bn = getattr(conv, "bn", None)
    if isinstance(bn, nn.BatchNorm2d):
        beta, gamma = bn.bias.detach().float(), bn.weight.detach().float().abs()
        z = beta[:, None] + gamma[:, None] * _NORMAL[None, :]
        act = getattr(conv, "act", None)
        if isinstance(act, nn.SiLU):
            z = nn.functional.silu(z)
        return z.pow(2).mean(dim=1).sqrt()
    weight = _conv2d(conv).weight.detach()
    return weight.abs().sum(dim=(1, 2, 3))


def _conv2d(unit: nn.Module) -> nn.Conv2d:
    return unit if isinstance(unit, nn.Conv2d) else unit.conv


def _fit_kernel(weight: torch.Tensor, size: int, shift: int) -> torch.Tensor:
    """Crop or zero-pad a kernel so that ``child[u] = parent[u - shift]`` (shift = child padding - parent padding)."""
    k = weight.shape[-1]
    if k == size and shift == 0:
        return weight
    out = weight.new_zeros((*weight.shape[:2], size, size))
    lo, hi = max(0, shift), min(size, k + shift)
    if lo < hi:
        out[..., lo:hi, lo:hi] = weight[..., lo - shift : hi - shift, lo - shift : hi - shift]
    return out


@dataclass
class Tally:
    """Running count of what a transfer wrote."""

    inherited: int = 0
    layers: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[ConvPair] = field(default_factory=list)  # every convolution written, for reconstruction


def copy_conv(child: nn.Module, parent: nn.Module, parts: Sequence[Map | Zero], out: Map, tally: Tally) -> None:
    """Write ``child`` (Conv+BN unit or bare Conv2d) from ``parent``: output rows by ``out``, input columns by
    ``parts`` (the maps of the concatenated inputs, in order). Depthwise convolutions use ``out`` for both."""
    cc, pc = _conv2d(child), _conv2d(parent)
    rows = out.idx
    keep = rows >= 0
    if not bool(keep.any()):
        return
    shift = cc.padding[0] - pc.padding[0] if isinstance(cc.padding, tuple) else 0
    source = _fit_kernel(pc.weight.detach(), cc.kernel_size[0], shift)
    weight = cc.weight.detach().clone()
    kk = cc.kernel_size[0] * cc.kernel_size[1]
    if cc.groups > 1:
        if not (cc.groups == cc.in_channels == cc.out_channels and pc.groups == pc.in_channels == pc.out_channels):
            raise NotImplementedError("only depthwise grouped convolutions are mapped")
        weight[keep] = source[rows[keep]].to(weight.dtype)
        tally.inherited += int(keep.sum()) * kk
    else:
        child_cols, parent_cols, scales, zero_cols = [], [], [], []
        c_off = p_off = 0
        for part in parts:
            if isinstance(part, Zero):
                zero_cols.append(torch.arange(c_off, c_off + part.n))
                c_off += part.n
                continue
            valid = part.idx >= 0
            child_cols.append(torch.arange(c_off, c_off + len(part))[valid])
            parent_cols.append(part.idx[valid] + p_off)
            scales.append(part.scale()[valid])
            c_off += len(part)
            p_off += part.size
        if c_off != cc.in_channels:
            raise ValueError(f"input parts cover {c_off} channels, the convolution has {cc.in_channels}")
        r = torch.nonzero(keep).flatten()
        if child_cols:
            ccols, pcols, scale = torch.cat(child_cols), torch.cat(parent_cols), torch.cat(scales)
            if pcols.numel() and int(pcols.max()) >= pc.in_channels:
                raise ValueError("input map points past the parent's input channels")
            block = source[rows[keep]][:, pcols] * scale.view(1, -1, 1, 1)
            weight[r.unsqueeze(1), ccols.unsqueeze(0)] = block.to(weight.dtype)
            tally.inherited += int(keep.sum()) * int(ccols.numel()) * kk
        for cols in zero_cols:
            weight[r.unsqueeze(1), cols.unsqueeze(0)] = 0.0
            tally.inherited += int(keep.sum()) * int(cols.numel()) * kk
    with torch.no_grad():
        cc.weight.copy_(weight)
        if cc.bias is not None and pc.bias is not None:
            cc.bias[keep] = pc.bias.detach()[rows[keep]].to(cc.bias.dtype)
            tally.inherited += int(keep.sum())
        cbn, pbn = getattr(child, "bn", None), getattr(parent, "bn", None)
        if isinstance(cbn, nn.BatchNorm2d) and isinstance(pbn, nn.BatchNorm2d):
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(cbn, name)[keep] = getattr(pbn, name).detach()[rows[keep]].to(getattr(cbn, name).dtype)
            tally.inherited += 2 * int(keep.sum())
    tally.pairs.append(ConvPair(cc, pc, rows.clone()))


def _zero_bn(unit: nn.Module) -> None:
    """Make a Conv+BN unit output exactly 0 (SiLU(0) = 0): a residual branch ending in it is an identity."""
    with torch.no_grad():
        unit.bn.weight.zero_()
        unit.bn.bias.zero_()


def _copy_module(child: nn.Module, parent: nn.Module) -> bool:
    """Copy a whole module whose tensors have the same shapes; False when they differ."""
    cs, ps = child.state_dict(), parent.state_dict()
    if cs.keys() != ps.keys() or any(cs[k].shape != ps[k].shape for k in cs):
        return False
    child.load_state_dict(ps)
    return True


# ---- blocks ------------------------------------------------------------------------------------------------------


def _bottleneck(c: nn.Module, p: nn.Module, through: Map, t: Tally) -> None:
    """Bottleneck (residual or not): hidden channels by importance; output written on the input's map."""
    hidden = select(importance(p.cv1), _conv2d(c.cv1).out_channels)
    copy_conv(c.cv1, p.cv1, [through], hidden, t)
    copy_conv(c.cv2, p.cv2, [hidden], through, t)


def _repeat(c: nn.Module, p: nn.Module, through: Map, t: Tally) -> bool:
    """One repeated unit inside a block, in and out on ``through``; False when its kind differs from the parent's."""
    if type(c) is not type(p):
        return False
    name = type(c).__name__
    if name == "Bottleneck":
        _bottleneck(c, p, through, t)
    elif name == "C3k":
        _c3(c, p, [through], t, out=through)
    elif name == "PSABlock":
        _psa_block(c, p, through, t)
    else:  # GhostBottleneck, CIB: their inner layout is not mapped; they keep their fresh initialisation
        return False
    return True


def _extend_chain(c_m: Sequence[nn.Module], p_m: Sequence[nn.Module], through: Map, t: Tally) -> None:
    """A sequential chain (C3, C2): first repeats from the parent's; extra ones are identities where residual."""
    for i, unit in enumerate(c_m):
        src = p_m[min(i, len(p_m) - 1)]
        if not _repeat(unit, src, through, t):
            continue
        if i >= len(p_m) and getattr(unit, "add", False):
            _zero_bn(unit.cv2 if hasattr(unit, "cv2") and not hasattr(unit, "cv3") else unit.cv3)


def _conv(c: nn.Module, p: nn.Module, ins: list[Map], t: Tally) -> Map:
    out = select(importance(p), _conv2d(c).out_channels)
    copy_conv(c, p, ins, out, t)
    return out


def _aconv(c: nn.Module, p: nn.Module, ins: list[Map], t: Tally) -> Map:
    return _conv(c.cv1, p.cv1, ins, t)


def _scdown(c: nn.Module, p: nn.Module, ins: list[Map], t: Tally) -> Map:
    hidden = _conv(c.cv1, p.cv1, ins, t)
    copy_conv(c.cv2, p.cv2, [hidden], hidden, t)  # depthwise: channel to itself
    return hidden


def _adown(c: nn.Module, p: nn.Module, ins: list[Map], t: Tally) -> Map:
    """ADown splits its input in halves: a channel is read only where it falls in the same half in the parent."""
    (m,) = ins
    hc, hp = len(m) // 2, m.size // 2
    first = Map(torch.where((m.idx[:hc] >= 0) & (m.idx[:hc] < hp), m.idx[:hc], -1), hp)
    second = Map(torch.where(m.idx[hc:] >= hp, m.idx[hc:] - hp, -1), m.size - hp)
    return cat_maps(_conv(c.cv1, p.cv1, [first], t), _conv(c.cv2, p.cv2, [second], t))


def _split_maps(p_cv1: nn.Module, c_hidden: int, p_hidden: int) -> tuple[Map, Map]:
    """Maps of the two halves of a split convolution output (C2f, C2, C2PSA), each chosen within its half."""
    gamma = importance(p_cv1)
    return select(gamma[:p_hidden], c_hidden), select(gamma[p_hidden:], c_hidden)


def _c2f(c: nn.Module, p: nn.Module, ins: list[Map], t: Tally) -> Map:
    """C2f, C3k2, C2fCIB: cv1 -> halves (a, b); repeats chained on b; cv2 reads [a, b, each repeat's output]."""
    a, b = _split_maps(p.cv1, c.c, p.c)
    copy_conv(c.cv1, p.cv1, ins, cat_maps(a, b), t)
    parts: list[Map | Zero] = [a, b]
    for i, unit in enumerate(c.m):
        _repeat(unit, p.m[min(i, len(p.m) - 1)], b, t)
        parts.append(b if i < len(p.m) else Zero(c.c))  # an extra repeat contributes nothing at first
    return _conv(c.cv2, p.cv2, parts, t)


def _c3(c: nn.Module, p: nn.Module, ins: list[Map], t: Tally, out: Map | None = None) -> Map:
    """C3, C3x, C3Ghost, C3k: two branches (cv1 -> chain, cv2), concatenated into cv3."""
    chain, side = _conv(c.cv1, p.cv1, ins, t), _conv(c.cv2, p.cv2, ins, t)
    _extend_chain(list(c.m), list(p.m), chain, t)
    out = out if out is not None else select(importance(p.cv3), _conv2d(c.cv3).out_channels)
    copy_conv(c.cv3, p.cv3, [chain, side], out, t)
    return out


def _c2(c: nn.Module, p: nn.Module, ins: list[Map], t: Tally) -> Map:
    """C2: cv1 -> halves (a, b); chain on a; cv2 reads [chain(a), b]."""
    a, b = _split_maps(p.cv1, c.c, p.c)
    copy_conv(c.cv1, p.cv1, ins, cat_maps(a, b), t)
    _extend_chain(list(c.m), list(p.m), a, t)
    return _conv(c.cv2, p.cv2, [a, b], t)


def _sppf(c: nn.Module, p: nn.Module, ins: list[Map], t: Tally) -> Map:
    hidden = _conv(c.cv1, p.cv1, ins, t)
    pools = getattr(c, "n", 3)
    return _conv(c.cv2, p.cv2, [hidden] * (pools + 1), t)


def _attention(c: nn.Module, p: nn.Module, through: Map, t: Tally) -> None:
    """Multi-head attention: per head, query/key dims and value dims by importance (heads matched in order).

    Duplicated key dims scale the query down by their count and the query is rescaled by sqrt(kd_child/kd_parent)
    for the 1/sqrt(kd) in the scores, so a grown block with the parent's head count computes the same attention.
    """
    gamma = importance(p.qkv)
    per_p = 2 * p.key_dim + p.head_dim
    qkv_size = _conv2d(p.qkv).out_channels
    rows, qk_maps, values = [], [], []
    for h in range(c.num_heads):
        ph = h % p.num_heads
        base = ph * per_p
        qk = select(gamma[base : base + p.key_dim] * gamma[base + p.key_dim : base + 2 * p.key_dim], c.key_dim)
        v = select(gamma[base + 2 * p.key_dim : base + per_p], c.head_dim)
        rows += [qk.idx + base, qk.idx + base + p.key_dim, v.idx + base + 2 * p.key_dim]
        qk_maps.append(qk)
        values.append(v.idx + ph * p.head_dim)  # the heads' outputs are laid out head after head
    copy_conv(c.qkv, p.qkv, [through], Map(torch.cat(rows), qkv_size), t)
    with torch.no_grad():
        factor = (c.key_dim / p.key_dim) ** 0.5
        per_c = 2 * c.key_dim + c.head_dim
        for h, qk in enumerate(qk_maps):
            q = slice(h * per_c, h * per_c + c.key_dim)
            rescale = factor * qk.scale()
            c.qkv.bn.weight[q] *= rescale
            c.qkv.bn.bias[q] *= rescale
    value = Map(torch.cat(values), p.num_heads * p.head_dim)
    copy_conv(c.pe, p.pe, [value], value, t)
    copy_conv(c.proj, p.proj, [value], through, t)


def _psa_block(c: nn.Module, p: nn.Module, through: Map, t: Tally) -> None:
    _attention(c.attn, p.attn, through, t)
    hidden = _conv(c.ffn[0], p.ffn[0], [through], t)
    copy_conv(c.ffn[1], p.ffn[1], [hidden], through, t)


def _c2psa(c: nn.Module, p: nn.Module, ins: list[Map], t: Tally) -> Map:
    """C2PSA: halves (a, b); attention blocks chained on b; extra blocks are identities (their last BNs zeroed)."""
    a, b = _split_maps(p.cv1, c.c, p.c)
    copy_conv(c.cv1, p.cv1, ins, cat_maps(a, b), t)
    for i, block in enumerate(c.m):
        _psa_block(block, p.m[min(i, len(p.m) - 1)], b, t)
        if i >= len(p.m) and block.add:
            _zero_bn(block.attn.proj)
            _zero_bn(block.ffn[1])
    return _conv(c.cv2, p.cv2, [a, b], t)


def _detect_branch(c: nn.Sequential, p: nn.Sequential, x: Map, out: Map | None, t: Tally) -> None:
    """One Detect branch: two Conv units (or DWConv+Conv pairs), then the 1x1 prediction conv."""
    current = x
    for c_stage, p_stage in zip(list(c)[:-1], list(p)[:-1], strict=True):
        if isinstance(c_stage, nn.Sequential):  # DWConv(x, x) then Conv(x, c3, 1)
            copy_conv(c_stage[0], p_stage[0], [current], current, t)
            current = _conv(c_stage[1], p_stage[1], [current], t)
        else:
            current = _conv(c_stage, p_stage, [current], t)
    if out is not None:
        copy_conv(c[-1], p[-1], [current], out, t)


def _detect(c: nn.Module, p: nn.Module, ins: list[Map | None], t: Tally, offset: int) -> None:
    """Detect: branch i of the child reads the parent branch of the same pyramid level (``offset`` apart).

    The class predictions are copied only for the same class count; a new data set gets a fresh classifier."""
    for i in range(c.nl):
        j, x = i + offset, ins[i]
        if x is None or not 0 <= j < p.nl:
            continue
        if c.reg_max == p.reg_max:
            _detect_branch(c.cv2[i], p.cv2[j], x, Map.identity(4 * c.reg_max), t)
        if isinstance(c.cv3[i][0], nn.Sequential) == isinstance(p.cv3[j][0], nn.Sequential):  # legacy or not
            _detect_branch(c.cv3[i], p.cv3[j], x, Map.identity(c.nc) if c.nc == p.nc else None, t)


HANDLERS = {
    "Conv": _conv,
    "AConv": _aconv,
    "SCDown": _scdown,
    "ADown": _adown,
    "C2f": _c2f,
    "C3k2": _c2f,
    "C2fCIB": _c2f,
    "C3": _c3,
    "C3x": _c3,
    "C3Ghost": _c3,
    "C2": _c2,
    "SPPF": _sppf,
    "C2PSA": _c2psa,
}


# ---- whole networks ----------------------------------------------------------------------------------------------


def layer_roles(genome: ArchGenome) -> list[str]:
    """A role name per YAML layer (the builder's comment, numbered when it repeats; ``Detect`` for the head)."""
    layers, _, _ = build_layers(genome)
    seen: dict[str, int] = {}
    roles = []
    for row, comment in zip(layers.rows, layers.comments, strict=True):
        base = "Detect" if row[2] == "Detect" else comment
        roles.append(f"{base}#{seen.get(base, 0)}")
        seen[base] = seen.get(base, 0) + 1
    return roles


def _sources(layer: nn.Module) -> list[int]:
    f = layer.f if isinstance(layer.f, list) else [layer.f]
    return [layer.i - 1 if s == -1 else s for s in f]


def out_channels(model: nn.Module, imgsz: int = 64) -> list[int]:
    """Output channels of every layer, from one small forward pass."""
    channels: dict[int, int] = {}
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: channels.__setitem__(mod.i, out.shape[1]))
        for m in model.model
        if not hasattr(m, "nl")
    ]
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, imgsz, imgsz))
    finally:
        for h in hooks:
            h.remove()
        model.train(training)
    return [channels.get(i, 0) for i in range(len(model.model))]


def _short(layer: nn.Module) -> str:
    return type(layer).__name__


SAME_LAYOUT = {"C3k2": "C2f", "C2fCIB": "C2f"}  # subclasses of C2f: same cv1 / repeats / cv2 wiring


def _family(layer: nn.Module) -> str:
    return SAME_LAYOUT.get(_short(layer), _short(layer))


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _params_but_classes(layer: nn.Module, other: nn.Module) -> int:
    """A layer's parameter count, less a Detect head's class branches when ``other`` predicts another class count.

    Ultralytics sizes the class branches by the class count (80 classes: 80 channels; 4 classes: 64 in YOLO11n), and
    on new classes their predictions start fresh and learn in the head probe, so an otherwise whole head counts as
    copied, not sliced: its body is not refitted to the parent's COCO class features (on coco_indoor4, YOLO11n at
    320 px: 0.166 mAP50-95 in 48 s without that refit, 0.161 in 69 s with it)."""
    total = _params(layer)
    if hasattr(layer, "nl") and getattr(layer, "nc", None) != getattr(other, "nc", None):
        total -= sum(_params(branch) for branch in layer.cv3)
    return total


def transfer(child: nn.Module, child_genome: ArchGenome, parent: nn.Module, parent_genome: ArchGenome) -> Tally:
    """Fill ``child`` (an Ultralytics DetectionModel, freshly built) from ``parent`` in place; see the module doc."""
    child_roles, parent_roles = layer_roles(child_genome), layer_roles(parent_genome)
    parent_at = {role: i for i, role in enumerate(parent_roles)}
    c_layers, p_layers = list(child.model), list(parent.model)
    p_channels = getattr(parent, "_detnas_out_channels", None) or out_channels(parent)
    parent._detnas_out_channels = p_channels  # parents are reused for many candidates: one forward pass each
    c_channels = getattr(child, "_detnas_out_channels", None) or out_channels(child)
    offset = child_genome.neck.min_level - parent_genome.neck.min_level
    tally = Tally()
    # maps[i] = (parent layer whose output tensor child layer i's output copies, map); -1 is the input image
    maps: dict[int, tuple[int | None, Map]] = {-1: (-1, Map.identity(3))}
    for i, layer in enumerate(c_layers):
        j = parent_at.get(child_roles[i])
        plr = p_layers[j] if j is not None else None
        same = plr is not None and _family(plr) == _family(layer)
        inputs = [maps[s] for s in _sources(layer)]
        name = _short(layer)
        method = "fresh"
        if name == "Upsample":  # channel-wise: the parent's upsampled tensor, when it upsamples the same tensor
            src, m = inputs[0]
            maps[i] = (j, m) if same and src == _sources(plr)[0] else (None, Map.fresh(len(m)))
            continue
        if name == "Concat":
            if same:
                p_src = _sources(plr)
                parts = []
                for src, m in inputs:
                    if src in p_src:
                        k = p_src.index(src)
                        off = sum(p_channels[s] for s in p_src[:k])
                        parts.append(torch.where(m.idx >= 0, m.idx + off, -1))
                    else:
                        parts.append(torch.full((len(m),), -1, dtype=torch.long))
                maps[i] = (j, Map(torch.cat(parts), sum(p_channels[s] for s in p_src)))
            else:
                maps[i] = (None, Map.fresh(c_channels[i]))
            continue
        before = tally.inherited
        if same:
            p_src = _sources(plr)
            aligned = [
                m if src is not None and k < len(p_src) and src == p_src[k] else Map.fresh(len(m))
                for k, (src, m) in enumerate(inputs)
            ]
            if hasattr(layer, "nl"):  # Detect
                ins: list[Map | None] = [None] * layer.nl
                for k, (src, m) in enumerate(inputs):
                    pk = k + offset
                    ins[k] = m if 0 <= pk < len(p_src) and src == p_src[pk] else None
                _detect(layer, plr, ins, tally, offset)
            elif name in HANDLERS:
                maps[i] = (j, HANDLERS[name](layer, plr, aligned, tally))
            if tally.inherited > before:
                cp, pp = _params_but_classes(layer, plr), _params_but_classes(plr, layer)
                method = "copied" if cp == pp else ("sliced" if cp < pp else "grown")
        if i not in maps:
            maps[i] = (None, Map.fresh(c_channels[i]))
        tally.layers.append(
            {
                "layer": i,
                "role": child_roles[i],
                "module": name,
                "method": method,
                "inherited": tally.inherited - before,
            }
        )
    return tally


@dataclass(frozen=True)
class Inheritance:
    """What a candidate took from its parent: the figure that travels with its score."""

    parent: str
    method: str
    inherited_params: int
    total_params: int
    layers_inherited: int
    layers_total: int
    methods: dict[str, int]
    head_reset: bool = False  # the data has other classes than the parent: the class predictions start fresh
    reconstruction: dict[str, Any] | None = None  # sliced layers refitted to the parent's outputs (reconstruct.py)

    @property
    def fraction(self) -> float:
        return self.inherited_params / self.total_params if self.total_params else 0.0

    @property
    def changes_function(self) -> bool:
        """False when every layer was copied or grown: the candidate then computes what its parent computes."""
        return self.head_reset or any(m in ("sliced", "fresh") for m in self.methods)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"fraction": round(self.fraction, 4), "changes_function": self.changes_function}


METHOD = "importance-slice/net2net-grow"


def summarize(tally: Tally, child: nn.Module, parent_name: str) -> Inheritance:
    total = _params(child)
    weighted = [r for r in tally.layers if r["module"] not in ("Concat", "Upsample")]
    methods: dict[str, int] = {}
    for r in weighted:
        methods[r["method"]] = methods.get(r["method"], 0) + 1
    return Inheritance(
        parent=parent_name,
        method=METHOD,
        inherited_params=min(tally.inherited, total),
        total_params=total,
        layers_inherited=sum(1 for r in weighted if r["method"] != "fresh"),
        layers_total=len(weighted),
        methods=methods,
    )
