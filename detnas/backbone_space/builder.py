"""Backbone genome -> YAML rows, declaring the shape of every pyramid level it outputs."""

from __future__ import annotations

from typing import Any

from detnas.backbone_space.genome import STAGE_LEVELS, BackboneGenome
from detnas.blocks import FeatureShape, LayerList, down_row


def stem_row(channels: int, kernel: int) -> list[Any]:
    """The stem's YAML row; the 6x6 YOLOv5 stem needs its padding of 2 written out (autopad would give 3)."""
    if kernel == 6:
        return [-1, 1, "Conv", [channels, 6, 2, 2]]
    return [-1, 1, "Conv", [channels, kernel, 2]]


def build_backbone(genome: BackboneGenome, layers: LayerList) -> dict[int, FeatureShape]:
    """Append the backbone's rows to ``layers``; return {level: shape} for P2..P5 (P5 after the tail)."""
    layers.add(stem_row(genome.stem_channels, genome.stem_kernel), "P1/2 stem")
    outputs: dict[int, FeatureShape] = {}
    for stage, level in zip(genome.stages, STAGE_LEVELS, strict=True):
        stride = 2**level
        layers.add(down_row(stage.down, stage.down_kernel, stage.down_channels, -1), f"P{level}/{stride} down")
        index = layers.add(stage.block.yaml_row(-1), f"P{level}/{stride} block")
        outputs[level] = FeatureShape(index, stage.block.channels, stride)
    p5 = outputs[5]
    if genome.sppf:
        index = layers.add([-1, 1, "SPPF", [p5.channels, genome.sppf_kernel]], "P5/32 SPPF")
        p5 = FeatureShape(index, p5.channels, 32)
    if genome.c2psa:
        index = layers.add([-1, genome.c2psa_repeats, "C2PSA", [p5.channels]], "P5/32 C2PSA")
        p5 = FeatureShape(index, p5.channels, 32)
    outputs[5] = p5
    return outputs
