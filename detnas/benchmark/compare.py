"""Benchmark found designs against equal-budget baselines and pre-trained YOLO / YOLO-NAS / TFLite references.

Every row is scored the same way: mAP from ``detnas.evaluate.metrics`` (pycocotools where the validation images have
COCO JSON), latency under ``detnas.evaluate``'s protocol (batch 1, fixed threads, warm-up, median of N), parameters
and GFLOPs of the deployed (fused) network. Three kinds of rows:

- ``found``: the Pareto front of a search run folder (each front design's trained ``.pt``);
- ``baseline``: YOLO11n / YOLOv8n genomes trained with the search's own recipe, data subset and seed (the search's
  seed run is reused when it trained that genome), so the comparison is at equal training budget;
- ``reference``: pre-trained models (``yolo11n.pt``, ``yolo_nas_s.pt``, TFLite INT8 exports ...).

A row that cannot be made (weights missing or unreadable, not a detection model, package missing, training failed)
is kept as ``unavailable`` with its one-line reason; the benchmark goes on, and ``detnas benchmark`` names those rows
on stderr. It exits non-zero when no row at all could be measured: an empty table is no result.
"""

from __future__ import annotations

import copy
import json
import re
import traceback
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from detnas.evaluate import LatencyCache, LatencyRecord, Recipe, arch_sha256, cache_key, measure_latency
from detnas.evaluate.data import DataSpec, find_coco_annotations, load_data_yaml
from detnas.evaluate.latency import DEFAULT_RUNS, DEFAULT_THREADS, DEFAULT_WARMUP, LatencySettings
from detnas.models import LoadedModel, ResolvedModel, load_model, resolve_model

RowKind = Literal["found", "baseline", "reference"]
KIND_ORDER = {"found": 0, "baseline": 1, "reference": 2}
KIND_TITLES = {"found": "found design", "baseline": "equal-budget baseline", "reference": "pre-trained reference"}
DEFAULT_BASELINES = ("yolo11n", "yolov8n")
DEFAULT_IMGSZ = 640
CSV_FIELDS = (
    "kind",
    "label",
    "status",
    "precision",
    "imgsz",
    "map50_95",
    "map50",
    "metric_source",
    "latency_ms",
    "latency_p10_ms",
    "latency_p90_ms",
    "latency_backend",
    "threads",
    "params",
    "gflops",
    "source",
    "note",
    "reason",
)


@dataclass
class RowPlan:
    """A row to make: where its model comes from, before anything is loaded."""

    kind: RowKind
    label: str
    spec: str | None  # model path or name; None when the row is already known to be unavailable
    arch_yaml: str | None = None  # the architecture YAML of found/baseline rows (latency cache key)
    note: str = ""
    reason: str | None = None


@dataclass
class BenchmarkRow:
    """One line of the table; ``status`` is ``ok`` or ``unavailable`` (then ``reason`` says why, in one line)."""

    kind: RowKind
    label: str
    status: Literal["ok", "unavailable"]
    source: str | None = None
    precision: str = "fp32"
    imgsz: int | None = None
    map50_95: float | None = None
    map50: float | None = None
    metric_source: str | None = None
    latency_ms: float | None = None
    latency_p10_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_backend: str | None = None
    threads: int | None = None
    params: int | None = None
    gflops: float | None = None
    note: str = ""
    reason: str | None = None
    metrics: dict[str, Any] | None = None
    latency: dict[str, Any] | None = None

    def csv_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CSV_FIELDS}


@dataclass
class BenchmarkResult:
    rows: list[BenchmarkRow]
    outputs: dict[str, Path]
    settings: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- planning rows


def is_run_folder(path: str | Path) -> bool:
    from detnas.search.loop import STORE_NAME

    return (Path(path) / STORE_NAME).is_file()


def front_rows(folder: Path) -> list[RowPlan]:
    """One ``found`` row per design on the run folder's Pareto front (``pareto.json``)."""
    pareto = folder / "pareto.json"
    if not pareto.is_file():
        raise FileNotFoundError(f"{pareto} is missing: run `detnas report {folder}` to write the front first")
    plans = []
    for row in json.loads(pareto.read_text()).get("front", []):
        label = f"{row['genome_id']} ({row.get('origin', 'found')})"
        weights = row.get("weights")
        plan = RowPlan("found", label, weights, arch_yaml=row.get("yaml"), note=f"front of {folder.name}")
        if not weights or not Path(weights).is_file():
            plan.spec, plan.reason = (
                None,
                (
                    f"front design {row['genome_id']} has no trained weights in {folder}/front (a training-free proxy "
                    f"trains nothing): train it with `detnas train {row.get('yaml')}`, then benchmark the .pt"
                ),
            )
        plans.append(plan)
    return plans


