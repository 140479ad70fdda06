"""Known designs written as genomes: the seeds of a search and its equal-budget baselines.

Each function reproduces the stock Ultralytics model of the same name (``yolo11n`` is yolo11.yaml at scale ``n``);
the tests check that the YAML made from the genome builds a model with exactly the stock parameter count, and that
the official checkpoints of these models are recognised as these genomes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from detnas.backbone_space import BackboneGenome, StageGene
from detnas.backbone_space.genome import STEM_CHANNELS
from detnas.blocks import LEVEL_CHANNELS, BlockGene
from detnas.genome import ArchGenome, HeadGenome
from detnas.neck_space import NeckGenome, node_level


def _c3k2(channels: int, *, c3k: bool = False, expansion: float = 0.5) -> BlockGene:
    return BlockGene("C3k2", 1, channels, expansion, True, c3k)


def _c2f(channels: int, repeats: int, *, shortcut: bool) -> BlockGene:
    return BlockGene("C2f", repeats, channels, 0.5, shortcut)


def _c3(channels: int, repeats: int, *, shortcut: bool) -> BlockGene:
    return BlockGene("C3", repeats, channels, 0.5, shortcut)


def _yolo11(width: int, nc: int) -> ArchGenome:
    """yolo11.yaml at a scale with depth 0.5 (n, s): ``width`` is the stem's channels (16 at n, 32 at s)."""
    w = width // 16
    backbone = BackboneGenome(
        stem_channels=width,
        stages=(
            StageGene("Conv", 3, 32 * w, _c3k2(64 * w, expansion=0.25)),
            StageGene("Conv", 3, 64 * w, _c3k2(128 * w, expansion=0.25)),
            StageGene("Conv", 3, 128 * w, _c3k2(128 * w, c3k=True)),
            StageGene("Conv", 3, 256 * w, _c3k2(256 * w, c3k=True)),
        ),
        sppf=True,
        sppf_kernel=5,
        c2psa=True,
        c2psa_repeats=1,
    )
    neck = NeckGenome("pan", 3, (_c3k2(128 * w), _c3k2(64 * w), _c3k2(128 * w), _c3k2(256 * w, c3k=True)))
    return ArchGenome(backbone, neck, HeadGenome(nc))


def _yolov8(width: int, nc: int) -> ArchGenome:
    """yolov8.yaml at a scale with depth 0.33 (n, s)."""
    w = width // 16
    backbone = BackboneGenome(
        stem_channels=width,
        stages=(
            StageGene("Conv", 3, 32 * w, _c2f(32 * w, 1, shortcut=True)),
            StageGene("Conv", 3, 64 * w, _c2f(64 * w, 2, shortcut=True)),
            StageGene("Conv", 3, 128 * w, _c2f(128 * w, 2, shortcut=True)),
            StageGene("Conv", 3, 256 * w, _c2f(256 * w, 1, shortcut=True)),
        ),
        sppf=True,
        sppf_kernel=5,
        c2psa=False,
    )
    neck = NeckGenome("pan", 3, tuple(_c2f(c * w, 1, shortcut=False) for c in (128, 64, 128, 256)))
    return ArchGenome(backbone, neck, HeadGenome(nc))


def _yolov5u(width: int, nc: int) -> ArchGenome:
    """yolov5u (yolov5.yaml with the anchor-free Detect) at a scale with depth 0.33 (n, s)."""
    w = width // 16
    backbone = BackboneGenome(
        stem_channels=width,
        stem_kernel=6,
        stages=(
            StageGene("Conv", 3, 32 * w, _c3(32 * w, 1, shortcut=True)),
            StageGene("Conv", 3, 64 * w, _c3(64 * w, 2, shortcut=True)),
            StageGene("Conv", 3, 128 * w, _c3(128 * w, 3, shortcut=True)),
            StageGene("Conv", 3, 256 * w, _c3(256 * w, 1, shortcut=True)),
        ),
        sppf=True,
        sppf_kernel=5,
        c2psa=False,
    )
    nodes = tuple(_c3(c * w, 1, shortcut=False) for c in (128, 64, 128, 256))
    neck = NeckGenome("pan", 3, nodes, lateral=True)
    return ArchGenome(backbone, neck, HeadGenome(nc))


