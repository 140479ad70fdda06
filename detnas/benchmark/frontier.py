"""The accuracy-latency picture a user decides by: found designs beside the checkpoints they would otherwise pick.

Protocol (``FrontierProtocol``; every figure of ``benchmarks/pretrained_frontier.py`` and of ``detnas benchmark`` on
a pretrained-anchored run comes from it):

- **Held-out images.** mAP is measured on val images the search never scored (``detnas.datasets``: the search used
  one half, this uses the other), with pycocotools (COCO JSON where the images have it, else GT built from the YOLO
  labels), at the row's input size.
- **Same start, same fine-tune.** Every network starts from the COCO-trained checkpoints by the same inheritance the
  search uses (copy, importance slicing with reconstruction, Net2Net growth), then gets one identical fine-tune:
  ``recipe`` at the row's own input size. A network whose inheritance sliced a layer is first distilled from its
  parent over the same images (``recipe.distill`` "auto": ``detnas.evaluate.distill``, the parent's class
  probabilities and box distributions as targets), as the fine-tune alone cannot bring a sliced network back.
  Baselines: each checkpoint *as shipped* (no fine-tune) and *after the same fine-tune*, at every size of ``sizes``
  (their own accuracy-latency curve); YOLO11n thinned to width 0.75 and 0.5 (the naive pruning a user tries first)
  with the same inheritance and fine-tune. Found designs appear twice too: *inherited* (as the search made them, no
  fine-tune: the counterpart of *shipped*) and *after the same fine-tune*.
- **Own classes.** When the held-out data's classes are not the checkpoints' (``FrontierProtocol.for_own_classes``),
  no row is *shipped* or *inherited*, nor INT8 (COCO class predictions do not stand in for the task's), nor thinned;
  every network gets one identical transfer, longer than the search's (the head probe, then two fine-tune passes
  over every training image) at 640 px, and each row is that network measured at its size. The goal compares with
  the transfer-tuned YOLO11n@640.
- **Latency, one run.** ONNX Runtime on CPU, batch 1, ``threads`` fixed (1 by default), every network exported at
  its size and opened in two sessions; all sessions are warmed, then timed in ``rounds`` interleaved rounds (one
  run of each session per round, in a shuffled order), so machine load hits every row alike, by the calling
  thread's CPU clock (``clock``), which other processes hardly move (YOLO11n at 320 px on a machine running two
  trainings: wall 36.0/36.8 ms with IQR 4-5 ms, thread CPU 17.9/17.9 ms with IQR 0.8). Median and inter-quartile
  range per row over both sessions; ``repeat_agreement``, the largest relative difference between the two sessions'
  medians of one network, says how far any two figures of the file can be trusted apart. INT8 TFLite
  exports are timed with the TFLite interpreter (another backend: listed, not on the ONNX curves).

Each row's result is a JSON file in ``OUT/rows/`` written when it is done, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from detnas.evaluate.recipe import Recipe, fine_tune_recipe
from detnas.genome import ArchGenome

DEFAULT_SIZES = (640, 512, 416, 320)
THIN_WIDTHS = (0.75, 0.5)
ROW_FIELDS = (
    "name",
    "kind",
    "model",
    "variant",
    "imgsz",
    "params",
    "gflops",
    "map50_95",
    "map50",
    "latency_ms",
    "latency_spread_ms",
    "latency_backend",
    "genome_id",
    "inherited_fraction",
    "parent",
)


def final_recipe() -> Recipe:
    """The one fine-tune every network gets: one pass over 256 seeded training images, AdamW 1e-4, no mosaic; a
    sliced network distils from its parent over the same images first."""
    return fine_tune_recipe(subset=256, epochs=1, distill="auto")


def transfer_final_recipe() -> Recipe:
    """The one transfer every network gets on data with its own classes: longer than the search's (the head probe,
    then two fine-tune passes over every training image instead of one over 128), at 640 px."""
    return fine_tune_recipe(subset=None, epochs=2, imgsz=640)


@dataclass(frozen=True)
class FrontierProtocol:
    recipe: Recipe = field(default_factory=final_recipe)
    sizes: tuple[int, ...] = DEFAULT_SIZES
    threads: int = 1
    warmup: int = 10
    rounds: int = 30
    # thread-cpu: the calling thread's CPU time (ONNX Runtime at 1 thread runs in it), which other processes on the
    # machine hardly move; wall: elapsed time, what a multi-threaded deployment waits; auto: thread-cpu at 1 thread
    clock: str = "auto"
    max_found: int = 6  # front designs carried to the final fine-tune, spread along latency
    # Data with other classes than the checkpoints': no *shipped* rows (COCO class predictions do not stand in for
    # the task's), every network transferred once at ``train_imgsz`` and measured at each size, goal against the
    # transfer-tuned YOLO11n
    own_classes: bool = False
    train_imgsz: int | None = None  # None: every row fine-tuned at its own size
    goal_variant: str = "shipped"  # the YOLO11n@640 row found designs are held against
    goal_latency_ratio: float = 0.75

    def for_own_classes(self) -> FrontierProtocol:
        """This protocol for data whose classes are not the checkpoints' (see the fields)."""
        return replace(
            self,
            recipe=transfer_final_recipe(),
            own_classes=True,
            train_imgsz=640,
            max_found=min(self.max_found, 4),
            goal_variant="fine-tuned",
            goal_latency_ratio=0.6,
        )

    @property
    def timing_clock(self) -> str:
        from detnas.evaluate.latency import latency_clock  # every frontier row is timed on the CPU

        return latency_clock(self.threads, "cpu") if self.clock == "auto" else self.clock

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"recipe": self.recipe.to_dict(), "clock": self.timing_clock}


