"""The evaluation record: plain dataclasses that round-trip through JSON, so a search can store and reload results."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from detnas.cost import Cost

from .recipe import Recipe

SCHEMA_VERSION = 1
PHASES = ("build", "inherit", "distill", "probe", "train", "deploy", "validate", "score", "latency", "other")


@dataclass
class EpochLosses:
    """Mean training losses of one epoch, as Ultralytics wrote them to results.csv."""

    epoch: int
    box: float | None = None
    cls: float | None = None
    dfl: float | None = None
    extra: dict[str, float] = field(default_factory=dict)  # other loss terms some heads add
    elapsed_s: float | None = None  # training wall time at the end of this epoch

    def values(self) -> list[float]:
        return [v for v in (self.box, self.cls, self.dfl, *self.extra.values()) if v is not None]

    def finite(self) -> bool:
        return all(math.isfinite(v) for v in self.values())


@dataclass
class Metrics:
    """Accuracy on the validation split; ``metric_source`` says which implementation produced the headline figures."""

    map50_95: float
    map50: float
    metric_source: Literal["pycocotools", "ultralytics"]
    map50_95_ultralytics: float
    map50_ultralytics: float
    precision: float | None = None
    recall: float | None = None
    val_images: int = 0
    predictions: int = 0
    coco_annotations: list[str] = field(default_factory=list)


@dataclass
class LatencyRecord:
    """One latency figure with its spread and everything it depends on (machine, threads, library versions)."""

    backend: Literal["torch", "onnx", "openvino", "tflite"]
    device: str
    device_name: str
    imgsz: int
    threads: int
    warmup: int
    runs: int
    median_ms: float
    mean_ms: float
    std_ms: float
    p10_ms: float
    p90_ms: float
    iqr_ms: float
    min_ms: float
    max_ms: float
    batch: int = 1
    fused: bool = True
    versions: dict[str, str | None] = field(default_factory=dict)
    measured_at: str = ""
    cache_key: str = ""
    cached: bool = False
    # thread-cpu: the calling thread's CPU time (one CPU thread); wall: elapsed time (detnas.evaluate.latency)
    clock: str = "wall"

    @property
    def cv(self) -> float:
        """Coefficient of variation of the timed runs (std / mean)."""
        return self.std_ms / self.mean_ms if self.mean_ms else float("nan")


@dataclass
class ProxyScore:
    """The candidate's score under the search's proxy (higher is better), with the figures it came from."""

    proxy: str
    score: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluation:
    """Everything one candidate evaluation produced, failed or not."""

    status: Literal["ok", "failed"]
    arch_yaml: str
    arch_sha256: str
    data: str
    recipe: Recipe
    device: str = "cpu"
    genome_id: str | None = None
    failure_reason: str | None = None
    failure_phase: str | None = None
    metrics: Metrics | None = None
    proxy: ProxyScore | None = None
    cost: Cost | None = None
    latency: LatencyRecord | None = None
    # a design with deploy genes: runtime, precision, artifact, calibration (its mAP and latency are the artifact's)
    deployment: dict[str, Any] | None = None
    epochs: list[EpochLosses] = field(default_factory=list)
    epochs_completed: int = 0
    stopped_by_time_limit: bool = False
    train_images: int = 0
    val_images: int = 0
    subset_sha256: str = ""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0
    weights_best: str | None = None
    weights_last: str | None = None
    run_dir: str | None = None
    workdir: str | None = None
    log_file: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    schema_version: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """Serialize (non-finite floats become null, so the file is strict JSON); write to ``path`` if given."""
        text = json.dumps(non_finite_to_none(self.to_dict()), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        data = dict(data)
        data["recipe"] = Recipe.from_dict(data["recipe"])
        for key, kind in (("metrics", Metrics), ("proxy", ProxyScore), ("cost", Cost), ("latency", LatencyRecord)):
            if data.get(key) is not None:
                data[key] = kind(**data[key])
        data["epochs"] = [EpochLosses(**e) for e in data.get("epochs", [])]
        return cls(**data)

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> Evaluation:
        """Load from a JSON string or a path to a JSON file."""
        if isinstance(text_or_path, Path) or not str(text_or_path).lstrip().startswith("{"):
            text_or_path = Path(text_or_path).read_text()
        return cls.from_dict(json.loads(text_or_path))


def non_finite_to_none(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, through dicts, lists and tuples (tuples become
    lists): what strict JSON (``allow_nan=False``) can hold."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: non_finite_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [non_finite_to_none(v) for v in value]
    return value