def baseline_rows(folder: Path, names: tuple[str, ...], out: Path) -> list[RowPlan]:
    """Equal-budget baselines: each named genome trained with the run's recipe, data and seed (or its seed run)."""
    from detnas.architecture import write_yaml
    from detnas.designs import named_design
    from detnas.evaluate import evaluate_candidate
    from detnas.search.loop import STORE_NAME
    from detnas.search.store import Store

    store = Store(folder / STORE_NAME)
    try:
        config = store.get_meta("config") or {}
        recipe = Recipe.from_dict(config.get("recipe", {}))
        data = config.get("data")
        plans = []
        for name in names:
            label = f"{name} (equal budget)"
            try:
                genome = named_design(name, nc=load_data_yaml(data).nc)
            except (ValueError, FileNotFoundError) as e:
                plans.append(RowPlan("baseline", label, None, reason=_one_line(e)))
                continue
            workdir = out / "baselines" / folder.name / name
            arch = write_yaml(genome, workdir / f"{name}.yaml")
            seeded = store.get(genome.id)
            if seeded and seeded.status == "done" and seeded.weights and Path(seeded.weights).is_file():
                note = f"the search's own run of this genome ({seeded.origin}), recipe of {folder.name}"
                plans.append(RowPlan("baseline", label, seeded.weights, arch_yaml=str(arch), note=note))
                continue
            evaluation = _reuse_evaluation(workdir / "eval", recipe, data)
            if evaluation is None:
                evaluation = evaluate_candidate(
                    arch,
                    data,
                    recipe,
                    workdir=workdir / "eval",
                    device=config.get("device", "cpu"),
                    latency_backend=None,
                    timeout_s=config.get("timeout_s"),
                    genome_id=genome.id,
                    **_same_start(config),
                )
            weights = evaluation.weights_last
            note = f"trained by the benchmark with the recipe of {folder.name} (subset {evaluation.subset_sha256[:8]})"
            if evaluation.ok and weights and Path(weights).is_file():
                plans.append(RowPlan("baseline", label, weights, arch_yaml=str(arch), note=note))
            else:
                reason = f"training failed: {evaluation.failure_reason or 'no weights written'}"
                plans.append(RowPlan("baseline", label, None, reason=_one_line(reason)))
        return plans
    finally:
        store.close()


def _same_start(config: dict) -> dict:
    """An equal-budget baseline starts where the search's candidates started: inherited checkpoints or scratch."""
    from detnas.proxies import get_proxy

    proxy = config.get("proxy") or "map"
    parents = config.get("parents") or ([config["parent"]] if config.get("parent") else [])
    if get_proxy(proxy).inherits and parents:
        return {"proxy": proxy, "parents": parents}
    return {}


def _reuse_evaluation(workdir: Path, recipe: Recipe, data: str):
    """A previous benchmark's successful baseline training with the same recipe and data (re-runs skip training)."""
    from detnas.evaluate import Evaluation

    path = workdir / "evaluation.json"
    if not path.is_file():
        return None
    try:
        evaluation = Evaluation.from_json(path)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    same = evaluation.recipe == recipe and Path(evaluation.data) == Path(data).resolve()
    return evaluation if same and evaluation.ok and evaluation.weights_last else None


def plan_rows(models: list[str], *, baselines: tuple[str, ...], out: Path) -> list[RowPlan]:
    """Expand ``--models``: run folders into front + baseline rows, everything else into one reference row."""
    plans: list[RowPlan] = []
    for spec in models:
        path = Path(spec).expanduser()
        if path.is_dir() and not is_run_folder(path) and any(path.glob("*.xml")):  # an OpenVINO IR folder
            plans.append(RowPlan("reference", path.name, spec))
            continue
        if path.is_dir():
            if not is_run_folder(path):
                raise ValueError(f"{path} is a folder but not a search run (no search.sqlite): pass a run folder")
            plans += front_rows(path)
            plans += baseline_rows(path, baselines, out)
            continue
        kind: RowKind = "found" if path.parent.name == "front" and is_run_folder(path.parent.parent) else "reference"
        plans.append(RowPlan(kind, Path(spec).name, spec))
    return plans