@dataclass(frozen=True)
class Plan:
    """One network at one input size, and how it is made."""

    name: str
    kind: str  # found | baseline
    model: str  # yolo11n, yolo11n-w0.75, found-<id>
    variant: str  # shipped | fine-tuned | int8
    imgsz: int
    genome: ArchGenome | None  # None: an INT8 export
    parents: tuple[Path, ...]  # checkpoints it inherits from (shipped: the checkpoint itself)

    @property
    def slug(self) -> str:
        return f"{self.model}_{self.variant}_{self.imgsz}".replace(".", "")


def baseline_plans(checkpoints: Sequence[Path], protocol: FrontierProtocol) -> list[Plan]:
    """Each checkpoint as shipped and fine-tuned at every size; YOLO11n thinned (when its checkpoint is given)."""
    from detnas.designs import thinned
    from detnas.inherit.checkpoint import load_parent

    plans: list[Plan] = []
    variants = ("fine-tuned",) if protocol.own_classes else ("shipped", "fine-tuned")
    for path in checkpoints:
        genome = load_parent(path).genome
        model = Path(path).stem
        for size in protocol.sizes:
            for variant in variants:
                plans.append(
                    Plan(
                        f"{model} {variant} @{size}", "baseline", model, variant, size, genome.with_imgsz(size), (path,)
                    )
                )
        if model == "yolo11n" and not protocol.own_classes:  # the naive pruning rows: COCO classes only
            for width in THIN_WIDTHS:
                slim = thinned(genome, width=width)
                for size in protocol.sizes:
                    name = f"{model}-w{width}"
                    plans.append(
                        Plan(
                            f"{name} fine-tuned @{size}",
                            "baseline",
                            name,
                            "fine-tuned",
                            size,
                            slim.with_imgsz(size),
                            (path,),
                        )
                    )
    return plans


def int8_plans(folder: Path) -> list[Plan]:
    """INT8 TFLite exports found in ``folder`` (``yolo11n_integer_quant.tflite``, ``yolov8n_int8.tflite`` ...)."""
    plans = []
    for path in sorted(folder.glob("*.tflite")) if folder.is_dir() else []:
        model = path.stem.split("_")[0]
        plans.append(Plan(f"{model} INT8 TFLite @640", "baseline", model, "int8", 640, None, (path,)))
    return plans


