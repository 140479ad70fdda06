"""Stock Ultralytics building blocks that backbone stages and neck nodes choose from, and the YAML rows they make.

Each block gene maps to one YAML row of a module that a plain ``ultralytics`` install already has. The argument
layout written here follows ``ultralytics.nn.tasks.parse_model`` (channels first, repeats inserted by the parser).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass
from typing import Any

# Block modules a stage or neck node can use; each takes (c2, shortcut/c3k, ..., e) and a repeat count.
BLOCK_TYPES: tuple[str, ...] = ("C2f", "C3k2", "C3", "C3Ghost", "C2", "C3x", "C2fCIB")
EXPANSIONS: tuple[float, ...] = (0.25, 0.5, 0.75)
REPEATS: tuple[int, ...] = (1, 2, 3, 4)
BOOLS: tuple[bool, ...] = (False, True)

# Stride-2 down-samplers of stock Ultralytics: (module, kernel sizes it accepts).
DOWN_OPS: dict[str, tuple[int, ...]] = {
    "Conv": (3, 5),  # strided convolution (YOLOv5/v8/11)
    "SCDown": (3, 5),  # point-wise then depth-wise strided convolution (YOLOv10)
    "ADown": (3,),  # average-pool + conv / max-pool + conv halves (YOLOv9); fixed kernel
    "AConv": (3,),  # average-pool then strided conv (YOLOv9-t); fixed kernel
}

# Output channels each pyramid level may take; multiples of 8 so that parse_model keeps them exactly.
LEVEL_CHANNELS: dict[int, tuple[int, ...]] = {
    2: (16, 32, 48, 64, 96, 128),  # 24 left out: C3Ghost needs hidden channels divisible by 4; 128: YOLO11s
    3: (32, 48, 64, 96, 128, 160, 256),  # 256: YOLO11s
    4: (64, 96, 128, 160, 192, 256),
    5: (128, 160, 192, 256, 320, 384, 512),
}


def check_choice(path: str, value: Any, allowed: tuple[Any, ...]) -> None:
    """Raise ValueError naming the gene and its allowed values when ``value`` is not one of them."""
    # bool is a subclass of int: keep True from passing as 1 (and 1.0 as True) by comparing types too.
    if not any(value == a and type(value) is type(a) for a in allowed):
        raise ValueError(f"gene {path}={value!r} is not allowed: choose one of {list(allowed)}")


@dataclass(frozen=True)
class BlockGene:
    """One repeated block: its stock module, repeats, output channels and the options that module takes.

    ``c3k`` applies to C3k2 only and ``large_kernel`` to C2fCIB only; elsewhere they must stay False so that one
    architecture has exactly one genome (and one id).
    """

    type: str
    repeats: int
    channels: int
    expansion: float = 0.5
    shortcut: bool = True
    c3k: bool = False
    large_kernel: bool = False

    def validate(self, path: str, level: int) -> None:
        check_choice(f"{path}.type", self.type, BLOCK_TYPES)
        check_choice(f"{path}.repeats", self.repeats, REPEATS)
        check_choice(f"{path}.channels", self.channels, LEVEL_CHANNELS[level])
        check_choice(f"{path}.expansion", self.expansion, EXPANSIONS)
        check_choice(f"{path}.shortcut", self.shortcut, BOOLS)
        check_choice(f"{path}.c3k", self.c3k, BOOLS if self.type == "C3k2" else (False,))
        check_choice(f"{path}.large_kernel", self.large_kernel, BOOLS if self.type == "C2fCIB" else (False,))

    def canonical(self) -> BlockGene:
        """The same block with options its module ignores reset, so equal architectures share an id."""
        return BlockGene(
            type=self.type,
            repeats=self.repeats,
            channels=self.channels,
            expansion=self.expansion,
            shortcut=self.shortcut,
            c3k=self.c3k and self.type == "C3k2",
            large_kernel=self.large_kernel and self.type == "C2fCIB",
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str) -> BlockGene:
        return cls(**known_fields(cls, data, path))

    def yaml_row(self, source: int | list[int]) -> list[Any]:
        """The Ultralytics YAML row ``[from, repeats, module, args]`` of this block."""
        c2, e, sc = self.channels, self.expansion, self.shortcut
        if self.type == "C3k2":  # C3k2(c1, c2, n, c3k, e, attn, g, shortcut)
            args: list[Any] = [c2, self.c3k, e, False, 1, sc]
        elif self.type == "C2fCIB":  # C2fCIB(c1, c2, n, shortcut, lk, g, e)
            args = [c2, sc, self.large_kernel, 1, e]
        else:  # C2f / C3 / C3Ghost / C2 / C3x: (c1, c2, n, shortcut, g, e)
            args = [c2, sc, 1, e]
        return [source, self.repeats, self.type, args]

    def options(self) -> list[tuple[str, tuple[Any, ...]]]:
        """(field, allowed values) of every gene that matters for this block's module."""
        opts: list[tuple[str, tuple[Any, ...]]] = [
            ("type", BLOCK_TYPES),
            ("repeats", REPEATS),
            ("channels", ()),  # filled in by the caller, who knows the level
            ("expansion", EXPANSIONS),
            ("shortcut", BOOLS),
        ]
        if self.type == "C3k2":
            opts.append(("c3k", BOOLS))
        if self.type == "C2fCIB":
            opts.append(("large_kernel", BOOLS))
        return opts


def block_variants(block_type: str) -> int:
    """How many option combinations a block type has, excluding repeats and channels."""
    extra = 2 if block_type in ("C3k2", "C2fCIB") else 1
    return len(EXPANSIONS) * len(BOOLS) * extra


def down_row(op: str, kernel: int, channels: int, source: int) -> list[Any]:
    """The YAML row of a stride-2 down-sampler."""
    if op == "Conv":
        return [source, 1, "Conv", [channels, kernel, 2]]
    if op == "SCDown":
        return [source, 1, "SCDown", [channels, kernel, 2]]
    return [source, 1, op, [channels]]


def known_fields(cls: type, data: dict[str, Any], path: str) -> dict[str, Any]:
    """Check a dict's keys against a dataclass's fields, naming the offending key."""
    if not isinstance(data, dict):
        raise ValueError(f"gene {path} must be an object, got {type(data).__name__}")
    fields = cls.__dataclass_fields__
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"gene {path}.{unknown[0]} is unknown: expected fields {sorted(fields)}")
    missing = [n for n, f in fields.items() if n not in data and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise ValueError(f"gene {path}.{missing[0]} is missing: a genome needs {sorted(fields)}")
    return dict(data)


# ---------------------------------------------------------------- feature-map wiring
# What a backbone declares and what a neck wires to.
@dataclass(frozen=True)
class FeatureShape:
    """A feature map as the YAML sees it: the layer that makes it, its channels and its stride."""

    layer: int
    channels: int
    stride: int

    @property
    def level(self) -> int:
        return self.stride.bit_length() - 1  # stride 8 -> P3


class LayerList:
    """The rows of an Ultralytics model YAML under construction, with a comment per row."""

    def __init__(self) -> None:
        self.rows: list[list] = []
        self.comments: list[str] = []

    def add(self, row: list, comment: str) -> int:
        """Append ``[from, repeats, module, args]`` and return its layer index."""
        self.rows.append(row)
        self.comments.append(comment)
        return len(self.rows) - 1

    def source(self, layer: int) -> int:
        """How a new row refers to ``layer``: -1 when it is the row just before, as Ultralytics writes it."""
        return -1 if layer == len(self.rows) - 1 else layer
