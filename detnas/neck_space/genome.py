"""The neck genome: a topology over the pyramid levels, and one block gene per fusion node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detnas.blocks import BOOLS, DOWN_OPS, BlockGene, check_choice, known_fields

TOPOLOGIES: tuple[str, ...] = ("fpn", "pan", "bifpn")
MIN_LEVELS: tuple[int, ...] = (3, 2)  # outputs P3-P5, or P2-P5 for small objects
NECK_DOWN_OPS: tuple[str, ...] = tuple(DOWN_OPS)


def node_names(topology: str, min_level: int) -> tuple[str, ...]:
    """Fusion nodes in build order: top-down ``td4..td{min}``, then (PAN, BiFPN) bottom-up ``bu{min+1}..bu5``."""
    top_down = tuple(f"td{level}" for level in range(4, min_level - 1, -1))
    if topology == "fpn":
        return top_down
    return top_down + tuple(f"bu{level}" for level in range(min_level + 1, 6))


def node_level(name: str) -> int:
    return int(name[2:])


@dataclass(frozen=True)
class NeckGenome:
    """How the pyramid is fused.

    - ``fpn``: top-down only (upsample, concat the backbone level, block).
    - ``pan``: top-down then bottom-up (down-sample, concat the top-down node), as in YOLOv8/YOLO11.
    - ``bifpn``: PAN whose intermediate bottom-up nodes also concat the backbone feature of their level.
    ``down`` is the bottom-up down-sampler (a 3x3-kernel op; FPN has none, so it must stay ``Conv``).

    ``lateral`` (YOLOv5's neck) puts a 1x1 ``Conv`` before every top-down upsample: the map coming down from level
    L+1 is reduced to the channels of node ``td{L}`` it feeds, then upsampled. In every topology only that
    top-down step changes. With ``pan`` and ``bifpn`` the bottom-up node ``bu{L}`` then concats the lateral conv at
    its level (the one applied to ``td{L}``, or to the backbone's P5 for ``bu5``) instead of the top-down node
    itself; ``bifpn`` keeps its extra backbone edge. With ``fpn`` the outputs stay the top-down nodes and the
    backbone's P5 (the P5 lateral conv feeds only the upsample). ``lateral`` is left out of ``to_dict`` when False,
    so genomes made before the gene existed keep their ids.
    """

    topology: str
    min_level: int
    nodes: tuple[BlockGene, ...]
    down: str = "Conv"
    lateral: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        self.validate("neck")

    @property
    def names(self) -> tuple[str, ...]:
        return node_names(self.topology, self.min_level)

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(range(self.min_level, 6))

    def validate(self, path: str) -> None:
        check_choice(f"{path}.topology", self.topology, TOPOLOGIES)
        check_choice(f"{path}.min_level", self.min_level, MIN_LEVELS)
        check_choice(f"{path}.down", self.down, NECK_DOWN_OPS if self.topology != "fpn" else ("Conv",))
        check_choice(f"{path}.lateral", self.lateral, BOOLS)
        names = self.names
        if len(self.nodes) != len(names):
            raise ValueError(
                f"gene {path}.nodes has {len(self.nodes)} nodes: topology {self.topology!r} with min_level "
                f"{self.min_level} needs {len(names)} ({', '.join(names)})"
            )
        for i, (node, name) in enumerate(zip(self.nodes, names, strict=True)):
            if not isinstance(node, BlockGene):
                raise ValueError(f"gene {path}.nodes[{i}] must be a BlockGene, got {type(node).__name__}")
            node.validate(f"{path}.nodes[{i}]({name})", node_level(name))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "topology": self.topology,
            "min_level": self.min_level,
            "down": self.down,
            "nodes": [n.to_dict() for n in self.nodes],
        }
        if self.lateral:  # omitted at its default: older ids stay valid
            data["lateral"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str = "neck") -> NeckGenome:
        data = known_fields(cls, data, path)
        nodes = data["nodes"]
        if not isinstance(nodes, list):
            raise ValueError(f"gene {path}.nodes must be a list of block genes")
        return cls(
            **{**data, "nodes": tuple(BlockGene.from_dict(n, f"{path}.nodes[{i}]") for i, n in enumerate(nodes))}
        )