def front_candidates(run: Path, max_found: int) -> list:
    """The run's Pareto front (score up, latency down) as store candidates, fastest first: at most ``max_found``,
    evenly spaced by rank along latency with both ends kept."""
    from detnas.search.loop import STORE_NAME
    from detnas.search.pareto import non_dominated_ranks
    from detnas.search.store import Store

    store = Store(run / STORE_NAME)
    try:
        done = [c for c in store.candidates("done") if c.score is not None and c.latency_ms is not None]
    finally:
        store.close()
    if not done:
        raise ValueError(f"{run}: the search has no finished candidate to benchmark")
    ranks = non_dominated_ranks([(float(c.score), float(c.latency_ms)) for c in done])
    front = sorted((c for c, r in zip(done, ranks, strict=True) if r == 0), key=lambda c: c.latency_ms)
    if len(front) > max_found:
        step = (len(front) - 1) / (max_found - 1)
        front = [front[round(i * step)] for i in range(max_found)]
    return front


def found_plans(run: Path, parents: Sequence[Path], protocol: FrontierProtocol) -> list[Plan]:
    """The run's Pareto front, at most ``protocol.max_found`` designs spread along latency."""
    plans = []
    for c in front_candidates(run, protocol.max_found):
        genome = ArchGenome.from_json(c.genome_json)
        size = genome.imgsz or protocol.sizes[0]
        name = f"found-{c.genome_id}"
        # inherited: as the search made it, like a shipped checkpoint (not on own classes, like shipped)
        for variant in ("fine-tuned",) if protocol.own_classes else ("inherited", "fine-tuned"):
            plans.append(
                Plan(f"{name} {variant} @{size}", "found", name, variant, size, genome.with_imgsz(size), tuple(parents))
            )
    return plans


# ---- making and scoring one row ------------------------------------------------------------------------------------


def _score_row(plan: Plan, heldout: Path, protocol: FrontierProtocol, workdir: Path) -> dict[str, Any]:
    """Weights, pycocotools mAP on the held-out images, params and GFLOPs of one row (no latency yet)."""
    from detnas.architecture import write_yaml
    from detnas.cost import genome_cost
    from detnas.evaluate.candidate import evaluate_candidate
    from detnas.evaluate.data import prepare_data
    from detnas.evaluate.metrics import run_validation
    from detnas.evaluate.record import Metrics
    from detnas.evaluate.request import WorkerResult

    workdir.mkdir(parents=True, exist_ok=True)
    recipe = replace(protocol.recipe, imgsz=plan.imgsz)
    if plan.variant == "inherited":  # as the search made it: inheritance and reconstruction only
        recipe = replace(recipe, distill="off")
    row: dict[str, Any] = {
        "name": plan.name,
        "kind": plan.kind,
        "model": plan.model,
        "variant": plan.variant,
        "imgsz": plan.imgsz,
    }

    def heldout_metrics(weights: Path) -> Metrics:
        """Stored weights validated on the held-out images at the row's size."""
        prepared = prepare_data(heldout, recipe, workdir / "data", check=False)
        return run_validation(
            weights,
            prepared.data_yaml,
            imgsz=plan.imgsz,
            batch=8,
            device="cpu",
            save_dir=workdir / "val",
            names=prepared.names,
            val_images=prepared.val_images,
            coco_annotations=prepared.coco_annotations,
        )

    if plan.variant in ("shipped", "int8"):
        weights = plan.parents[0]
        metrics = heldout_metrics(weights)
        row.update(weights=str(weights), inherited_fraction=1.0, parent=weights.name)
    elif plan.variant == "fine-tuned" and protocol.train_imgsz:  # transferred once, measured at each size
        evaluation = _transferred(plan, heldout, protocol, workdir.parent.parent / "trained")
        if protocol.train_imgsz == plan.imgsz:
            metrics = Metrics(**evaluation["metrics"])
        else:
            metrics = heldout_metrics(Path(evaluation["weights"]))
        row.update({k: v for k, v in evaluation.items() if k != "metrics"}, trained_imgsz=protocol.train_imgsz)
    else:
        assert plan.genome is not None
        arch = write_yaml(plan.genome, workdir / f"{plan.slug}.yaml")
        evaluation = evaluate_candidate(
            arch,
            heldout,
            recipe,
            workdir=workdir / "eval",
            proxy="pretrained-zero" if plan.variant == "inherited" else "pretrained",
            parents=plan.parents,
            latency_backend=None,
            measure_map=True,
            genome_id=plan.genome.id,
        )
        if evaluation.status != "ok" or evaluation.metrics is None:
            raise RuntimeError(f"{plan.name}: {evaluation.failure_reason}")
        metrics = evaluation.metrics
        inheritance = WorkerResult.from_json(workdir / "eval" / "result.json").inheritance or {}
        row.update(
            weights=evaluation.weights_last,
            inherited_fraction=inheritance.get("fraction"),
            parent=inheritance.get("parent"),
            reconstruction=inheritance.get("reconstruction"),
            distillation=inheritance.get("distillation"),
            distill_seconds=evaluation.phase_seconds.get("distill"),
            fine_tune_seconds=evaluation.phase_seconds.get("train"),
        )
    if plan.genome is not None:
        cost = genome_cost(plan.genome, imgsz=plan.imgsz)
        row.update(params=cost.params, gflops=cost.gflops, genome_id=plan.genome.architecture.id)
    else:
        row.update(params=None, gflops=None, genome_id=None)
    row.update(map50_95=metrics.map50_95, map50=metrics.map50, metric_source=metrics.metric_source)
    return row


