"""Latency lookup tables: per-layer latencies measured once on a device, summed to predict any genome there.

Measuring a candidate means building, exporting and timing the whole network on the machine the search runs on:
seconds per candidate, noisy on a shared machine, and impossible for a phone or a Jetson that is not attached. A
table (as in DAMO-YOLO's TinyNAS and nn-Meter) holds the latency of every distinct *layer configuration* (module,
repeats, arguments, input feature-map shapes) timed standalone on the target, plus a few constants fitted by least
squares on whole-network measurements (graph overhead, head, input size). Prediction is then a pure function of the
genome and the table, with no model built: thousands of genomes per second.

A layer configuration is keyed from the genome's Ultralytics rows (``architecture.model_dict``) and the feature-map
shapes they imply (:func:`layer_specs`); the build times exactly those modules, taken from the real fused Ultralytics
model prepared as Ultralytics' ONNX export prepares it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from detnas.architecture import model_dict
from detnas.evaluate.environment import cpu_name, package_versions
from detnas.evaluate.latency import onnx_session
from detnas.genome import GENOME_VERSION, ArchGenome

TABLE_FORMAT = 1  # bump when the meaning of a key or a figure changes
BACKENDS = ("onnx", "torch")
# "wall": elapsed time, as deployment sees it on an idle device. "cpu": the timing thread's CPU time, which with one
# thread (all of ONNX Runtime's / torch's work then runs on the calling thread) is the same figure minus the time
# other processes held the core: on a shared machine the wall clock of one thread doubles and jumps with the load.
CLOCKS = ("wall", "cpu")
MAX_STRIDE = 32
_STRIDED = {"ADown": 2, "AConv": 2}  # down-samplers whose stride is not an argument
_MULTI_INPUT = {"Concat", "Detect"}
FEATURES = ("layer_sum_ms", "layer_count", "constant", "pixels")  # the linear model's inputs, in coefficient order


class TableError(ValueError):
    """A table that cannot serve this request (wrong backend, space version, file); the message says the fix."""


class MissingLayersError(TableError):
    """The genome has layer configurations the table never measured; ``missing`` lists their keys."""

    def __init__(self, genome_id: str, imgsz: int, missing: Sequence[str], table: str) -> None:
        self.genome_id, self.imgsz, self.missing = genome_id, imgsz, tuple(missing)
        super().__init__(
            f"latency table {table} lacks {len(missing)} layer(s) of genome {genome_id} at {imgsz} px (first: "
            f"{missing[0]}); extend it on its device with 'detnas latency build-table --out {table} --arch ...' "
            "or measure instead"
        )


@dataclass(frozen=True)
class LayerSpec:
    """One top-level layer as the deployed network runs it: module, repeats, arguments and input shapes (C, H, W)."""

    index: int
    module: str
    repeats: int
    args: tuple[Any, ...]
    inputs: tuple[tuple[int, int, int], ...]

    @property
    def key(self) -> str:
        shapes = "+".join(f"{c}x{h}x{w}" for c, h, w in self.inputs)
        return f"{self.module}|n={self.repeats}|{json.dumps(list(self.args), separators=(',', ':'))}|{shapes}"


def layer_specs(genome: ArchGenome, *, imgsz: int) -> list[LayerSpec]:
    """Every layer of the genome's network at a square input of ``imgsz`` px, shapes propagated without a model.

    Pure and cheap (about 0.2 ms): channels are explicit in detnas rows (no width scaling), and every spatial
    change is a stride-2 down-sampler or a 2x upsample, so a multiple of 32 px divides exactly at every level.
    """
    check_imgsz(imgsz)
    data = model_dict(genome)
    shapes: list[tuple[int, int, int] | None] = []
    specs = []
    for i, (frm, repeats, module, args) in enumerate(data["backbone"] + data["head"]):
        sources = frm if isinstance(frm, list) else [frm]
        inputs = tuple(_shape_of(shapes, i, j, imgsz) for j in sources)
        args = tuple(genome.head.nc if a == "nc" else a for a in args)
        specs.append(LayerSpec(i, module, repeats, args, inputs))
        shapes.append(_output_shape(module, args, inputs))
    return specs


def _shape_of(shapes: list, i: int, j: int, imgsz: int) -> tuple[int, int, int]:
    if j == -1 and i == 0:
        return (3, imgsz, imgsz)
    shape = shapes[i + j if j < 0 else j]
    if shape is None:
        raise ValueError(f"layer {i} reads layer {j}, which has no feature-map output")
    return shape


def _output_shape(module: str, args: tuple, inputs: tuple) -> tuple[int, int, int] | None:
    channels, h, w = inputs[0]
    if module == "Detect":
        return None
    if module == "Concat":
        return (sum(c for c, _, _ in inputs), h, w)
    if module == "nn.Upsample":
        return (channels, h * int(args[1]), w * int(args[1]))
    stride = _STRIDED.get(module) or (int(args[2]) if module in ("Conv", "SCDown") and len(args) > 2 else 1)
    return (int(args[0]), h // stride, w // stride)


def check_imgsz(imgsz: int) -> None:
    if not isinstance(imgsz, int) or imgsz < MAX_STRIDE or imgsz % MAX_STRIDE:
        raise ValueError(f"image size {imgsz!r} is not allowed: use a positive multiple of {MAX_STRIDE} (e.g. 320)")


@dataclass
class LatencyTable:
    """Per-layer median latencies of one device/backend/thread count, and the fitted whole-network constants."""

    device: str
    backend: str
    threads: int
    versions: dict[str, str | None]
    clock: str = "wall"  # see CLOCKS
    space_version: int = GENOME_VERSION
    format: int = TABLE_FORMAT
    layers: dict[str, float] = field(default_factory=dict)  # LayerSpec.key -> median ms
    calibration: list[dict[str, Any]] = field(default_factory=list)  # whole networks: features + measured ms
    coefficients: list[float] | None = None  # over FEATURES; None until calibrated (then the plain layer sum)
    build_seconds: float = 0.0
    warmup: int = 5
    runs: int = 30
    created_at: str = ""
    updated_at: str = ""
    path: str = ""  # where it was read from (not stored)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("path")
        return data

    def save(self, path: str | Path) -> Path:
        """Atomic write, so a build killed at any moment leaves the last complete table to resume from."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
        self.path = str(path)
        return path

    def describe(self) -> str:
        return f"{self.device}, {self.backend}, {self.threads} thread(s), {self.clock} clock"


