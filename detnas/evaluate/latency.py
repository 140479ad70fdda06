"""Latency as deployment sees it: fused model, batch 1, fixed threads, warm-up, then median and spread of N runs.

Backends: ``torch`` (eager, ``torch.set_num_threads``), ``onnx`` (Ultralytics ONNX export, ONNX Runtime CPU with
fixed intra-op threads; an ``.onnx`` file, INT8 QDQ too, is timed as it is) and ``openvino`` (an OpenVINO IR folder,
or a checkpoint exported to an FP32 IR, compiled with ``detnas.evaluate.deployed.openvino_config``: fixed inference
threads, one stream, float32 inference precision).
The figure covers the network including Ultralytics' box decoding, not NMS. On one CPU thread it is read from that
thread's CPU clock (the network runs in the calling thread, so other processes on a shared machine hardly move it), on
more threads or a GPU from the wall clock (:func:`latency_clock`; the record's ``clock``). Results are cached by
(architecture hash, class count, imgsz, backend, device, threads, clock): weights do not change timings.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from detnas.devices import torch_device

from .environment import device_name, package_versions
from .record import LatencyRecord

BACKENDS = ("torch", "onnx", "openvino")
DEFAULT_THREADS = 1  # one thread is the most repeatable figure on shared machines; pass the target's count
DEFAULT_WARMUP = 10
DEFAULT_RUNS = 50
CACHE_ENV = "DETNAS_LATENCY_CACHE"


@dataclass(frozen=True)
class LatencySettings:
    """How a latency figure is taken: backend, threads, untimed warm-up calls, timed runs, device."""

    backend: str = "torch"
    threads: int = DEFAULT_THREADS
    warmup: int = DEFAULT_WARMUP
    runs: int = DEFAULT_RUNS
    device: str = "cpu"


def default_cache_path() -> Path:
    """$DETNAS_LATENCY_CACHE, else ~/.cache/detnas/latency.json."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "detnas" / "latency.json").expanduser()


def latency_clock(threads: int, device: str) -> str:
    """``thread-cpu`` (the calling thread's CPU time) for one CPU thread, where torch, ONNX Runtime and OpenVINO all
    run the network in the calling thread and other processes on the machine hardly move the figure; else ``wall``
    (elapsed time: what several threads or a GPU make a caller wait)."""
    return "thread-cpu" if threads == 1 and device == "cpu" else "wall"


def clock_reader(clock: str) -> Callable[[], float]:
    """The seconds counter of ``clock`` (:func:`latency_clock`'s names): the thread's CPU time or the wall clock."""
    return time.thread_time if clock == "thread-cpu" else time.perf_counter


def cache_key(arch_sha256: str, nc: int, imgsz: int, backend: str, device: str, threads: int) -> str:
    clock = latency_clock(threads, device)
    return f"{arch_sha256}|nc={nc}|imgsz={imgsz}|{backend}|{device_name(device)}|threads={threads}|clock={clock}"