def _transferred(plan: Plan, heldout: Path, protocol: FrontierProtocol, folder: Path) -> dict[str, Any]:
    """The network of ``plan`` transferred once at ``protocol.train_imgsz`` (shared by its rows at every size, kept
    in ``folder/<model>_<size>/``): weights, inheritance and the held-out metrics at that size."""
    from detnas.architecture import write_yaml
    from detnas.evaluate.candidate import evaluate_candidate
    from detnas.evaluate.request import WorkerResult

    assert plan.genome is not None and protocol.train_imgsz is not None
    size = protocol.train_imgsz
    workdir = folder / f"{plan.model}_{size}".replace(".", "")
    record = workdir / "transferred.json"
    if record.is_file():
        return json.loads(record.read_text())
    genome = plan.genome.with_imgsz(size)
    arch = write_yaml(genome, workdir / f"{genome.id}.yaml")
    evaluation = evaluate_candidate(
        arch,
        heldout,
        replace(protocol.recipe, imgsz=size),
        workdir=workdir / "eval",
        proxy="pretrained",
        parents=plan.parents,
        latency_backend=None,
        measure_map=True,
        genome_id=genome.id,
    )
    if evaluation.status != "ok" or evaluation.metrics is None:
        raise RuntimeError(f"{plan.name}: {evaluation.failure_reason}")
    inheritance = WorkerResult.from_json(workdir / "eval" / "result.json").inheritance or {}
    result = {
        "weights": evaluation.weights_last,
        "inherited_fraction": inheritance.get("fraction"),
        "parent": inheritance.get("parent"),
        "reconstruction": inheritance.get("reconstruction"),
        "head_probe": inheritance.get("head_probe"),
        "fine_tune_seconds": evaluation.phase_seconds.get("train"),
        "transfer_seconds": evaluation.total_seconds,
        "metrics": asdict(evaluation.metrics),
    }
    record.write_text(json.dumps(result, indent=1))
    return result