# ---------------------------------------------------------------- scoring one row


def _one_line(error: BaseException | str) -> str:
    text = str(error).strip().splitlines()
    first = text[0].strip() if text else ""
    if isinstance(error, BaseException):
        first = first if isinstance(error, ValueError | FileNotFoundError) else f"{type(error).__name__}: {first}"
    return first[:500]  # long enough for '<file>: <problem>; <fix>' with a deep path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"


def validate_model(loaded: LoadedModel, spec: DataSpec, *, imgsz: int, batch: int, device: str, save_dir: Path):
    """mAP through detnas.evaluate.metrics: run_validation for checkpoint/export files; for YOLO-NAS the same proxy
    validator over the NAS-loaded module (run_validation takes a path; a NAS file is no Ultralytics checkpoint)."""
    from detnas.evaluate.metrics import run_validation

    coco = find_coco_annotations(spec.val_images)
    common = {
        "imgsz": imgsz,
        "batch": batch,
        "device": device,
        "save_dir": save_dir,
        "names": spec.names,
        "val_images": spec.val_images,
        "coco_annotations": coco,
    }
    if loaded.kind in ("onnx", "openvino"):
        from detnas.evaluate.deployed import validate_deployed

        common.pop("device")
        return validate_deployed(loaded.resolved.path, spec.yaml_path, **common)
    if loaded.kind != "nas":
        return run_validation(loaded.resolved.path, spec.yaml_path, **common)
    return run_validation(loaded.model.model, spec.yaml_path, nas=True, **common)


def _record(times: list[float], settings: LatencySettings, *, backend: str, imgsz: int, fused: bool, versions):
    from detnas.evaluate.environment import device_name
    from detnas.evaluate.latency import summarize

    return LatencyRecord(
        backend=backend,  # type: ignore[arg-type]
        device=settings.device if backend == "torch" else "cpu",
        device_name=device_name(settings.device if backend == "torch" else "cpu"),
        imgsz=imgsz,
        threads=settings.threads,
        warmup=settings.warmup,
        runs=settings.runs,
        **summarize(times),
        fused=fused,
        versions=versions,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def nas_deploy_module(loaded: LoadedModel, imgsz: int):
    """The YOLO-NAS module as deployed: a copy reparameterised by super-gradients (NAS' own fuse() does nothing)."""
    module = copy.deepcopy(loaded.model.model).float().eval()
    if hasattr(module, "prep_model_for_conversion"):
        module.prep_model_for_conversion(input_size=(imgsz, imgsz))
        return module, True
    return module, False


def time_nas(loaded: LoadedModel, imgsz: int, settings: LatencySettings) -> LatencyRecord:
    """measure_latency's torch protocol for a YOLO-NAS module (measure_latency loads Ultralytics checkpoints only)."""
    import torch

    from detnas.evaluate.environment import package_versions
    from detnas.evaluate.latency import time_runs

    torch.set_num_threads(settings.threads)
    module, fused = nas_deploy_module(loaded, imgsz)
    module = module.to(settings.device)
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0)).to(settings.device)
    with torch.inference_mode():
        times = time_runs(lambda: module(x), settings.warmup, settings.runs)
    versions = package_versions(("torch", "ultralytics", "super-gradients"))
    return _record(times, settings, backend="torch", imgsz=imgsz, fused=fused, versions=versions)