def load_table(path: str | Path, *, backend: str | None = None) -> LatencyTable:
    """Read and validate a table; TableError (one line, with the fix) for a file that cannot serve ``backend``."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise TableError(
            f"{path}: latency table does not exist; build one with 'detnas latency build-table --out {path}'"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TableError(
            f"{path}: cannot be read as a latency table ({type(exc).__name__}); pass a JSON file "
            "written by 'detnas latency build-table'"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("layers"), dict) or "backend" not in data:
        raise TableError(
            f"{path}: is not a latency table (no 'layers'/'backend'); pass a JSON file written by "
            "'detnas latency build-table'"
        )
    if data.get("format") != TABLE_FORMAT:
        raise TableError(
            f"{path}: latency table format {data.get('format')!r} is not {TABLE_FORMAT}; rebuild it with this detnas"
        )
    if data.get("space_version") != GENOME_VERSION:
        raise TableError(
            f"{path}: latency table is for search-space version {data.get('space_version')!r}, this "
            f"detnas has {GENOME_VERSION}; rebuild it with this detnas on the target device"
        )
    if backend is not None and data["backend"] != backend:
        raise TableError(
            f"{path}: latency table was measured with backend {data['backend']!r}, not {backend!r}; "
            f"pass --latency-backend {data['backend']} or build a table with --backend {backend}"
        )
    known = {f for f in LatencyTable.__dataclass_fields__ if f != "path"}
    table = LatencyTable(**{k: v for k, v in data.items() if k in known})
    table.path = str(path)
    return table


# ---- prediction: pure functions of the genome and the table ----


def features(genome: ArchGenome, table: LatencyTable, *, imgsz: int) -> list[float]:
    """The model's inputs: summed layer latencies, layer count, 1, and input pixels (in units of 320x320)."""
    specs = layer_specs(genome, imgsz=imgsz)
    missing = [s.key for s in specs if s.key not in table.layers]
    if missing:
        raise MissingLayersError(genome.id, imgsz, missing, table.path or "(unsaved)")
    return [sum(table.layers[s.key] for s in specs), float(len(specs)), 1.0, (imgsz / 320) ** 2]


