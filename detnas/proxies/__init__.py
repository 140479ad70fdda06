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
- ``pretrained``: the candidate inherits from COCO-trained checkpoints (``detnas.inherit``: importance slicing and
  Net2Net growth from the parent that covers most of it; sliced convolutions refitted by least-squares reconstruction
  to reproduce the parent's outputs on real training images; BatchNorm statistics re-estimated on real images only
  when some layer starts fresh; on data with other classes than the parent's, the class head first learns on frozen
  features, ``detnas.evaluate.head_probe``), is fine-tuned briefly, and is scored by mAP50-95.
- ``pretrained-zero``: the same inheritance without the fine-tune: the cheap variant.

Each proxy reads its score off what the evaluation worker measured (``Proxy.score`` on ``Measurements``); the
details recorded beside the score are every figure that was measured.

``benchmarks/proxy_fidelity.py`` measures how well each ranks architectures against much longer training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from detnas.errors import InputError

from .val_loss import ValidationLoss


def training_speed_estimate(epoch_totals: list[float]) -> float:
    """Minus the mean over epochs of the mean training loss (box + cls + DFL): fast learners score high."""
    if not epoch_totals:
        raise ValueError("no training epochs to estimate training speed from")
    return -sum(epoch_totals) / len(epoch_totals)


@dataclass(frozen=True)
class Measurements:
    """What the evaluation worker measured for one candidate, as plain values (None: not measured)."""

    epoch_losses: tuple[float, ...] | None = None  # each epoch's total training loss; None: no training ran
    map50_95: float | None = None  # validation mAP50-95
    val_loss: ValidationLoss | None = None  # detection loss on the validation split
    training_free: float | None = None  # the training-free score computed at initialisation
    free_batches: int | None = None  # real batches the training-free score saw, and their size
    free_batch: int | None = None
    inherited_fraction: float | None = None  # share of the candidate's parameters inherited, and from which parent
    parent: str | None = None

    def details(self) -> dict[str, Any]:
        """Every measured figure, under the names evaluation records have always used."""
        details: dict[str, Any] = {}
        if self.epoch_losses is not None:
            details["tse"] = training_speed_estimate(list(self.epoch_losses))
        if self.map50_95 is not None:
            details["map50_95"] = self.map50_95
        if self.val_loss is not None:
            loss = self.val_loss
            details.update(val_loss=loss.total, val_box=loss.box, val_cls=loss.cls, val_dfl=loss.dfl)
        if self.inherited_fraction is not None:
            details.update(inherited_fraction=self.inherited_fraction, parent=self.parent)
        if self.free_batches is not None:
            details.update(batches=self.free_batches, batch=self.free_batch)
        return details


@dataclass(frozen=True)
class Score:
    """A proxy's score of one candidate (higher is better) and the figures it came from."""

    value: float
    details: dict[str, Any]


def _measured(value, what: str, proxy: str):
    if value is None:
        raise ValueError(f"proxy {proxy!r} is scored by {what}, which the worker did not measure")
    return value


def _map(m: Measurements, proxy: str) -> float:
    return _measured(m.map50_95, "mAP50-95", proxy)


def _minus_val_loss(m: Measurements, proxy: str) -> float:
    return -_measured(m.val_loss, "the validation loss", proxy).total


def _tse(m: Measurements, proxy: str) -> float:
    return training_speed_estimate(list(_measured(m.epoch_losses, "the training losses", proxy)))


def _training_free(m: Measurements, proxy: str) -> float:
    return _measured(m.training_free, "its training-free score", proxy)


@dataclass(frozen=True)
class Proxy:
    """What a proxy needs the evaluation worker to do, and how its score is read off the worker's measurements."""

    name: str
    summary: str
    trains: bool
    rule: Callable[[Measurements, str], float]  # the score, from the measurements (the str: the proxy's name)
    inherits: bool = False
    needs_val_loss: bool = False
    needs_map: bool = False  # validation (mAP) runs only for proxies that read it: it costs seconds per candidate

    @property
    def training_free(self) -> bool:
        return not self.trains

    def score(self, measurements: Measurements) -> Score:
        """This proxy's score of the measurements, with every measured figure as its details."""
        return Score(self.rule(measurements, self.name), measurements.details())


PROXIES: dict[str, Proxy] = {
    p.name: p
    for p in (
        Proxy("map", "brief training, mAP50-95 on the val split", trains=True, rule=_map, needs_map=True),
        Proxy(
            "val-loss",
            "brief training, minus the val-split detection loss",
            trains=True,
            rule=_minus_val_loss,
            needs_val_loss=True,
        ),
        Proxy("tse", "brief training, minus the mean training loss (training-speed estimate)", trains=True, rule=_tse),
        Proxy("params", "parameter count (training-free)", trains=False, rule=_training_free),
        Proxy("synflow", "log SynFlow saliency at initialisation (training-free)", trains=False, rule=_training_free),
        Proxy(
            "zico",
            "ZiCo gradient signal-to-noise at initialisation, real batches (training-free)",
            trains=False,
            rule=_training_free,
        ),
        Proxy(
            "entropy",
            "MAE-DET-style feature entropy at initialisation, real images (training-free)",
            trains=False,
            rule=_training_free,
        ),
        Proxy(
            "inherit",
            "weights inherited from a trained parent, brief fine-tune, minus val-split loss",
            trains=True,
            rule=_minus_val_loss,
            inherits=True,
            needs_val_loss=True,
        ),
        Proxy(
            "pretrained",
            "weights inherited from COCO-trained checkpoints, brief fine-tune, mAP50-95 on the val split",
            trains=True,
            rule=_map,
            inherits=True,
            needs_map=True,
        ),
        Proxy(
            "pretrained-zero",
            "weights inherited from COCO-trained checkpoints (sliced layers refitted by least-squares reconstruction, "
            "BatchNorm re-estimated only when a layer starts fresh, a class head for other classes probed on frozen "
            "features), mAP50-95 (no fine-tune of the body)",
            trains=False,
            rule=_map,
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
