"""Neck search space: FPN / PAN / BiFPN-like topologies over P3-P5 or P2-P5, one block gene per node."""

from detnas.neck_space.builder import build_neck
from detnas.neck_space.genome import MIN_LEVELS, NECK_DOWN_OPS, TOPOLOGIES, NeckGenome, node_level, node_names

__all__ = ["MIN_LEVELS", "NECK_DOWN_OPS", "TOPOLOGIES", "NeckGenome", "build_neck", "node_level", "node_names"]