def score_rows(plans: Sequence[Plan], heldout: Path, protocol: FrontierProtocol, out: Path, log=print) -> list[dict]:
    """Every row's mAP (cached per row in ``OUT/rows``)."""
    rows = []
    for plan in plans:
        path = out / "rows" / f"{plan.slug}.json"
        if path.is_file():
            rows.append(json.loads(path.read_text()))
            continue
        started = time.perf_counter()
        try:
            row = _score_row(plan, heldout, protocol, out / "work" / plan.slug)
        except Exception as error:  # a row that cannot be made is reported, the rest goes on
            log(f"  {plan.name}: not measured: {str(error).splitlines()[0][:200]}")
            continue
        row["score_seconds"] = round(time.perf_counter() - started, 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row, indent=1))
        log(f"  {plan.name}: mAP50-95 {row['map50_95']:.4f} ({row['score_seconds']:.0f} s)")
        rows.append(row)
    return rows


# ---- latency: every network in one interleaved run -----------------------------------------------------------------


def time_rows(rows: list[dict], protocol: FrontierProtocol, out: Path, log=print) -> float | None:
    """Latency of every row, interleaved, each network in two sessions (see the protocol). A row with an
    ``artifact`` and its ``runtime`` (onnxruntime, openvino, litert: ``detnas.evaluate.deployed``) is timed as
    deployed; any other non-INT8 row by ONNX Runtime on its exported weights; an INT8 TFLite row without ``runtime``
    with the TFLite interpreter, apart. Returns the repeat agreement: the largest relative difference between the two
    sessions' medians of one network (None when nothing was timed)."""
    import numpy as np

    from detnas.evaluate.deployed import open_session
    from detnas.evaluate.latency import clock_reader, export_onnx, onnx_session, summarize

    clock = protocol.timing_clock
    if clock == "thread-cpu" and protocol.threads != 1:
        raise ValueError("the thread-cpu clock times one thread: use threads=1, or clock='wall'")
    now = clock_reader(clock)
    sessions: dict[str, tuple[tuple, str]] = {}  # name -> (two zero-argument runs, backend description)
    for row in rows:
        if row.get("latency_backend") or (row["variant"] == "int8" and not row.get("runtime")):
            continue
        if row.get("artifact") and row.get("runtime"):
            (first, backend), (second, _) = (
                open_session(row["artifact"], row["runtime"], protocol.threads) for _ in range(2)
            )
            sessions[row["name"]] = ((first, second), backend)
            continue
        onnx_dir = out / "onnx" / f"{row['model']}_{row['imgsz']}".replace(".", "")
        found = sorted(onnx_dir.glob("*.onnx"))
        path = found[0] if found else export_onnx(Path(row["weights"]), row["imgsz"], onnx_dir)
        pair = (onnx_session(path, protocol.threads), onnx_session(path, protocol.threads))
        x = np.random.default_rng(0).random((1, 3, row["imgsz"], row["imgsz"]), dtype=np.float32)
        feed = {pair[0].get_inputs()[0].name: x}
        runs = tuple((lambda session=session, feed=feed: session.run(None, feed)) for session in pair)
        sessions[row["name"]] = (runs, f"onnxruntime cpu {protocol.threads} thread(s)")
    agreement = None
    if sessions:
        log(
            f"  timing {len(sessions)} networks, two sessions each: {protocol.warmup} warm-up runs, "
            f"{protocol.rounds} interleaved rounds, {clock} clock"
        )
        for pair, _ in sessions.values():
            for run in pair:
                for _ in range(protocol.warmup):
                    run()
        times: dict[tuple[str, int], list[float]] = {(name, k): [] for name in sessions for k in (0, 1)}
        order = list(times)
        rng = random.Random(0)
        for _ in range(protocol.rounds):
            rng.shuffle(order)
            for name, k in order:
                pair, _ = sessions[name]
                t0 = now()
                pair[k]()
                times[(name, k)].append((now() - t0) * 1e3)
        differences = []
        for row in rows:
            if row["name"] not in sessions:
                continue
            a, b = (float(np.median(times[(row["name"], k)])) for k in (0, 1))
            differences.append(abs(a - b) / min(a, b))
            s = summarize(times[(row["name"], 0)] + times[(row["name"], 1)])
            row.update(
                latency_ms=round(s["median_ms"], 3),
                latency_spread_ms=round(s["iqr_ms"], 3),
                latency_sessions_ms=[round(a, 6), round(b, 6)],
                latency_backend=f"{sessions[row['name']][1]}, {clock} clock",
            )
        agreement = max(differences)
        log(f"  repeat agreement: the two sessions of one network differ by at most {agreement:.1%}")
    for row in rows:
        if row["variant"] == "int8" and not row.get("latency_backend") and not row.get("runtime"):
            from detnas.benchmark.compare import LatencySettings, time_tflite

            settings = LatencySettings("tflite", protocol.threads, protocol.warmup, protocol.rounds)
            record = time_tflite(Path(row["weights"]), settings)
            row.update(
                latency_ms=round(record.median_ms, 3),
                latency_spread_ms=round(record.iqr_ms, 3),
                latency_backend=f"tflite interpreter {protocol.threads} threads, wall clock",
            )
    return agreement