class LatencyCache:
    """A small JSON file of LatencyRecords; writes are locked and atomic so parallel evaluations can share it."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_cache_path()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> LatencyRecord | None:
        entry = self._read().get(key)
        if entry is None:
            return None
        try:
            return replace(LatencyRecord(**entry), cached=True)
        except TypeError:  # written by an older schema: treat as a miss
            return None

    def put(self, record: LatencyRecord) -> None:
        with self._locked():
            data = self._read()
            data[record.cache_key] = asdict(replace(record, cached=False))
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)

    def __len__(self) -> int:
        return len(self._read())


def summarize(times_ms: list[float]) -> dict[str, float]:
    """Median and spread of timed runs."""
    a = np.asarray(times_ms, dtype=float)
    p10, p25, p75, p90 = np.percentile(a, [10, 25, 75, 90])
    return {
        "median_ms": float(np.median(a)),
        "mean_ms": float(a.mean()),
        "std_ms": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
        "p10_ms": float(p10),
        "p90_ms": float(p90),
        "iqr_ms": float(p75 - p25),
        "min_ms": float(a.min()),
        "max_ms": float(a.max()),
    }


def time_runs(
    step: Callable[[], object],
    warmup: int,
    runs: int,
    sync: Callable[[], None] = lambda: None,
    clock: str = "wall",
) -> list[float]:
    """Milliseconds of each of ``runs`` calls of ``step`` after ``warmup`` untimed ones; ``sync`` (e.g.
    ``torch.cuda.synchronize``) runs after the warm-up and inside every timed call, so queued device work counts.
    ``clock``: ``wall`` or ``thread-cpu`` (:func:`latency_clock`)."""
    now = clock_reader(clock)
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(runs):
        t0 = now()
        step()
        sync()
        times.append((now() - t0) * 1e3)
    return times


def load_fused_model(source: Path, nc: int | None):
    """DetectionModel from a .pt checkpoint or a YAML, fused (Conv+BN folded, reparameterised) in eval mode."""
    import torch

    from detnas.architecture import build_model

    if source.suffix in {".yaml", ".yml"}:
        model = build_model(source, nc)
    else:
        from ultralytics.nn.tasks import load_checkpoint

        model, _ = load_checkpoint(str(source), device="cpu", fuse=False)
    model = model.float().eval()
    with torch.no_grad():
        model = model.fuse(verbose=False)
    return model.eval()


def _torch_times(
    source: Path, nc: int | None, imgsz: int, threads: int, warmup: int, runs: int, device: str
) -> list[float]:
    import torch

    torch.set_num_threads(threads)
    where = torch_device(device)
    model = load_fused_model(source, nc).to(where)
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0)).to(where)
    sync = torch.cuda.synchronize if where.startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        return time_runs(lambda: model(x), warmup, runs, sync, latency_clock(threads, device))


def checkpoint_of(source: Path, workdir: Path, nc: int | None = None) -> Path:
    """``workdir/<stem>_export.pt``: a copy of a checkpoint, or a YAML built (``nc`` classes) and saved, for an
    exporter that writes beside its source. The ``_export`` suffix matters: a checkpoint named like a stock asset
    (``yolov5n.pt``) is renamed by Ultralytics (``yolov5nu.pt``) and then looked up online."""
    import yaml
    from ultralytics import YOLO

    workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = workdir / f"{source.stem}_export.pt"
    if source.suffix in {".yaml", ".yml"}:
        local = workdir / source.name  # same stem: Ultralytics guesses the model scale from the YAML's file name
        data = yaml.safe_load(source.read_text())
        if nc is not None:
            data["nc"] = nc
        local.write_text(yaml.safe_dump(data, sort_keys=False))
        YOLO(str(local), task="detect").save(checkpoint)
    elif checkpoint.resolve() != source.resolve():
        shutil.copy2(source, checkpoint)
    return checkpoint


def export_onnx(source: Path, imgsz: int, workdir: Path, nc: int | None = None) -> Path:
    """Export through Ultralytics (static batch 1, onnxslim-simplified) to ``workdir/<stem>_export.onnx``.

    Ultralytics writes the .onnx beside its source (a YAML source: into the current directory), so the model is
    saved as a checkpoint in ``workdir`` first. The ``_export`` suffix matters: a checkpoint named like a stock
    asset (``yolov5n.pt``) is renamed by Ultralytics (``yolov5nu.pt``) and then looked up online.
    """
    from ultralytics import YOLO

    checkpoint = checkpoint_of(source, workdir, nc)
    model = YOLO(str(checkpoint), task="detect")
    out = model.export(
        format="onnx", imgsz=imgsz, batch=1, dynamic=False, simplify=True, half=False, device="cpu", verbose=False
    )
    return Path(out)


def onnx_session(onnx_path: Path, threads: int):
    """An ONNX Runtime CPU session as every detnas timing uses it: ``threads`` intra-op, sequential, full graph
    optimisation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def openvino_config(threads: int) -> dict[str, Any]:
    """The OpenVINO CPU compile config of every detnas figure: ``threads`` inference threads in one stream, latency
    hint, no pinning (a shared machine), float operations in float32 (OpenVINO would pick bfloat16 on CPUs with
    AVX512-BF16)."""
    return {
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
        "ENABLE_CPU_PINNING": False,
    }


OPENVINO_CONFIG = openvino_config(1)


def openvino_xml(artifact: str | Path) -> Path:
    path = Path(artifact)
    if path.is_file():
        return path
    found = sorted(path.glob("*.xml"))
    if not found:
        raise FileNotFoundError(f"{path}: holds no OpenVINO IR (.xml/.bin); pass a *_openvino_model folder")
    return found[0]