def predict_ms(genome: ArchGenome, table: LatencyTable, *, imgsz: int) -> float:
    """Predicted whole-network latency in ms; MissingLayersError when the table lacks one of its layers."""
    x = features(genome, table, imgsz=imgsz)
    if table.coefficients is None:
        return x[0]
    return float(np.dot(table.coefficients, x))


# Nested models tried, simplest first: indices into FEATURES (the layer sum is always in).
MODELS: tuple[tuple[int, ...], ...] = ((0,), (0, 2), (0, 2, 3), (0, 1, 2), (0, 1, 2, 3))
MIN_GAIN = 0.005  # a model with more terms must lower the held-out relative error by half a percentage point


def fit_coefficients(calibration: Sequence[dict[str, Any]]) -> list[float] | None:
    """Coefficients over FEATURES (zeros for features left out), or None with under 4 calibration networks.

    Each model is least squares of measured latency on its features, weighted by 1/measured so it minimises
    *relative* error: the layer-sum coefficient absorbs what isolation changes per millisecond, the per-layer term the
    call overhead each standalone timing pays, the constant and pixel terms what the whole graph adds. The model
    kept is the one with the lowest leave-one-genome-out error on the calibration networks (never on the genomes it
    will predict), and a model with more terms must beat a simpler one by MIN_GAIN: with 36 networks the four-term
    fit generalised worse (8.4%) than scale + constant (7.5%); a table of one input size cannot tell the constant from
    the pixel term.
    """
    if len(calibration) < 4:
        return None
    x = np.array([c["features"] for c in calibration], dtype=float)
    y = np.array([c["measured_ms"] for c in calibration], dtype=float)
    groups = np.array([c.get("genome_id", str(i)) for i, c in enumerate(calibration)])
    best: tuple[float, list[float]] | None = None
    for cols in MODELS:
        if len(calibration) < 2 * len(cols) or np.linalg.matrix_rank(x[:, cols]) < len(cols):
            continue
        errors = []
        for g in np.unique(groups):
            train = groups != g
            if np.linalg.matrix_rank(x[train][:, cols]) < len(cols):
                errors = [np.inf]
                break
            coef = _weighted_lstsq(x[train][:, cols], y[train])
            errors.extend(np.abs(x[~train][:, cols] @ coef - y[~train]) / y[~train])
        error = float(np.mean(errors))
        if best is None or error < best[0] - MIN_GAIN:
            full = [0.0] * len(FEATURES)
            for i, c in zip(cols, _weighted_lstsq(x[:, cols], y), strict=True):
                full[i] = float(c)
            best = (error, full)
    return best[1] if best else None


def _weighted_lstsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    w = 1.0 / y
    coef, *_ = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)
    return coef


# ---- measuring on this machine ----


def _median_ms(step: Callable[[], object], warmup: int, runs: int, clock: str = "wall") -> float:
    now = time.thread_time if clock == "cpu" else time.perf_counter
    for _ in range(warmup):
        step()
    times = []
    for _ in range(runs):
        t0 = now()
        step()
        times.append((now() - t0) * 1e3)
    return float(np.median(times))


def deploy_model(genome: ArchGenome):
    """The genome's Ultralytics model as ONNX export runs it: fused, Detect in export mode, C2f split forward."""
    import torch
    from ultralytics.nn.modules import C2f, Detect

    from detnas.cost import build_model

    model = build_model(genome).float().eval()
    for p in model.parameters():
        p.requires_grad = False
    with torch.no_grad():
        model = model.fuse(verbose=False)
    for m in model.modules():
        if isinstance(m, Detect):
            m.dynamic, m.export, m.format, m.shape = False, True, "onnx", None
        elif isinstance(m, C2f):
            m.forward = m.forward_split
    return model


class _Layer:
    """Calls one top-level module the way the network does: a list for Concat/Detect, a tensor otherwise."""

    def __new__(cls, module, multi: bool):
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.m = module

            def forward(self, *xs):
                return self.m(list(xs)) if multi else self.m(xs[0])

        return Wrapper().eval()


