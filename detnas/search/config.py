"""What defines a search: the config stored in its run folder, its defaults, and the one-line account of its mode.

``SearchConfig`` is the one source of a search's defaults: ``detnas search --help`` reads them from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from detnas.designs import named_design
from detnas.errors import InputError
from detnas.evaluate import Recipe
from detnas.genome import IMGSZ_CHOICES, PRECISION_CHOICES, RUNTIME_CHOICES
from detnas.proxies import default_proxy, get_proxy
from detnas.search.strategies import STRATEGIES, StrategySettings

SPACES = ("full", "anchored")
SCRATCH_DATA = "coco_mini"  # from scratch: small enough for 2 epochs per candidate
PRETRAINED_DATA = "coco_proxy"  # inheriting COCO weights: 688 train images to fine-tune on, 318 to score
SEARCH_SIZES = IMGSZ_CHOICES  # with checkpoints, the input size is searched with the network, over every choice
DEFAULT_RUNTIME = "openvino"  # --precisions without --runtime: the runtime whose INT8 keeps stock-INT8 accuracy
DEFAULT_SEEDS = ("yolo11n",)  # plus yolov8n / yolov5nu when their checkpoints are parents


@dataclass(frozen=True)
class Constraints:
    """Limits checked on cheap costs before any training: an infeasible candidate costs no training."""

    max_latency_ms: float | None = None
    max_params: int | None = None
    max_gflops: float | None = None

    def violation(self, *, params: int, gflops: float | None, latency_ms: float | None = None) -> str | None:
        if self.max_params is not None and params > self.max_params:
            return f"params {params:,} > max {self.max_params:,}"
        if self.max_gflops is not None and gflops is not None and gflops > self.max_gflops:
            return f"GFLOPs {gflops:.2f} > max {self.max_gflops:.2f}"
        if self.max_latency_ms is not None and latency_ms is not None and latency_ms > self.max_latency_ms:
            return f"latency {latency_ms:.1f} ms > max {self.max_latency_ms:.1f} ms"
        return None


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search; stored in the run folder so ``--resume`` needs nothing else."""

    data: str
    evaluations: int = 8
    population: int = 6
    tournament: int | None = None  # default: half the population (see benchmarks/strategy_vs_random.py)
    crossover_probability: float = 0.5
    # evolution keeps its trained seeds: mutates them at once and keeps the Pareto front in the tournament
    # (benchmarks/strategy_vs_random.py); stores written before these existed ran without them
    evolve_from_seeds: bool = True
    elite_front: bool = True
    strategy: str = "evolution"
    seed: int = 0
    seeds: tuple[str, ...] = ("yolo11n",)
    recipe: Recipe = field(default_factory=Recipe)
    device: str = "cpu"
    latency_backend: str = "torch"
    constraints: Constraints = field(default_factory=Constraints)
    max_failures: int = 5  # consecutive failed candidates before the search stops
    timeout_s: float | None = None  # per-candidate hard limit (default: from the recipe's time limit)
    proxy: str | None = None  # the candidate score the search maximises (default: detnas.proxies.default_proxy)
    parent: str | None = None  # stores written before several parents existed: one trained parent folder / .pt
    parents: tuple[str, ...] = ()  # COCO-trained checkpoints (or parent folders) candidates inherit from
    space: str | None = None  # "full", or "anchored" (detnas.space.anchored_space); default: anchored with parents
    imgsizes: tuple[int, ...] = ()  # input sizes searched with the network (empty: every candidate at recipe.imgsz)
    latency_table: str | None = None  # latency table JSON: predicted latency for constraints and objective
    # deployment searched with the network (detnas.space.SearchSpace.precisions / runtimes); empty: FP32 designs
    precisions: tuple[str, ...] = ()
    runtimes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "parents", tuple(str(p) for p in self.parents))
        object.__setattr__(self, "imgsizes", tuple(sorted(set(self.imgsizes))))
        bad = [v for v in self.imgsizes if v not in IMGSZ_CHOICES]
        if bad:
            raise InputError(f"input size {bad[0]} cannot be searched: choose sizes from 320 to 640 in steps of 32")
        bad = [v for v in self.precisions if v not in PRECISION_CHOICES] + [
            v for v in self.runtimes if v not in RUNTIME_CHOICES
        ]
        if bad:
            raise InputError(
                f"deployment {bad[0]!r} cannot be searched: precisions from {list(PRECISION_CHOICES)}, runtimes from "
                f"{list(RUNTIME_CHOICES)}"
            )
        # fixed order (fp32 first), no repeats; one of the two given implies the other's default
        object.__setattr__(self, "precisions", tuple(p for p in PRECISION_CHOICES if p in self.precisions))
        object.__setattr__(self, "runtimes", tuple(dict.fromkeys(self.runtimes)))
        if self.precisions and not self.runtimes:
            object.__setattr__(self, "runtimes", (DEFAULT_RUNTIME,))
        if self.runtimes and not self.precisions:
            object.__setattr__(self, "precisions", ("fp32",))
        if self.parent and not self.parents:
            object.__setattr__(self, "parents", (self.parent,))
        if self.proxy is None:
            object.__setattr__(self, "proxy", default_proxy(self.device, parents=bool(self.parents)))
        if self.space is None:
            from_checkpoints = self.proxy in ("pretrained", "pretrained-zero")
            object.__setattr__(self, "space", "anchored" if from_checkpoints else "full")
        if self.space not in SPACES:
            raise InputError(f"space {self.space!r} is unknown: choose one of {list(SPACES)}")
        get_proxy(self.proxy)  # InputError naming the known proxies
        if get_proxy(self.proxy).inherits and not self.parents:
            raise InputError(
                f"proxy {self.proxy!r} needs --parent PT... (COCO-trained checkpoints such as yolo11n.pt) or "
                "--parent-run DIR (the folder of 'detnas parent train --out DIR')"
            )
        if self.precisions and self.latency_table:
            raise InputError(
                "--latency-table predicts FP32 latency of the network, not of a deployed artifact: drop "
                "--latency-table or --precisions/--runtime"
            )
        if self.precisions and get_proxy(self.proxy).training_free and not get_proxy(self.proxy).inherits:
            raise InputError(
                f"proxy {self.proxy!r} trains no weights, so there is no artifact to deploy at a precision: drop "
                "--precisions/--runtime or use a training or inheriting proxy"
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r} is unknown: choose one of {sorted(STRATEGIES)}")
        if self.evaluations < 1:
            raise ValueError(f"evaluations must be >= 1, got {self.evaluations}")
        if self.population < 2:
            raise ValueError(f"population must be >= 2, got {self.population}")
        if self.max_failures < 1:
            raise ValueError(f"max_failures must be >= 1, got {self.max_failures}")
        for name in self.seeds:
            named_design(name)  # ValueError naming the known designs

    def strategy_settings(self) -> StrategySettings:
        return StrategySettings(
            population=self.population,
            tournament=self.tournament,
            crossover_probability=self.crossover_probability,
            evolve_from_seeds=self.evolve_from_seeds,
            elite_front=self.elite_front,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seeds"] = list(self.seeds)
        data["parents"] = list(self.parents)
        data["imgsizes"] = list(self.imgsizes)
        for name in ("precisions", "runtimes"):  # left out when not searched: stored configs read as before
            data[name] = list(data[name])
            if not data[name]:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"search config has unknown field(s) {unknown}")
        data = dict(data)
        data.setdefault("proxy", "map")  # searches stored before proxies existed ranked by mAP
        data.setdefault("space", "full")  # and searched the whole space
        data.setdefault("evolve_from_seeds", False)  # and evolved as regularized evolution did before
        data.setdefault("elite_front", False)
        data["recipe"] = Recipe.from_dict(data.get("recipe", {}))
        data["constraints"] = Constraints(**data.get("constraints", {}))
        data["seeds"] = tuple(data.get("seeds", ()))
        data["parents"] = tuple(data.get("parents", ()))
        data["imgsizes"] = tuple(data.get("imgsizes", ()))
        data["precisions"] = tuple(data.get("precisions", ()))
        data["runtimes"] = tuple(data.get("runtimes", ()))
        return cls(**data)