def time_tflite(path: Path, settings: LatencySettings) -> LatencyRecord:
    """The same protocol for a TFLite export through the LiteRT interpreter with a fixed thread count."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from detnas.evaluate.environment import package_versions
    from detnas.evaluate.latency import time_runs

    interpreter = Interpreter(str(path), num_threads=settings.threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    shape, dtype = tuple(detail["shape"]), np.dtype(detail["dtype"])
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        limits = np.iinfo(dtype)
        x = rng.integers(limits.min, limits.max, size=shape, endpoint=True).astype(dtype)
    else:
        x = rng.random(shape, dtype=np.float32).astype(dtype)

    def step() -> None:
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()

    times = time_runs(step, settings.warmup, settings.runs)
    imgsz = int(max(shape[1:3] if shape[-1] == 3 else shape[2:4]))
    return _record(
        times, settings, backend="tflite", imgsz=imgsz, fused=True, versions=package_versions(("ai-edge-litert",))
    )


def model_costs(loaded: LoadedModel, imgsz: int) -> tuple[int | None, float | None, str]:
    """Parameters and GFLOPs of the deployed network; for an export, of the float architecture it names."""
    from detnas.cost import model_cost

    if loaded.kind == "nas":  # thop at the full input size (Ultralytics' stride-scaled shortcut fails here)
        import thop
        import torch

        module, _ = nas_deploy_module(loaded, imgsz)
        params = sum(p.numel() for p in module.parameters())
        macs = thop.profile(copy.deepcopy(module), inputs=[torch.empty(1, 3, imgsz, imgsz)], verbose=False)[0]
        return params, round(2 * macs / 1e9, 4), ""
    if loaded.kind in ("onnx", "openvino"):
        from detnas.models import read_deploy_record

        record = read_deploy_record(loaded.resolved.path) or {}
        source = Path(str(record.get("source", "")))
        if not source.is_file():
            return None, None, ""
        from ultralytics import YOLO

        cost = model_cost(YOLO(str(source)).model, imgsz=imgsz, fused=True)
        return cost.params, cost.gflops, f"params/GFLOPs of {source.name}, {record.get('precision', '?')} deployed"
    if loaded.kind == "tflite":
        from detnas.models import tflite_metadata

        description = str(tflite_metadata(loaded.resolved.path).get("description", ""))
        match = re.search(r"Ultralytics (\S+) model", description)
        if not match:
            return None, None, ""
        from ultralytics import YOLO

        arch = match.group(1).lower()
        try:
            cost = model_cost(YOLO(f"{arch}.yaml").model, imgsz=imgsz, fused=True)
        except Exception:  # noqa: BLE001 - an informational figure; no stock config of that name
            return None, None, ""
        return cost.params, cost.gflops, f"params/GFLOPs of the float {arch}"
    cost = model_cost(loaded.model.model, imgsz=imgsz, fused=True)
    return cost.params, cost.gflops, ""


def score_row(
    plan: RowPlan,
    spec: DataSpec,
    *,
    imgsz: int,
    batch: int,
    latency: LatencySettings,
    weights_dir: str | Path | None,
    out: Path,
    cache: LatencyCache,
) -> BenchmarkRow:
    """Load, validate, time and count one model; any failure becomes an ``unavailable`` row with its reason."""
    row = BenchmarkRow(plan.kind, plan.label, "unavailable", source=plan.spec, note=plan.note, reason=plan.reason)
    if plan.spec is None:
        return row
    try:
        resolved: ResolvedModel = resolve_model(plan.spec, weights_dir=weights_dir)
        row.source = str(resolved.path or resolved.spec)
        loaded = load_model(resolved)
        row_imgsz = loaded.fixed_imgsz or imgsz
        row.imgsz, row.precision = row_imgsz, loaded.precision
        if loaded.kind in ("tflite", "onnx", "openvino"):
            row.label = f"{row.label} (INT8)" if loaded.precision == "int8" else row.label
        slug = _slug(f"{plan.kind}-{plan.label}")
        if loaded.kind == "yaml":
            row.note = "untrained architecture: cost and latency only"
        else:
            metrics = validate_model(
                loaded, spec, imgsz=row_imgsz, batch=batch, device=latency.device, save_dir=out / "val" / slug
            )
            row.map50_95, row.map50, row.metric_source = metrics.map50_95, metrics.map50, metrics.metric_source
            row.metrics = asdict(metrics)
        record = _latency(loaded, plan, row_imgsz, latency, out / "latency" / slug, cache, spec.nc)
        row.latency = asdict(record)
        row.latency_ms, row.latency_p10_ms, row.latency_p90_ms = record.median_ms, record.p10_ms, record.p90_ms
        row.latency_backend, row.threads = record.backend, record.threads
        row.params, row.gflops, cost_note = model_costs(loaded, row_imgsz)
        if loaded.kind == "nas" and not record.fused:
            cost_note = "not reparameterised"
        row.note = "; ".join(n for n in (row.note, cost_note) if n)
        row.status, row.reason = "ok", None
    except Exception as e:  # noqa: BLE001 - a row that cannot be made is reported, the benchmark goes on
        row.status, row.reason = "unavailable", _one_line(e)
        (out / "logs").mkdir(parents=True, exist_ok=True)
        (out / "logs" / f"{_slug(plan.label)}.log").write_text(traceback.format_exc())
    return row


def _latency(loaded, plan, imgsz, settings, workdir, cache, nc) -> LatencyRecord:
    if loaded.kind == "nas":
        return time_nas(loaded, imgsz, settings)
    if loaded.kind == "tflite":
        return time_tflite(loaded.resolved.path, settings)
    source = loaded.resolved.path or Path(loaded.resolved.spec)
    if loaded.kind in ("onnx", "openvino"):  # a deployed artifact is timed on its own runtime, whatever --backend
        backend = "onnx" if loaded.kind == "onnx" else "openvino"
        return measure_latency(
            source, imgsz=imgsz, backend=backend, threads=settings.threads, warmup=settings.warmup, runs=settings.runs
        )
    device = "cpu" if settings.backend == "onnx" else settings.device
    key = ""
    if plan.arch_yaml and Path(plan.arch_yaml).is_file():  # same key as the search's evaluator: one figure per arch
        key = cache_key(arch_sha256(plan.arch_yaml), nc, imgsz, settings.backend, device, settings.threads)
        hit = cache.get(key)
        if hit is not None and hit.warmup == settings.warmup and hit.runs == settings.runs:
            return hit
    record = measure_latency(
        source,
        imgsz=imgsz,
        backend=settings.backend,
        threads=settings.threads,
        warmup=settings.warmup,
        runs=settings.runs,
        device=device,
        workdir=workdir,
        key=key,
    )
    if key:
        cache.put(record)
    return record


# ---------------------------------------------------------------- the benchmark


def run_benchmark(
    *,
    models: list[str],
    out: str | Path,
    data: str | Path | None = None,
    imgsz: int | None = None,
    batch: int = 8,
    device: str = "cpu",
    weights_dir: str | Path | None = None,
    baselines: tuple[str, ...] = DEFAULT_BASELINES,
    latency_backend: str = "torch",
    threads: int = DEFAULT_THREADS,
    warmup: int = DEFAULT_WARMUP,
    runs: int = DEFAULT_RUNS,
) -> BenchmarkResult:
    """Score every model and write benchmark.md/.csv/.json and benchmark.png into ``out``.

    ``data`` and ``imgsz`` default to those of the (first) search run folder among ``models``; else data is required
    and imgsz is 640. Exports with a fixed input size (TFLite) are scored at their own size, shown per row.
    """
    if not models:
        raise ValueError("no models given: pass --models with run folders, weight files or names")
    out = Path(out).expanduser().resolve()
    runs_given = [Path(m) for m in models if Path(m).is_dir() and is_run_folder(m)]
    config = run_config(runs_given[0]) if runs_given else {}
    if data is None:
        if not config.get("data"):
            raise ValueError("--data is required unless a search run folder is among --models")
        data = config["data"]
    spec = load_data_yaml(data)
    if imgsz is None:
        imgsz = int(config.get("recipe", {}).get("imgsz") or DEFAULT_IMGSZ)
    if imgsz < 32:
        raise ValueError(f"imgsz must be >= 32, got {imgsz}")
    out.mkdir(parents=True, exist_ok=True)
    latency = LatencySettings(latency_backend, threads, warmup, runs, device)
    cache = LatencyCache(out / "latency_cache.json")
    plans = plan_rows(list(models), baselines=tuple(baselines), out=out)
    rows = []
    for plan in plans:
        row = score_row(
            plan, spec, imgsz=imgsz, batch=batch, latency=latency, weights_dir=weights_dir, out=out, cache=cache
        )
        print(f"{row.kind:9s} {row.label}: " + (_summary(row) if row.status == "ok" else f"unavailable: {row.reason}"))
        rows.append(row)
    rows.sort(key=lambda r: KIND_ORDER[r.kind])
    settings = {
        "data": str(spec.yaml_path),
        "val_images": len(spec.val_images),
        "imgsz": imgsz,
        "batch": batch,
        "device": device,
        "latency": asdict(latency),
        "models": list(models),
        "baselines": list(baselines),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    outputs = write_outputs(rows, settings, out)
    return BenchmarkResult(rows, outputs, settings)


def run_config(folder: Path) -> dict[str, Any]:
    from detnas.search.loop import STORE_NAME
    from detnas.search.store import Store

    store = Store(folder / STORE_NAME)
    try:
        return store.get_meta("config") or {}
    finally:
        store.close()


def _summary(row: BenchmarkRow) -> str:
    m = "-" if row.map50_95 is None else f"{row.map50_95:.4f}"
    return f"mAP50-95 {m}, latency {row.latency_ms:.1f} ms ({row.latency_backend}, {row.imgsz} px)"


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown_table(rows: list[BenchmarkRow], settings: dict[str, Any]) -> str:
    lat = settings["latency"]
    lines = [
        "# detnas benchmark",
        "",
        f"Data: `{settings['data']}` ({settings['val_images']} val images); image size {settings['imgsz']} "
        "(fixed-size exports at their own size); mAP from pycocotools where COCO JSON covers the val images.",
        f"Latency: batch 1, {lat['threads']} thread(s), {lat['warmup']} warm-up + median of {lat['runs']} runs on "
        f"{lat['device']} ({lat['backend']} for Ultralytics checkpoints, fused; YOLO-NAS reparameterised; "
        "TFLite through the LiteRT interpreter — INT8 latency is not float latency).",
        "",
        "| kind | model | precision | imgsz | mAP50-95 | mAP50 | metric | latency ms (p10-p90) | backend | params M "
        "| GFLOPs | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.status != "ok":
            lines.append(
                f"| {KIND_TITLES[r.kind]} | {r.label} | - | - | - | - | - | - | - | - | - | unavailable: {r.reason} |"
            )
            continue
        spread = f"{r.latency_ms:.1f} ({r.latency_p10_ms:.1f}-{r.latency_p90_ms:.1f})"
        params = _fmt(r.params / 1e6 if r.params else None, ".2f")
        lines.append(
            f"| {KIND_TITLES[r.kind]} | {r.label} | {r.precision.upper()} | {r.imgsz} | {_fmt(r.map50_95, '.4f')} | "
            f"{_fmt(r.map50, '.4f')} | {r.metric_source or '-'} | {spread} | {r.latency_backend} | {params} | "
            f"{_fmt(r.gflops, '.2f')} | {r.note} |"
        )
    lines += ["", "![mAP50-95 against latency](benchmark.png)", ""]
    return "\n".join(lines)


def plot(rows: list[BenchmarkRow], settings: dict[str, Any], path: Path) -> Path:
    """mAP50-95 against latency (log scale), one marker per kind, every point labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"found": ("o", "#d62728"), "baseline": ("*", "#1f77b4"), "reference": ("s", "#2ca02c")}
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for kind, (marker, color) in style.items():
        points = [r for r in rows if r.kind == kind and r.status == "ok" and r.map50_95 is not None]
        if not points:
            continue
        ax.scatter(
            [r.latency_ms for r in points],
            [r.map50_95 for r in points],
            marker=marker,
            c=color,
            s=90 if marker == "*" else 40,
            label=KIND_TITLES[kind],
            zorder=3,
        )
        for i, r in enumerate(points):  # staggered so labels of nearby points stay readable
            text = f"{r.label} @{r.imgsz}"
            offset = (5, 4 + 9 * (i % 4))
            ax.annotate(text, (r.latency_ms, r.map50_95), textcoords="offset points", xytext=offset, fontsize=7)
    ax.set_xscale("log")
    lat = settings["latency"]
    ax.set_xlabel(f"latency (ms, median, batch 1, {lat['threads']} thread(s), {lat['device']}; log scale)")
    ax.set_ylabel("mAP50-95 (val)")
    ax.set_title(f"detnas benchmark on {Path(settings['data']).name}")
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_outputs(rows: list[BenchmarkRow], settings: dict[str, Any], out: Path) -> dict[str, Path]:
    """benchmark.json / .csv / .png / .md in ``out``."""
    from detnas.benchmark.tables import write_table
    from detnas.evaluate.environment import environment_info

    payload = {"settings": settings, "environment": environment_info(), "rows": [asdict(r) for r in rows]}
    return write_table(
        out / "benchmark",
        payload,
        [r.csv_row() for r in rows],
        CSV_FIELDS,
        plot=lambda path: plot(rows, settings, path),
        markdown=markdown_table(rows, settings),
    )
