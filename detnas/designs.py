"""Known designs written as genomes: the seeds of a search and its equal-budget baselines.

Each function reproduces the stock Ultralytics model of the same name at its ``n`` scale; the tests check that the
YAML made from the genome builds a model with exactly the stock parameter count.
"""

from __future__ import annotations

from collections.abc import Callable

from detnas.backbone_space import BackboneGenome, StageGene
from detnas.blocks import BlockGene
from detnas.genome import ArchGenome, HeadGenome
from detnas.neck_space import NeckGenome


def _c3k2(channels: int, *, c3k: bool = False, expansion: float = 0.5) -> BlockGene:
    return BlockGene("C3k2", 1, channels, expansion, True, c3k)


def _c2f(channels: int, repeats: int, *, shortcut: bool) -> BlockGene:
    return BlockGene("C2f", repeats, channels, 0.5, shortcut)


def yolo11n(*, nc: int = 80) -> ArchGenome:
    """YOLO11n (yolo11.yaml at scale n): C3k2 stages, SPPF + C2PSA tail, PAN neck."""
    backbone = BackboneGenome(
        stem_channels=16,
        stages=(
            StageGene("Conv", 3, 32, _c3k2(64, expansion=0.25)),
            StageGene("Conv", 3, 64, _c3k2(128, expansion=0.25)),
            StageGene("Conv", 3, 128, _c3k2(128, c3k=True)),
            StageGene("Conv", 3, 256, _c3k2(256, c3k=True)),
        ),
        sppf=True,
        sppf_kernel=5,
        c2psa=True,
        c2psa_repeats=1,
    )
    neck = NeckGenome("pan", 3, (_c3k2(128), _c3k2(64), _c3k2(128), _c3k2(256, c3k=True)))
    return ArchGenome(backbone, neck, HeadGenome(nc))


def yolov8n(*, nc: int = 80) -> ArchGenome:
    """YOLOv8n (yolov8.yaml at scale n): C2f stages with shortcuts, SPPF tail, PAN neck without shortcuts."""
    backbone = BackboneGenome(
        stem_channels=16,
        stages=(
            StageGene("Conv", 3, 32, _c2f(32, 1, shortcut=True)),
            StageGene("Conv", 3, 64, _c2f(64, 2, shortcut=True)),
            StageGene("Conv", 3, 128, _c2f(128, 2, shortcut=True)),
            StageGene("Conv", 3, 256, _c2f(256, 1, shortcut=True)),
        ),
        sppf=True,
        sppf_kernel=5,
        c2psa=False,
    )
    neck = NeckGenome("pan", 3, tuple(_c2f(c, 1, shortcut=False) for c in (128, 64, 128, 256)))
    return ArchGenome(backbone, neck, HeadGenome(nc))


NAMED_DESIGNS: dict[str, Callable[..., ArchGenome]] = {"yolo11n": yolo11n, "yolov8n": yolov8n}


def named_design(name: str, *, nc: int = 80) -> ArchGenome:
    """The genome of a named design; ValueError listing the names when unknown."""
    try:
        return NAMED_DESIGNS[name](nc=nc)
    except KeyError:
        raise ValueError(f"unknown design {name!r}: choose one of {sorted(NAMED_DESIGNS)}") from None