def open_session(artifact: str | Path, runtime: str, threads: int):
    """A callable that runs the artifact once on a fixed seeded input (the latency protocol's unit of work), and a
    description of the session. ``runtime``: onnxruntime, openvino or litert."""
    import numpy as np

    rng = np.random.default_rng(0)
    if runtime == "onnxruntime":
        session = onnx_session(Path(artifact), threads)
        node = session.get_inputs()[0]
        x = rng.random([int(d) for d in node.shape], dtype=np.float32)
        feed = {node.name: x}
        return (lambda: session.run(None, feed)), f"onnxruntime cpu {threads} thread(s)"
    if runtime == "openvino":
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(core.read_model(str(openvino_xml(artifact))), "CPU", openvino_config(threads))
        request = compiled.create_infer_request()
        x = rng.random([int(d) for d in compiled.input(0).shape], dtype=np.float32)
        precision = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        return (lambda: request.infer({0: x})), f"openvino cpu {threads} thread(s), inference precision {precision}"
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(str(artifact), num_threads=threads)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        dtype = np.dtype(detail["dtype"])
        if np.issubdtype(dtype, np.integer):
            limits = np.iinfo(dtype)
            x = rng.integers(limits.min, limits.max, size=tuple(detail["shape"]), endpoint=True).astype(dtype)
        else:
            x = rng.random(tuple(detail["shape"]), dtype=np.float32).astype(dtype)

        def step() -> None:
            interpreter.set_tensor(detail["index"], x)
            interpreter.invoke()

        return step, f"litert interpreter {threads} thread(s)"
    raise ValueError(f"runtime {runtime!r} cannot be timed: choose onnxruntime, openvino or litert")


def export_openvino(source: Path, imgsz: int, workdir: Path, nc: int | None = None) -> Path:
    """FP32 OpenVINO IR through Ultralytics (static batch 1) in ``workdir/<stem>_export_openvino_model/``."""
    from ultralytics import YOLO

    checkpoint = checkpoint_of(source, workdir, nc)
    out = YOLO(str(checkpoint), task="detect").export(
        format="openvino", imgsz=imgsz, batch=1, dynamic=False, device="cpu", verbose=False
    )
    return Path(out)


def _onnx_times(onnx_path: Path, imgsz: int, threads: int, warmup: int, runs: int) -> list[float]:
    session = onnx_session(onnx_path, threads)
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    return time_runs(lambda: session.run(None, {name: x}), warmup, runs, clock=latency_clock(threads, "cpu"))


def measure_latency(
    source: str | Path,
    *,
    imgsz: int,
    backend: str = "torch",
    threads: int = DEFAULT_THREADS,
    warmup: int = DEFAULT_WARMUP,
    runs: int = DEFAULT_RUNS,
    device: str = "cpu",
    nc: int | None = None,
    workdir: str | Path | None = None,
    key: str = "",
) -> LatencyRecord:
    """Time one model (a .pt checkpoint or a model YAML; for ``onnx`` also an exported .onnx) at batch 1.

    Returns the median and spread in milliseconds. ``workdir`` receives the ONNX export (required for backend
    ``onnx`` unless ``source`` is already .onnx); ``nc`` applies to YAML sources.
    """
    if backend not in BACKENDS:
        raise ValueError(f"latency backend must be one of {BACKENDS}, got {backend!r}")
    if threads < 1 or runs < 2 or warmup < 0:
        raise ValueError(f"need threads >= 1, runs >= 2, warmup >= 0; got {threads}, {runs}, {warmup}")
    source = Path(source)
    if backend == "torch":
        times = _torch_times(source, nc, imgsz, threads, warmup, runs, device)
        versions = package_versions(("torch", "ultralytics"))
    elif backend == "openvino":
        if device != "cpu":
            raise ValueError(f"the openvino backend measures OpenVINO on CPU; got device {device!r}")
        if not (source.is_dir() or source.suffix == ".xml"):  # a checkpoint or YAML: its FP32 IR
            if workdir is None:
                raise ValueError("backend 'openvino' needs a workdir for the exported model")
            source = export_openvino(source, imgsz, Path(workdir), nc)
        step, _ = open_session(source, "openvino", threads)
        times = time_runs(step, warmup, runs, clock=latency_clock(threads, device))
        versions = package_versions(("openvino", "torch", "ultralytics"))
    else:
        if workdir is None and source.suffix != ".onnx":
            raise ValueError("backend 'onnx' needs a workdir for the exported model")
        if device != "cpu":
            raise ValueError(f"the onnx backend measures ONNX Runtime on CPU; got device {device!r}")
        onnx_path = source if source.suffix == ".onnx" else export_onnx(source, imgsz, Path(workdir), nc)
        times = _onnx_times(onnx_path, imgsz, threads, warmup, runs)
        versions = package_versions(("onnxruntime", "onnx", "onnxslim", "torch", "ultralytics"))
    return LatencyRecord(
        backend=backend,  # type: ignore[arg-type]
        device=device,
        device_name=device_name(device),
        imgsz=imgsz,
        threads=threads,
        warmup=warmup,
        runs=runs,
        clock=latency_clock(threads, device),
        **summarize(times),
        versions=versions,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        cache_key=key,
    )