def time_layer(
    module, spec: LayerSpec, *, backend: str, threads: int, warmup: int, runs: int, workdir: Path, clock: str = "wall"
) -> float:
    """Median ms of one layer standalone on inputs of its shapes: ONNX export + ONNX Runtime, or torch eager."""
    import torch

    torch.set_num_threads(threads)
    layer = _Layer(module, spec.module in _MULTI_INPUT)
    gen = torch.Generator().manual_seed(0)
    inputs = tuple(torch.rand(1, *shape, generator=gen) for shape in spec.inputs)
    if backend == "torch":
        with torch.inference_mode():
            return _median_ms(lambda: layer(*inputs), warmup, runs, clock)
    import onnx
    import onnxslim
    from ultralytics.utils.export.engine import best_onnx_opset, torch2onnx

    path = workdir / "layer.onnx"
    names = [f"x{i}" for i in range(len(inputs))]
    with torch.no_grad():
        torch2onnx(layer, inputs, path, opset=best_onnx_opset(onnx), input_names=names, output_names=["y"])
    onnx.save(onnxslim.slim(onnx.load(str(path))), str(path))  # as Ultralytics' export (simplify=True) does
    session = onnx_session(path, threads)
    feed = {n: x.numpy() for n, x in zip(names, inputs, strict=True)}
    return _median_ms(lambda: session.run(None, feed), warmup, runs, clock)


def measure_network_ms(
    genome: ArchGenome,
    *,
    imgsz: int,
    backend: str,
    threads: int,
    warmup: int,
    runs: int,
    workdir: Path,
    clock: str = "wall",
) -> float:
    """Whole-network median ms as the search measures a candidate (detnas.evaluate.latency: the Ultralytics ONNX
    export on ONNX Runtime, or the fused torch model), on the given clock."""
    import torch

    from detnas.architecture import write_yaml
    from detnas.evaluate.latency import export_onnx, load_fused_model

    yaml = write_yaml(genome, workdir / f"{genome.id}.yaml")
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    if backend == "torch":
        torch.set_num_threads(threads)
        model = load_fused_model(yaml, genome.head.nc)
        with torch.inference_mode():
            return _median_ms(lambda: model(x), warmup, runs, clock)
    session = onnx_session(export_onnx(yaml, imgsz, workdir / "export", genome.head.nc), threads)
    feed = {session.get_inputs()[0].name: x.numpy()}
    return _median_ms(lambda: session.run(None, feed), warmup, runs, clock)


def new_table(*, backend: str, threads: int, warmup: int = 5, runs: int = 30, clock: str = "wall") -> LatencyTable:
    if backend not in BACKENDS:
        raise ValueError(f"latency backend {backend!r} is unknown: choose one of {list(BACKENDS)}")
    if clock not in CLOCKS:
        raise ValueError(f"clock {clock!r} is unknown: choose one of {list(CLOCKS)}")
    if clock == "cpu" and threads != 1:
        raise ValueError(
            f"clock 'cpu' times the calling thread, so it needs --threads 1 (got {threads}); use --clock wall"
        )
    if threads < 1 or runs < 2 or warmup < 0:
        raise ValueError(f"need threads >= 1, runs >= 2, warmup >= 0; got {threads}, {runs}, {warmup}")
    names = (
        ("onnxruntime", "onnx", "onnxslim", "torch", "ultralytics") if backend == "onnx" else ("torch", "ultralytics")
    )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return LatencyTable(
        device=cpu_name(),
        backend=backend,
        threads=threads,
        versions=package_versions(names),
        warmup=warmup,
        runs=runs,
        clock=clock,
        created_at=now,
    )


def open_or_create(
    path: Path, *, backend: str, threads: int, warmup: int = 5, runs: int = 30, clock: str = "wall"
) -> LatencyTable:
    """Resume the table at ``path`` (it must match device, backend, threads and clock) or start a new one."""
    if not path.exists():
        return new_table(backend=backend, threads=threads, warmup=warmup, runs=runs, clock=clock)
    table = load_table(path, backend=backend)
    if table.threads != threads or table.device != cpu_name() or table.clock != clock:
        raise TableError(
            f"{path}: table holds {table.describe()}, this build is {cpu_name()}, {backend}, {threads} thread(s), "
            f"{clock} clock; extend it only on its own device with its settings, or choose another --out"
        )
    return table