def yolo11n(*, nc: int = 80) -> ArchGenome:
    """YOLO11n (yolo11.yaml at scale n): C3k2 stages, SPPF + C2PSA tail, PAN neck."""
    return _yolo11(16, nc)


def yolo11s(*, nc: int = 80) -> ArchGenome:
    """YOLO11s (yolo11.yaml at scale s): YOLO11n at twice the width."""
    return _yolo11(32, nc)


def yolov8n(*, nc: int = 80) -> ArchGenome:
    """YOLOv8n (yolov8.yaml at scale n): C2f stages with shortcuts, SPPF tail, PAN neck without shortcuts."""
    return _yolov8(16, nc)


def yolov8s(*, nc: int = 80) -> ArchGenome:
    """YOLOv8s (yolov8.yaml at scale s): YOLOv8n at twice the width."""
    return _yolov8(32, nc)


def yolov5nu(*, nc: int = 80) -> ArchGenome:
    """YOLOv5nu (yolov5.yaml at scale n, anchor-free head): 6x6 stem, C3 stages, SPPF, PAN neck with laterals."""
    return _yolov5u(16, nc)


def yolov5su(*, nc: int = 80) -> ArchGenome:
    """YOLOv5su (yolov5.yaml at scale s, anchor-free head): YOLOv5nu at twice the width."""
    return _yolov5u(32, nc)


def _thin(channels: int, width: float, allowed: tuple[int, ...]) -> int:
    """Ultralytics' width rounding (up to a multiple of 8), then up to the nearest width the space allows."""
    wanted = max(8, math.ceil(channels * width / 8) * 8)
    return min((c for c in allowed if c >= wanted), default=max(allowed))


def thinned(genome: ArchGenome, *, width: float) -> ArchGenome:
    """Every channel count of ``genome`` times ``width``: the uniform pruning a user tries first.

    Rounded as Ultralytics rounds a model's width multiple (up to a multiple of 8), and up to the next width the
    space has where that one is missing (YOLO11n at 0.75: P2 stays 32, 24 is not a choice).
    """
    if not 0 < width <= 1:
        raise ValueError(f"width {width} must be in (0, 1]")
    bb = genome.backbone
    stages = tuple(
        replace(
            s,
            down_channels=_thin(s.down_channels, width, LEVEL_CHANNELS[level]),
            block=replace(s.block, channels=_thin(s.block.channels, width, LEVEL_CHANNELS[level])),
        )
        for s, level in zip(bb.stages, (2, 3, 4, 5), strict=True)
    )
    nodes = tuple(
        replace(n, channels=_thin(n.channels, width, LEVEL_CHANNELS[node_level(name)]))
        for n, name in zip(genome.neck.nodes, genome.neck.names, strict=True)
    )
    stem = _thin(bb.stem_channels, width, STEM_CHANNELS)
    backbone = replace(bb, stem_channels=stem, stages=stages)
    return replace(genome, backbone=backbone, neck=replace(genome.neck, nodes=nodes))


NAMED_DESIGNS: dict[str, Callable[..., ArchGenome]] = {
    "yolo11n": yolo11n,
    "yolov8n": yolov8n,
    "yolov5nu": yolov5nu,
    "yolo11s": yolo11s,
    "yolov8s": yolov8s,
    "yolov5su": yolov5su,
}


def named_design(name: str, *, nc: int = 80) -> ArchGenome:
    """The genome of a named design; ValueError listing the names when unknown."""
    try:
        return NAMED_DESIGNS[name](nc=nc)
    except KeyError:
        raise ValueError(f"unknown design {name!r}: choose one of {sorted(NAMED_DESIGNS)}") from None