def _sizes_text(sizes: tuple[int, ...]) -> str:
    if len(sizes) > 2 and all(b - a == 32 for a, b in zip(sizes, sizes[1:], strict=False)):
        return f"{sizes[0]}-{sizes[-1]} px"
    return ",".join(map(str, sizes)) + " px"


def describe_mode(config: SearchConfig, *, parents_found: bool = False, size_pinned: bool = False) -> str:
    """One line that says what this search does: parents, proxy, space, sizes, data, seeds and latency backend."""
    if config.parents:
        names = ", ".join(Path(p).name for p in config.parents)
        where = f" (found in {Path(config.parents[0]).parent})" if parents_found else ""
        start = f"inherits from {names}{where}"
    else:
        start = "from scratch (no checkpoints)"
    if config.imgsizes:
        sizes = f"sizes {_sizes_text(config.imgsizes)} searched"
    else:
        sizes = f"size {config.recipe.imgsz} px fixed" + (" by --imgsz" if size_pinned else "")
    latency = (
        f"latency predicted by {Path(config.latency_table).name}"
        if config.latency_table
        else f"latency {config.latency_backend}"
    )
    if config.precisions:
        latency = (
            f"deployed {'/'.join(config.precisions)} on {'/'.join(config.runtimes)} searched (mAP and latency of "
            "each candidate's artifact)"
        )
    return " | ".join(
        [
            start,
            f"proxy {config.proxy}",
            f"space {config.space}",
            sizes,
            f"data {Path(config.data).name}",
            f"seeds {', '.join(config.seeds) or 'none'}",
            f"{config.strategy} x {config.evaluations}",
            latency,
        ]
    )
