"""The whole architecture genome: backbone + neck + head settings, with JSON round trip and a stable id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from detnas.backbone_space.genome import BackboneGenome
from detnas.blocks import known_fields
from detnas.neck_space.genome import NeckGenome

GENOME_VERSION = 1  # bump when the meaning of a gene changes; part of the id
IMGSZ_CHOICES: tuple[int, ...] = tuple(range(320, 641, 32))  # input sizes a design may be searched at
PRECISION_CHOICES: tuple[str, ...] = ("fp32", "int8")  # numeric precision of the deployed artifact
RUNTIME_CHOICES: tuple[str, ...] = ("onnxruntime", "openvino")  # the inference runtime it is deployed on


def check_design_imgsz(imgsz: object) -> int:
    """The one rule for a design's input size, wherever it is read: the ``imgsz`` gene of a genome and ``imgsz:`` in
    a design's model YAML (which the evaluator trains, scores and times at). One of ``IMGSZ_CHOICES``: an int from 320
    to 640 in steps of 32. Returns it; ValueError otherwise."""
    if type(imgsz) is not int or imgsz not in IMGSZ_CHOICES:
        raise ValueError(f"imgsz={imgsz!r} is not allowed: choose one of {list(IMGSZ_CHOICES)} (320 to 640, step 32)")
    return imgsz


@dataclass(frozen=True)
class HeadGenome:
    """Detection head settings: ``Detect(nc)`` over every level the neck outputs."""

    nc: int = 80

    def __post_init__(self) -> None:
        if not isinstance(self.nc, int) or isinstance(self.nc, bool) or self.nc < 1:
            raise ValueError(f"gene head.nc={self.nc!r} is not allowed: it must be a positive integer (class count)")

    def to_dict(self) -> dict[str, Any]:
        return {"nc": self.nc}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str = "head") -> HeadGenome:
        return cls(**known_fields(cls, data, path))


@dataclass(frozen=True)
class ArchGenome:
    """A point of the search space; every field is validated on construction.

    ``imgsz`` is the input size the design runs at (a gene when a search varies it): accuracy and latency depend on
    it as much as on any layer. None means "not chosen" (the recipe's size applies); it is then left out of the
    JSON, so genomes made before the gene existed keep their ids.

    ``precision`` and ``runtime`` say how the design is deployed (``detnas.evaluate.deployed``: an OpenVINO IR or an
    ONNX Runtime model, FP32 or INT8): INT8 changes both latency and mAP, so a search that varies them scores each
    candidate on its deployed artifact. They come together or not at all; None (both) means an FP32 design timed
    with the search's latency backend, left out of the JSON like ``imgsz``, so older ids stay unchanged.
    """

    backbone: BackboneGenome
    neck: NeckGenome
    head: HeadGenome = HeadGenome()
    imgsz: int | None = None
    precision: str | None = None
    runtime: str | None = None

    def __post_init__(self) -> None:
        if self.imgsz is not None:
            try:
                check_design_imgsz(self.imgsz)
            except ValueError as exc:
                raise ValueError(f"gene {exc}") from None
        if self.precision is not None and self.precision not in PRECISION_CHOICES:
            choices = list(PRECISION_CHOICES)
            raise ValueError(f"gene precision={self.precision!r} is not allowed: choose one of {choices}")
        if self.runtime is not None and self.runtime not in RUNTIME_CHOICES:
            raise ValueError(f"gene runtime={self.runtime!r} is not allowed: choose one of {list(RUNTIME_CHOICES)}")
        if (self.precision is None) != (self.runtime is None):
            raise ValueError(
                f"genes precision={self.precision!r} and runtime={self.runtime!r}: give both (how the design is "
                "deployed) or neither (FP32 on the search's latency backend)"
            )

    @property
    def deployed(self) -> bool:
        """True when the design carries deploy genes: it is scored and timed as its runtime's artifact."""
        return self.runtime is not None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "version": GENOME_VERSION,
            "backbone": self.backbone.to_dict(),
            "neck": self.neck.to_dict(),
            "head": self.head.to_dict(),
        }
        if self.imgsz is not None:
            data["imgsz"] = self.imgsz
        if self.runtime is not None:
            data["precision"], data["runtime"] = self.precision, self.runtime
        return data

    def to_json(self, *, indent: int | None = None) -> str:
        """Canonical JSON: sorted keys, no spaces when compact, so equal genomes give equal text."""
        separators = (",", ":") if indent is None else None
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent, separators=separators)

    @property
    def id(self) -> str:
        """12 hex digits of the SHA-256 of the canonical JSON: stable across runs, machines and Python versions."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    def with_nc(self, nc: int) -> ArchGenome:
        return replace(self, head=HeadGenome(nc))

    def with_imgsz(self, imgsz: int | None) -> ArchGenome:
        return replace(self, imgsz=imgsz)

    def with_deployment(self, precision: str | None, runtime: str | None) -> ArchGenome:
        return replace(self, precision=precision, runtime=runtime)

    @property
    def architecture(self) -> ArchGenome:
        """The network alone (no input size, no deployment): what weights, parameters and layer roles depend on."""
        return replace(self, imgsz=None, precision=None, runtime=None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchGenome:
        if not isinstance(data, dict):
            raise ValueError(f"a genome must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        version = data.pop("version", GENOME_VERSION)
        if version != GENOME_VERSION:
            raise ValueError(
                f"gene version={version!r} is not allowed: this detnas reads genome version {GENOME_VERSION}"
            )
        data = known_fields(cls, data, "genome")
        return cls(
            backbone=BackboneGenome.from_dict(data["backbone"]),
            neck=NeckGenome.from_dict(data["neck"]),
            head=HeadGenome.from_dict(data.get("head", {})),
            imgsz=data.get("imgsz"),
            precision=data.get("precision"),
            runtime=data.get("runtime"),
        )

    @classmethod
    def from_json(cls, text: str) -> ArchGenome:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"genome JSON does not parse: {exc}") from None
        return cls.from_dict(data)
