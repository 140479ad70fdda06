"""Backbone search space: genome dataclasses and the genome -> YAML rows builder."""

from detnas.backbone_space.builder import build_backbone
from detnas.backbone_space.genome import (
    C2PSA_REPEATS,
    SPPF_KERNELS,
    STAGE_LEVELS,
    STEM_CHANNELS,
    STEM_KERNELS,
    BackboneGenome,
    StageGene,
)

__all__ = [
    "C2PSA_REPEATS",
    "SPPF_KERNELS",
    "STAGE_LEVELS",
    "STEM_CHANNELS",
    "STEM_KERNELS",
    "BackboneGenome",
    "StageGene",
    "build_backbone",
]
