"""Candidate scores ("proxies"): how the search estimates, cheaply, how good an architecture would be after training.

Every proxy yields one number, higher is better, that the search maximises next to latency. They differ in what they
pay for it:

- ``map``: brief training, mAP50-95 on the held-out split (pycocotools where COCO JSON exists).
- ``val-loss``: brief training, minus the detection loss on the held-out split (dense where mAP is still 0).
- ``tse``: brief training, minus the mean training loss over the run: the training-speed estimate
  (Ru et al., 2021), which needs no validation at all.
- ``params``, ``synflow``, ``zico``, ``entropy``: training-free, at initialisation (``training_free``).
- ``inherit``: the candidate starts from weights inherited from a trained parent (``detnas.inherit``), is
  fine-tuned briefly, and is scored by minus its validation loss.
- ``pretrained``: the candidate inherits from COCO-trained checkpoints (``detnas.inherit``: importance slicing,
  Net2Net growth, BatchNorm re-estimation), is fine-tuned briefly, and is scored by mAP50-95.
- ``pretrained-zero``: the same inheritance without the fine-tune: the cheap variant.

``benchmarks/proxy_fidelity.py`` measures how well each ranks architectures against much longer training.
"""

from __future__ import annotations

from dataclasses import dataclass

from detnas.errors import InputError


@dataclass(frozen=True)
class Proxy:
    """What a proxy needs the evaluation worker to do, and how its score is read off the results."""

    name: str
    summary: str
    trains: bool
    inherits: bool = False
    needs_val_loss: bool = False
    needs_map: bool = False  # validation (mAP) runs only for proxies that read it: it costs seconds per candidate

    @property
    def training_free(self) -> bool:
        return not self.trains


PROXIES: dict[str, Proxy] = {
    p.name: p
    for p in (
        Proxy("map", "brief training, mAP50-95 on the val split", trains=True, needs_map=True),
        Proxy("val-loss", "brief training, minus the val-split detection loss", trains=True, needs_val_loss=True),
        Proxy("tse", "brief training, minus the mean training loss (training-speed estimate)", trains=True),
        Proxy("params", "parameter count (training-free)", trains=False),
        Proxy("synflow", "log SynFlow saliency at initialisation (training-free)", trains=False),
        Proxy("zico", "ZiCo gradient signal-to-noise at initialisation, real batches (training-free)", trains=False),
        Proxy("entropy", "MAE-DET-style feature entropy at initialisation, real images (training-free)", trains=False),
        Proxy(
            "inherit",
            "weights inherited from a trained parent, brief fine-tune, minus val-split loss",
            trains=True,
            inherits=True,
            needs_val_loss=True,
        ),
        Proxy(
            "pretrained",
            "weights inherited from COCO-trained checkpoints, brief fine-tune, mAP50-95 on the val split",
            trains=True,
            inherits=True,
            needs_map=True,
        ),
        Proxy(
            "pretrained-zero",
            "weights inherited from COCO-trained checkpoints, BatchNorm re-estimated, mAP50-95 (no fine-tune)",
            trains=False,
            inherits=True,
            needs_map=True,
        ),
    )
}


CPU_DEFAULT_PROXY = "tse"  # the pick of benchmarks/proxy_fidelity.py (README, "Scoring candidates")


PRETRAINED_DEFAULT_PROXY = "pretrained"  # with COCO-trained parents: real mAP after a brief fine-tune


def default_proxy(device: str, *, parents: bool = False) -> str:
    """The proxy a search uses unless told otherwise: with checkpoints to inherit from, mAP after a brief
    fine-tune; without, the fidelity benchmark's from-scratch pick on CPU and mAP on accelerators."""
    if parents:
        return PRETRAINED_DEFAULT_PROXY
    return CPU_DEFAULT_PROXY if str(device).lower() == "cpu" else "map"


def get_proxy(name: str) -> Proxy:
    """The proxy called ``name``; InputError listing the known names otherwise."""
    try:
        return PROXIES[name]
    except KeyError:
        raise InputError(f"unknown proxy {name!r}: choose one of {', '.join(PROXIES)}") from None


def training_speed_estimate(epoch_totals: list[float]) -> float:
    """Minus the mean over epochs of the mean training loss (box + cls + DFL): fast learners score high."""
    if not epoch_totals:
        raise ValueError("no training epochs to estimate training speed from")
    return -sum(epoch_totals) / len(epoch_totals)
