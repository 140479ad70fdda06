"""What crosses the process boundary between ``evaluate_candidate`` and its worker, as dataclasses.

``EvaluationRequest`` is what the parent writes to ``request.json``; ``WorkerResult`` is what the worker writes back
(to ``progress.json`` after every phase, to ``result.json`` when it ends). Both round-trip through JSON explicitly:
a key the reader does not know is an error that names it, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from detnas.cost import Cost

from .latency import LatencySettings
from .recipe import Recipe
from .record import EpochLosses, LatencyRecord, Metrics, ProxyScore

T = TypeVar("T")


def _check_keys(data: Any, known: set[str], required: set[str], what: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {unknown}; this detnas reads {sorted(known)}")
    missing = sorted(required - set(data))
    if missing:
        raise ValueError(f"{what}: missing key(s) {missing}")


def _load(text_or_path: str | Path, build: Callable[[Any], T]) -> T:
    """``build`` of a JSON string, or of the JSON file a path (or a string that is no JSON object) names; errors in
    a file name it."""
    if not isinstance(text_or_path, Path) and str(text_or_path).lstrip().startswith("{"):
        return build(json.loads(str(text_or_path)))
    path = Path(text_or_path)
    try:
        return build(json.loads(path.read_text()))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _latency_settings(data: Any) -> LatencySettings:
    names = {f.name for f in dataclasses.fields(LatencySettings)}
    _check_keys(data, names, names, "evaluation request 'latency'")
    return LatencySettings(**data)


@dataclass(frozen=True)
class EvaluationRequest:
    """One candidate evaluation as the worker runs it, every input resolved by ``evaluate_candidate``.

    ``imgsz`` is the size the candidate is built, trained, validated, scored and timed at: the design's own
    (``imgsz:`` in its YAML) or else the recipe's; ``recipe`` already carries it, and the two must agree.
    """

    arch_yaml: Path
    data_yaml: Path  # the prepared data YAML (seeded training subset, val list) in the candidate's folder
    recipe: Recipe
    imgsz: int
    workdir: Path
    names: dict[int, str]
    val_list: Path
    progress: Path  # where the worker rewrites its WorkerResult after every phase
    result: Path  # where the worker writes its final WorkerResult
    device: str = "cpu"
    coco_annotations: tuple[Path, ...] = ()
    latency: LatencySettings | None = None  # None: no timing (skipped, or the figure is cached)
    latency_key: str = ""  # the latency-cache entry the figure is stored under
    proxy: str = "map"
    parents: tuple[Path, ...] = ()  # checkpoints / parent folders the inheriting proxies start from
    measure_map: bool | None = None  # validate after training even when the proxy does not read mAP

    def __post_init__(self) -> None:
        if self.recipe.imgsz != self.imgsz:
            raise ValueError(
                f"evaluation request: imgsz {self.imgsz} differs from its recipe's {self.recipe.imgsz}: "
                "the request carries one resolved size"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch_yaml": str(self.arch_yaml),
            "data_yaml": str(self.data_yaml),
            "recipe": self.recipe.to_dict(),
            "imgsz": self.imgsz,
            "workdir": str(self.workdir),
            "names": {str(k): v for k, v in self.names.items()},
            "val_list": str(self.val_list),
            "progress": str(self.progress),
            "result": str(self.result),
            "device": self.device,
            "coco_annotations": [str(p) for p in self.coco_annotations],
            "latency": None if self.latency is None else dataclasses.asdict(self.latency),
            "latency_key": self.latency_key,
            "proxy": self.proxy,
            "parents": [str(p) for p in self.parents],
            "measure_map": self.measure_map,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationRequest:
        names = {f.name for f in dataclasses.fields(cls)}
        _check_keys(data, names, names, "evaluation request")
        return cls(
            arch_yaml=Path(data["arch_yaml"]),
            data_yaml=Path(data["data_yaml"]),
            recipe=Recipe.from_dict(data["recipe"]),
            imgsz=data["imgsz"],
            workdir=Path(data["workdir"]),
            names={int(k): v for k, v in data["names"].items()},
            val_list=Path(data["val_list"]),
            progress=Path(data["progress"]),
            result=Path(data["result"]),
            device=data["device"],
            coco_annotations=tuple(Path(p) for p in data["coco_annotations"]),
            latency=None if data["latency"] is None else _latency_settings(data["latency"]),
            latency_key=data["latency_key"],
            proxy=data["proxy"],
            parents=tuple(Path(p) for p in data["parents"]),
            measure_map=data["measure_map"],
        )

    def to_json(self, path: str | Path | None = None) -> str:
        """The JSON text (written to ``path`` if given)."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> EvaluationRequest:
        """Load from a JSON string or a path to a JSON file."""
        return _load(text_or_path, cls.from_dict)


@dataclass
class WorkerResult:
    """What the worker reports: how far it got (``phase``, ``phase_seconds``) and what it measured so far."""

    status: Literal["running", "ok", "failed"] = "running"
    phase: str | None = None  # the phase running now; None before the first and after the last
    phase_started: float | None = None  # time.time() at the start of the last phase: times a phase killed mid-way
    phase_seconds: dict[str, float] = field(default_factory=dict)
    cost: Cost | None = None
    inheritance: dict[str, Any] | None = None  # Inheritance.to_dict() with bn_images and parents
    run_dir: str | None = None
    weights_last: str | None = None
    weights_best: str | None = None
    epochs: list[EpochLosses] | None = None  # None: the worker did not report them (read results.csv instead)
    stopped_by_time_limit: bool = False
    metrics: Metrics | None = None
    proxy: ProxyScore | None = None
    latency: LatencyRecord | None = None
    deployment: dict[str, Any] | None = None  # runtime, precision, artifact and calibration of a deployed design
    failure_phase: str | None = None
    failure_reason: str | None = None
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """JSON text; non-finite losses stay NaN/Infinity (Python's json reads them back) so a NaN epoch survives."""
        return json.dumps(self.to_dict(), indent=1, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerResult:
        _check_keys(data, {f.name for f in dataclasses.fields(cls)}, set(), "worker result")
        data = dict(data)
        for key, kind in (("cost", Cost), ("metrics", Metrics), ("proxy", ProxyScore), ("latency", LatencyRecord)):
            if data.get(key) is not None:
                data[key] = kind(**data[key])
        if data.get("epochs") is not None:
            data["epochs"] = [EpochLosses(**e) for e in data["epochs"]]
        return cls(**data)

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> WorkerResult:
        """Load from a JSON string or a path to a JSON file."""
        return _load(text_or_path, cls.from_dict)

    @classmethod
    def read(cls, path: Path) -> WorkerResult | None:
        """The result in ``path``; None when the file is missing or no JSON (a worker killed before writing it).
        A file of another layout raises: it is not the candidate's fault, and hiding it would blame the candidate."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return cls.from_dict(data)