# ---- what the picture says -----------------------------------------------------------------------------------------


def curves(rows: Sequence[dict]) -> dict[str, list[dict]]:
    """Rows grouped into curves: one per (model, variant), sorted by latency; the found designs form one."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("latency_ms") is None or row["variant"] == "int8":
            continue
        key = f"found {row['variant']}" if row["kind"] == "found" else f"{row['model']} {row['variant']}"
        groups.setdefault(key, []).append(row)
    return {k: sorted(v, key=lambda r: r["latency_ms"]) for k, v in groups.items()}


def dominance(rows: Sequence[dict]) -> dict[str, Any]:
    """For each baseline curve: the points a found design dominates (higher mAP50-95 at lower latency), by how much."""
    groups = curves(rows)
    found = [r for key, points in groups.items() if key.startswith("found ") for r in points]
    verdicts: dict[str, Any] = {}
    for key, points in groups.items():
        if key.startswith("found "):
            continue
        beaten = []
        for p in points:
            better = [f for f in found if f["map50_95"] > p["map50_95"] and f["latency_ms"] < p["latency_ms"]]
            if better:
                best = max(better, key=lambda f: f["map50_95"] - p["map50_95"])
                beaten.append(
                    {
                        "baseline": p["name"],
                        "by": best["name"],
                        "map_gain": round(best["map50_95"] - p["map50_95"], 4),
                        "latency_ratio": round(best["latency_ms"] / p["latency_ms"], 3),
                    }
                )
        verdicts[key] = {"points": len(points), "dominated": len(beaten), "details": beaten}
    return verdicts


def goal(rows: Sequence[dict], protocol: FrontierProtocol | None = None) -> dict[str, Any]:
    """The issue's bar: a found design with at least YOLO11n@640's mAP50-95 (``protocol.goal_variant``: shipped, or
    transfer-tuned on own classes) at <= ``goal_latency_ratio`` of its latency; and at every thinned YOLO11n point a
    found design at no more latency with at least its mAP."""
    protocol = protocol or FrontierProtocol()
    variant, ratio = protocol.goal_variant, protocol.goal_latency_ratio
    ref = next(
        (
            r
            for r in rows
            if r["model"] == "yolo11n" and r["variant"] == variant and r["imgsz"] == 640 and r.get("latency_ms")
        ),
        None,
    )
    found = [r for r in rows if r["kind"] == "found" and r.get("latency_ms")]
    result: dict[str, Any] = {
        "reference": ref["name"] if ref else None,
        "latency_ratio_bar": ratio,
        "met_speed_goal": None,
    }
    if ref:
        hits = [f for f in found if f["map50_95"] >= ref["map50_95"] and f["latency_ms"] <= ratio * ref["latency_ms"]]
        result["faster_at_equal_map"] = [f["name"] for f in hits]
        result["met_speed_goal"] = bool(hits)
        best = max(found, key=lambda f: f["map50_95"], default=None)
        if best:
            result["best_found"] = {
                "name": best["name"],
                "map_vs_ref": round(best["map50_95"] - ref["map50_95"], 4),
                "latency_ratio": round(best["latency_ms"] / ref["latency_ms"], 3),
            }
    thin = [r for r in rows if "-w" in r["model"] and r.get("latency_ms")]
    above = [
        t["name"]
        for t in thin
        if any(f["latency_ms"] <= t["latency_ms"] and f["map50_95"] >= t["map50_95"] for f in found)
    ]
    result["thinned_points_matched"] = f"{len(above)}/{len(thin)}"
    result["front_above_thinning"] = bool(thin) and len(above) == len(thin)
    return result


def markdown(rows: Sequence[dict]) -> str:
    lines = [
        "| name | kind | size | params | GFLOPs | mAP50-95 | mAP50 | latency ms (IQR) | backend |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(rows, key=lambda r: (r["kind"] != "found", r["model"], r["variant"], -r["imgsz"]))
    for r in order:
        params = f"{r['params'] / 1e6:.2f}M" if r.get("params") else "-"
        gflops = f"{r['gflops']:.2f}" if r.get("gflops") else "-"
        lat = f"{r['latency_ms']:.1f} ({r['latency_spread_ms']:.1f})" if r.get("latency_ms") is not None else "-"
        lines.append(
            f"| {r['name']} | {r['kind']} | {r['imgsz']} | {params} | {gflops} | {r['map50_95']:.4f} | "
            f"{r['map50']:.4f} | {lat} | {r.get('latency_backend', '-')} |"
        )
    return "\n".join(lines)


def _front(points: Sequence[dict]) -> list[dict]:
    """The points no other point beats on both mAP50-95 (up) and latency (down), by latency."""
    from detnas.search.pareto import non_dominated_ranks

    ranks = non_dominated_ranks([(p["map50_95"], p["latency_ms"]) for p in points])
    return sorted((p for p, r in zip(points, ranks, strict=True) if r == 0), key=lambda p: p["latency_ms"])


def plot(rows: Sequence[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    styles = {"shipped": ("o", "--"), "fine-tuned": ("s", "-")}
    for key, points in curves(rows).items():
        xs, ys = [p["latency_ms"] for p in points], [p["map50_95"] for p in points]
        if key.startswith("found "):
            tuned = key.endswith("fine-tuned")
            color = "crimson" if tuned else "darkviolet"
            label = f"found by detnas ({key.split(' ', 1)[1]})"
            ax.scatter(xs, ys, marker="*", s=160, color=color, zorder=5, label=label)
            best = _front(points)  # the line joins the found designs no other found design beats
            ax.plot(
                [p["latency_ms"] for p in best],
                [p["map50_95"] for p in best],
                "-" if tuned else "--",
                color=color,
                linewidth=2,
                zorder=4,
            )
            for p in points:
                ax.annotate(
                    f"{p['imgsz']}",
                    (p["latency_ms"], p["map50_95"]),
                    textcoords="offset points",
                    xytext=(6, -10),
                    fontsize=8,
                    color=color,
                )
            continue
        model, variant = key.rsplit(" ", 1)
        marker, line = styles.get(variant, ("^", ":"))
        ax.plot(xs, ys, marker=marker, linestyle=line, label=f"{model} ({variant})", alpha=0.8)
        for p in points:
            ax.annotate(
                f"{p['imgsz']}",
                (p["latency_ms"], p["map50_95"]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                alpha=0.7,
            )
    backend = next((r["latency_backend"] for r in rows if str(r.get("latency_backend", "")).startswith("onnx")), "")
    ax.set_xlabel(f"latency (ms, batch 1, median of interleaved runs; {backend})")
    ax.set_ylabel("mAP50-95 on held-out images (pycocotools)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_results(
    rows: list[dict], meta: dict[str, Any], json_path: Path, title: str, *, protocol: FrontierProtocol | None = None
) -> dict[str, Path]:
    """JSON (rows + protocol + verdicts), CSV and PNG beside it."""
    from detnas.benchmark.tables import write_table

    rows = sorted(rows, key=lambda r: (r["kind"] != "found", r["model"], r["variant"], -r["imgsz"]))
    payload = meta | {"rows": rows, "dominance": dominance(rows), "goal": goal(rows, protocol)}
    return write_table(json_path.with_suffix(""), payload, rows, ROW_FIELDS, plot=lambda path: plot(rows, path, title))


def heldout_for(run_data: Path) -> Path | None:
    """The held-out half beside a search half written by ``split_val`` (``X_search.yaml`` -> ``X_heldout.yaml``)."""
    if run_data.stem.endswith("_search"):
        twin = run_data.with_name(run_data.stem[: -len("_search")] + "_heldout.yaml")
        if twin.is_file():
            return twin
    return None


def run_frontier(
    run: Path,
    out: Path,
    *,
    heldout: Path | None = None,
    checkpoints: Sequence[Path] | None = None,
    int8_dir: Path | None = None,
    protocol: FrontierProtocol | None = None,
    log=print,
) -> dict[str, Any]:
    """Score and time the run's front and the baselines under the protocol; returns rows plus what was used.

    ``heldout``: data YAML whose val images the search never scored (default: the twin of the run's search half).
    ``checkpoints``: the baselines' COCO-trained checkpoints (default: the run's parents).
    """
    from detnas.search.loop import STORE_NAME, SearchConfig
    from detnas.search.store import Store

    protocol = protocol or FrontierProtocol()
    store = Store(run / STORE_NAME)
    try:
        config = SearchConfig.from_dict(store.get_meta("config"))
    finally:
        store.close()
    parents = tuple(Path(p) for p in config.parents)
    if not parents:
        raise ValueError(f"{run} is not a pretrained-anchored search (no parent checkpoints): benchmark it without it")
    heldout = heldout or heldout_for(Path(config.data))
    if heldout is None:
        raise ValueError(
            f"{run} searched {config.data}: pass held-out images with --data (a data YAML whose val images the "
            "search never scored), or search on a split made by detnas.datasets.split_val"
        )
    checkpoints = tuple(checkpoints) if checkpoints is not None else parents
    if not protocol.own_classes and not _same_classes(parents[0], heldout):
        protocol = protocol.for_own_classes()
        log(
            f"{heldout} has its own classes: every network gets the same longer transfer at {protocol.train_imgsz} "
            "px; the checkpoints as shipped and their INT8 exports are not rows (they predict COCO's classes)"
        )
    plans = found_plans(run, parents, protocol) + baseline_plans(checkpoints, protocol)
    plans += int8_plans(int8_dir) if int8_dir and not protocol.own_classes else []
    log(f"{len(plans)} rows: scoring on {heldout}")
    rows = score_rows(plans, heldout, protocol, out, log=log)
    agreement = time_rows(rows, protocol, out, log=log)
    return {
        "rows": rows,
        "heldout": str(heldout),
        "search_data": config.data,
        "parents": [str(p) for p in parents],
        "protocol": protocol,
        "repeat_agreement": agreement,
    }


def _same_classes(checkpoint: Path, data: Path) -> bool:
    """Whether the data's classes are the checkpoint's (count and names), as inheritance decides it."""
    import yaml

    from detnas.inherit.candidate import same_classes
    from detnas.inherit.checkpoint import load_parent

    names = (yaml.safe_load(Path(data).read_text()) or {}).get("names") or {}
    names = dict(enumerate(names)) if isinstance(names, list) else {int(k): str(v) for k, v in names.items()}
    return same_classes(load_parent(checkpoint).names, len(names), names)