def extend_layers(
    table: LatencyTable,
    genomes: Iterable[ArchGenome],
    *,
    sizes: Sequence[int],
    out: Path,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Time every layer configuration of ``genomes`` at ``sizes`` the table lacks; saves after each genome.

    Returns how many layers were added. Layers are keyed by configuration, so a configuration shared by many genomes
    is timed once, and a resumed build skips everything already in the file.
    """
    added = 0
    with tempfile.TemporaryDirectory(prefix="detnas_lut_") as tmp:
        for genome in genomes:
            for imgsz in sizes:
                todo = {s.key: s for s in layer_specs(genome, imgsz=imgsz) if s.key not in table.layers}
                if not todo:
                    continue
                started = time.perf_counter()
                model = deploy_model(genome)
                for key, spec in todo.items():
                    table.layers[key] = round(
                        time_layer(
                            model.model[spec.index],
                            spec,
                            backend=table.backend,
                            threads=table.threads,
                            warmup=table.warmup,
                            runs=table.runs,
                            workdir=Path(tmp),
                            clock=table.clock,
                        ),
                        5,
                    )
                added += len(todo)
                table.build_seconds = round(table.build_seconds + time.perf_counter() - started, 2)
                table.save(out)
                if progress:
                    progress(f"{genome.id} @ {imgsz}: +{len(todo)} layers ({len(table.layers)} in table)")
    return added


def calibrate(
    table: LatencyTable,
    genomes: Iterable[ArchGenome],
    *,
    sizes: Sequence[int],
    out: Path,
    warmup: int = 5,
    runs: int = 20,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Measure whole networks (their layers are added first) and fit the constants; saves after each one."""
    genomes = list(genomes)
    extend_layers(table, genomes, sizes=sizes, out=out, progress=progress)
    done = {(c["genome_id"], c["imgsz"]) for c in table.calibration}
    with tempfile.TemporaryDirectory(prefix="detnas_lut_cal_") as tmp:
        for genome in genomes:
            for imgsz in sizes:
                if (genome.id, imgsz) in done:
                    continue
                started = time.perf_counter()
                measured = measure_network_ms(
                    genome,
                    imgsz=imgsz,
                    backend=table.backend,
                    threads=table.threads,
                    warmup=warmup,
                    runs=runs,
                    workdir=Path(tmp) / genome.id,
                    clock=table.clock,
                )
                table.calibration.append(
                    {
                        "genome_id": genome.id,
                        "imgsz": imgsz,
                        "features": features(genome, table, imgsz=imgsz),
                        "measured_ms": round(measured, 4),
                    }
                )
                table.build_seconds = round(table.build_seconds + time.perf_counter() - started, 2)
                table.coefficients = fit_coefficients(table.calibration)
                table.save(out)
                if progress:
                    progress(f"calibration {genome.id} @ {imgsz}: measured {measured:.2f} ms")
    table.coefficients = fit_coefficients(table.calibration)
    table.save(out)


def sample_genomes(
    *, n: int, seed: int, spaces: Sequence[str] = ("anchored", "full"), nc: int = 80
) -> list[ArchGenome]:
    """``n`` distinct seeded genomes drawn in turn from the named spaces: what a table should cover."""
    import random

    from detnas.space import SearchSpace, anchored_space

    pool = [anchored_space(nc=nc) if s == "anchored" else SearchSpace(nc=nc) for s in spaces]
    rng = random.Random(seed)
    genomes: dict[str, ArchGenome] = {}
    tries = 0
    while len(genomes) < n and tries < 100 * n:
        genome = pool[tries % len(pool)].sample(rng)
        genomes.setdefault(genome.id, genome)
        tries += 1
    return list(genomes.values())


def table_summary(table: LatencyTable, path: Path) -> str:
    size = path.stat().st_size if path.exists() else 0
    fit = (
        "constants " + ", ".join(f"{n}={c:.4g}" for n, c in zip(FEATURES, table.coefficients, strict=True))
        if table.coefficients
        else "uncalibrated (prediction = layer sum)"
    )
    return (
        f"{path}: {len(table.layers)} layers, {len(table.calibration)} calibration networks, {size / 1024:.0f} KiB, "
        f"built in {table.build_seconds:.0f} s on {table.describe()}; {fit}"
    )


def relative_errors(predicted: Sequence[float], measured: Sequence[float]) -> list[float]:
    return [abs(p - m) / m for p, m in zip(predicted, measured, strict=True) if m > 0 and math.isfinite(p)]
