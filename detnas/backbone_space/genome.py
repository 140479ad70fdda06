"""The backbone genome: a stem and four stages down to stride 32 (P2..P5), then an SPPF / C2PSA tail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detnas.blocks import BOOLS, DOWN_OPS, LEVEL_CHANNELS, BlockGene, check_choice, known_fields

STEM_CHANNELS: tuple[int, ...] = (8, 16, 24, 32, 48, 64)  # 8: YOLO11n thinned to width 0.5
STEM_KERNELS: tuple[int, ...] = (3, 6)  # 3: YOLOv8/YOLO11 stem; 6: YOLOv5's 6x6 stem (padding 2)
DEFAULT_STEM_KERNEL = 3
STAGE_LEVELS: tuple[int, ...] = (2, 3, 4, 5)
SPPF_KERNELS: tuple[int, ...] = (3, 5, 7)
C2PSA_REPEATS: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class StageGene:
    """One stride-2 step: a down-sampler to ``down_channels``, then a repeated block."""

    down: str
    down_kernel: int
    down_channels: int
    block: BlockGene

    def validate(self, path: str, level: int) -> None:
        check_choice(f"{path}.down", self.down, tuple(DOWN_OPS))
        check_choice(f"{path}.down_kernel", self.down_kernel, DOWN_OPS[self.down])
        check_choice(f"{path}.down_channels", self.down_channels, LEVEL_CHANNELS[level])
        self.block.validate(f"{path}.block", level)

    def to_dict(self) -> dict[str, Any]:
        return {
            "down": self.down,
            "down_kernel": self.down_kernel,
            "down_channels": self.down_channels,
            "block": self.block.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str) -> StageGene:
        data = known_fields(cls, data, path)
        return cls(**{**data, "block": BlockGene.from_dict(data["block"], f"{path}.block")})


@dataclass(frozen=True)
class BackboneGenome:
    """Stem conv (stride 2), stages P2..P5, and the tail that runs at stride 32.

    ``stem_kernel`` is 3 (``Conv(c, 3, 2)``, YOLOv8/YOLO11) or 6 (``Conv(c, 6, 2, 2)``, YOLOv5). It is left out of
    ``to_dict`` at its default, so genomes made before the gene existed keep their ids.
    """

    stem_channels: int
    stages: tuple[StageGene, ...]
    sppf: bool = True
    sppf_kernel: int = 5
    c2psa: bool = False
    c2psa_repeats: int = 1
    stem_kernel: int = DEFAULT_STEM_KERNEL  # last, so positional construction of older code keeps its meaning

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        self.validate("backbone")

    def validate(self, path: str) -> None:
        check_choice(f"{path}.stem_channels", self.stem_channels, STEM_CHANNELS)
        check_choice(f"{path}.stem_kernel", self.stem_kernel, STEM_KERNELS)
        if len(self.stages) != len(STAGE_LEVELS):
            raise ValueError(f"gene {path}.stages has {len(self.stages)} stages: it needs exactly 4 (P2, P3, P4, P5)")
        for i, (stage, level) in enumerate(zip(self.stages, STAGE_LEVELS, strict=True)):
            if not isinstance(stage, StageGene):
                raise ValueError(f"gene {path}.stages[{i}] must be a StageGene, got {type(stage).__name__}")
            stage.validate(f"{path}.stages[{i}]", level)
        check_choice(f"{path}.sppf", self.sppf, BOOLS)
        check_choice(f"{path}.sppf_kernel", self.sppf_kernel, SPPF_KERNELS if self.sppf else (5,))
        check_choice(f"{path}.c2psa", self.c2psa, BOOLS)
        check_choice(f"{path}.c2psa_repeats", self.c2psa_repeats, C2PSA_REPEATS if self.c2psa else (1,))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "stem_channels": self.stem_channels,
            "stages": [s.to_dict() for s in self.stages],
            "sppf": self.sppf,
            "sppf_kernel": self.sppf_kernel,
            "c2psa": self.c2psa,
            "c2psa_repeats": self.c2psa_repeats,
        }
        if self.stem_kernel != DEFAULT_STEM_KERNEL:  # omitted at its default: older ids stay valid
            data["stem_kernel"] = self.stem_kernel
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str = "backbone") -> BackboneGenome:
        data = known_fields(cls, data, path)
        stages = data["stages"]
        if not isinstance(stages, list):
            raise ValueError(f"gene {path}.stages must be a list of 4 stages")
        return cls(
            **{**data, "stages": tuple(StageGene.from_dict(s, f"{path}.stages[{i}]") for i, s in enumerate(stages))}
        )
