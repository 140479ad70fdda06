"""What a CPU user deploys: the COCO checkpoints as FP32 and INT8 artifacts of ONNX Runtime, OpenVINO and LiteRT.

Rows (each at every size of ``--sizes``; every artifact made by ``detnas.evaluate.deployed``):
- ``shipped``: the checkpoint exported FP32, ONNX Runtime and OpenVINO (Ultralytics' exports).
- ``stock``: Ultralytics' own OpenVINO INT8 export (``quantize=8``: NNCF, its own calibration loader over the train
  split, ``fraction`` 0.1, i.e. the first 69 of coco_proxy's 688 train images); and the shipped INT8 TFLite files of
  ``../shared/weights/tflite_int8`` through LiteRT (640 px only, as shipped).
- ``detnas``: detnas's own INT8 of the checkpoint: ONNX Runtime static QDQ (per-channel, box decoding float) and
  OpenVINO (Ultralytics' NNCF export), both calibrated on 64 train images drawn with seed 0.
- ``published``: YOLO-NAS S (``detnas.evaluate.yolo_nas``: modern-yolonas's architecture, seeded random weights,
  reparameterised as deployed) as OpenVINO FP32 and INT8 (NNCF, the same 64 calibration images) and ONNX Runtime
  FP32, timed in the same interleaved run as the other artifacts of its size. Its mAP50-95 is Deci's published COCO
  val2017 figure (0.475 FP16 for the float rows, 0.4703 INT8), at 640 px only, where Deci measured it; at other sizes
  the rows have latency and no mAP. ``map_source`` says so. With ``--yolo-nas-weights yolo_nas_s.pt`` the rows are
  ``measured`` instead: the artifacts carry those weights and their mAP is measured like every other row's.
  Included when modern-yolonas is installed (``pip install 'detnas[yolonas]'``), else skipped with the reason;
  ``--yolo-nas`` requires it, ``--no-yolo-nas`` leaves it out.
- ``found`` (``--run RUN``): the Pareto front of a search run with ``--precisions`` (at most ``--max-found`` designs,
  spread along latency), each ``RUN/front/<id>.pt`` as the search left it, deployed as it was searched (its
  ``precision`` / ``runtime`` genes, at its own input size; INT8 calibrated like the ``detnas`` rows). They are timed
  in the interleaved run of the largest size, beside the stock OpenVINO INT8 YOLO11n they are held against
  (``timed_with``). The search must not have seen the held-out half: search on the search half of the same split
  (``detnas.datasets.split_val``, seed 0). ``--search N`` runs (or resumes) such a search itself in ``OUT/search``
  (:data:`SEARCH_FLAGS`) before it adds the front.

mAP50-95: pycocotools on the artifact's own detections over the held-out half of coco_proxy val
(``detnas.datasets.split_val``, seed 0; 159 images). Latency: the frontier protocol (batch 1, 1 thread, thread CPU
clock, two sessions per artifact, 10 warm-up runs, 60 interleaved rounds, median and IQR), one interleaved run per
input size; ``protocol.repeat_agreement`` is the largest difference between the two sessions of one artifact.

Usage:  python benchmarks/deploy_frontier.py [--out runs/deploy_frontier] [--sizes 640,512,416,320]
        [--checkpoints yolo11n yolov8n yolov5nu] [--artifacts openvino-fp32-shipped ...]
        [--yolo-nas | --no-yolo-nas] [--yolo-nas-weights yolo_nas_s.pt] [--run RUN ...] [--search N] [--results PATH]
Each row is written to OUT/rows/ when it is scored, and again when timed: a rerun resumes where it stopped.
Writes benchmarks/results/deploy_frontier.{json,csv,png} (after every timed size).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

from detnas.benchmark.frontier import ROW_FIELDS, FrontierProtocol, front_candidates, time_rows  # noqa: E402
from detnas.benchmark.tables import write_table  # noqa: E402
from detnas.datasets import dataset_yaml, datasets_dir, split_val  # noqa: E402
from detnas.errors import InputError  # noqa: E402
from detnas.evaluate import yolo_nas  # noqa: E402
from detnas.evaluate.deployed import (  # noqa: E402
    CALIBRATION_COUNT,
    CALIBRATION_SEED,
    OPENVINO_CONFIG,
    STOCK_FRACTION,
    export_deployable,
    require_runtime,
    runtime_available,
    validate_deployed,
)
from detnas.evaluate.environment import environment_info, git_commit, package_versions  # noqa: E402
from detnas.models import default_parents  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "deploy_frontier.json"
FIELDS = (*ROW_FIELDS, "precision", "runtime", "map_source", "timed_with")
GOAL_LATENCY_RATIO = 0.75  # a found design: at least the stock OpenVINO INT8 YOLO11n's mAP at <= 0.75x its latency
MAX_FOUND = 6
# (runtime, precision, variant) of every checkpoint at every size
ARTIFACTS = (
    ("onnxruntime", "fp32", "shipped"),
    ("openvino", "fp32", "shipped"),
    ("openvino", "int8", "stock"),
    ("onnxruntime", "int8", "detnas"),
    ("openvino", "int8", "detnas"),
)
SHORT = {"onnxruntime": "ORT", "openvino": "OV", "litert": "LiteRT"}
LITERT = ("litert", "int8", "stock")
NAS_LABEL = {"published": "YOLO-NAS S {artifact} (published mAP, latency measured here)",
             "measured": "YOLO-NAS S {artifact} (measured)"}  # fmt: skip


def artifact_key(runtime: str, precision: str, variant: str) -> str:
    return f"{runtime}-{precision}-{variant}"


def plans(checkpoints: list[Path], sizes: list[int], tflite: Path | None, only: set[str] | None = None) -> list[dict]:
    """Every checkpoint's artifacts at every size (``only``: those artifact keys alone)."""
    rows = []
    for path in checkpoints:
        model = path.stem
        for size in sizes:
            for runtime, precision, variant in ARTIFACTS:
                if only is not None and artifact_key(runtime, precision, variant) not in only:
                    continue
                name = f"{model} {SHORT[runtime]} {precision.upper()} {variant} @{size}"
                rows.append(dict(name=name, model=model, runtime=runtime, precision=precision, variant=variant,
                                 imgsz=size, weights=str(path)))  # fmt: skip
            shipped = sorted(tflite.glob(f"{model}_*.tflite")) if tflite and tflite.is_dir() else []
            if size == 640 and shipped and (only is None or artifact_key(*LITERT) in only):
                rows.append(dict(name=f"{model} LiteRT INT8 stock @640", model=model, runtime="litert",
                                 precision="int8", variant="stock", imgsz=640, weights=str(path),
                                 artifact=str(shipped[0])))  # fmt: skip
    return rows


def nas_plans(sizes: list[int], weights: Path | None) -> list[dict]:
    """YOLO-NAS S's artifacts at every size: ``published`` (random weights, Deci's mAP) or, with the user's weights,
    ``measured``."""
    variant = "measured" if weights else "published"
    rows = []
    for size in sizes:
        for runtime, precision in yolo_nas.ARTIFACTS:
            rows.append(dict(name=f"{yolo_nas.MODEL} {SHORT[runtime]} {precision.upper()} {variant} @{size}",
                             model=yolo_nas.MODEL, runtime=runtime, precision=precision, variant=variant,
                             imgsz=size, weights=str(weights) if weights else None))  # fmt: skip
    return rows


# The deploy search of --search: the checkpoints' anchored space, sizes 512-640, INT8 on OpenVINO, inheritance without
# fine-tuning (a brief fine-tune on coco_proxy lowers the shipped checkpoints' held-out mAP), at most YOLOv8n's GFLOPs.
SEARCH_FLAGS = ("--sizes", "512-640", "--precisions", "int8", "--runtime", "openvino", "--proxy", "pretrained-zero",
                "--population", "8", "--max-gflops", "9.0")  # fmt: skip


def search(out: Path, evaluations: int) -> Path:
    """Run (or resume) the deploy search in ``out/search`` on the search half of the split; returns the run folder."""
    import subprocess

    folder = out / "search"
    search_yaml, _ = split_val(dataset_yaml("coco_proxy"), out / "data", seed=0)
    command = [sys.executable, "-m", "detnas", "search", "--evaluations", str(evaluations)]
    if (folder / "search.sqlite").exists():
        command += ["--resume", str(folder)]
    else:
        command += ["--out", str(folder), "--data", str(search_yaml), *SEARCH_FLAGS]
    print("search:", " ".join(command[1:]), flush=True)
    if subprocess.run(command, stdout=subprocess.DEVNULL).returncode != 0:
        raise InputError(f"the deploy search in {folder} failed (its error is above): fix it, then run this again")
    return folder


def found_plans(runs: list[Path], max_found: int, timed_with: int) -> list[dict]:
    """The front designs of deploy searches (``--precisions``), each as its ``front/<id>.pt`` was left, to be deployed
    as it was searched. InputError (one line) for a folder that is not such a run or lacks a front design's weights."""
    from detnas.genome import ArchGenome
    from detnas.search.loop import STORE_NAME

    rows = []
    for run in runs:
        if not (run / STORE_NAME).is_file():
            raise InputError(f"--run {run}: no {STORE_NAME} there: name a folder written by detnas search --out")
        try:
            front = front_candidates(run, max_found)
        except ValueError as error:
            raise InputError(f"--run {error}: let it finish a candidate first (detnas search --resume {run})") from None
        for c in front:
            genome = ArchGenome.from_json(c.genome_json)
            if not genome.deployed:
                raise InputError(
                    f"--run {run}: design {c.genome_id} was searched as an FP32 network on its latency backend, not "
                    "as a deployed artifact: search with --precisions fp32 int8 --runtime openvino"
                )  # fmt: skip
            weights = run / "front" / f"{c.genome_id}.pt"
            if not weights.is_file():
                raise InputError(f"--run {run}: {weights} is missing: write it with detnas search --resume {run}")
            evaluation = json.loads(c.evaluation_json or "{}")
            details = evaluation.get("proxy", {}).get("details", {})
            size = genome.imgsz or evaluation.get("recipe", {}).get("imgsz") or 640  # a pinned search: its --imgsz
            rows.append(dict(name=f"found-{c.genome_id} {SHORT[genome.runtime]} {genome.precision.upper()} @{size}",
                             model=f"found-{c.genome_id}", runtime=genome.runtime, precision=genome.precision,
                             variant="found", imgsz=size, weights=str(weights), genome_json=c.genome_json,
                             run=str(run), parent=details.get("parent"),
                             inherited_fraction=details.get("inherited_fraction"),
                             search_map50_95=c.map, search_latency_ms=c.latency_ms, timed_with=timed_with,
                             fine_tune_seconds=evaluation.get("phase_seconds", {}).get("train"),
                             **_search_inheritance(evaluation)))  # fmt: skip
    return rows


def _search_inheritance(evaluation: dict) -> dict:
    """What the search's inheritance did to a front design (reconstruction of sliced layers, distillation), from its
    worker's result beside the evaluation (both None where that file is gone)."""
    from detnas.evaluate.request import WorkerResult

    result = Path(evaluation.get("workdir") or "/nonexistent") / "result.json"
    inheritance = (WorkerResult.from_json(result).inheritance or {}) if result.is_file() else {}
    return {"reconstruction": inheritance.get("reconstruction"), "distillation": inheritance.get("distillation")}


def slug(plan: dict) -> str:
    return f"{plan['model']}_{plan['runtime']}_{plan['precision']}_{plan['variant']}_{plan['imgsz']}"


def score(plan: dict, heldout, coco, calibration_data: Path, out: Path, count: int, seed: int) -> dict:
    """Make the artifact and measure its mAP on the held-out half (no latency yet)."""
    from detnas.cost import genome_cost
    from detnas.evaluate.metrics import run_validation
    from detnas.genome import ArchGenome
    from detnas.inherit.checkpoint import load_parent

    if plan["model"] == yolo_nas.MODEL:
        return score_yolo_nas(plan, heldout, coco, calibration_data, out, count, seed)
    started = time.perf_counter()
    work = out / "artifacts" / slug(plan)
    row = dict(plan, kind="found" if plan["variant"] == "found" else "baseline")
    if plan["runtime"] == "litert":
        artifact, record = Path(plan["artifact"]), None
        export_seconds = 0.0
        metrics = run_validation(artifact, heldout.yaml_path, imgsz=640, batch=1, device="cpu", save_dir=work / "val",
                                 names=heldout.names, val_images=heldout.val_images, coco_annotations=coco)  # fmt: skip
    else:
        deployed = export_deployable(
            plan["weights"], runtime=plan["runtime"], precision=plan["precision"], imgsz=plan["imgsz"], out=work,
            data=calibration_data, count=count, seed=seed, variant="stock" if plan["variant"] == "stock" else "detnas",
        )  # fmt: skip
        artifact, record = deployed.path, deployed.record
        export_seconds = time.perf_counter() - started
        metrics = validate_deployed(
            artifact, heldout.yaml_path, imgsz=plan["imgsz"], save_dir=work / "val", names=heldout.names,
            val_images=heldout.val_images, coco_annotations=coco,
        )  # fmt: skip
    if plan["variant"] == "found":
        genome = ArchGenome.from_json(plan["genome_json"])
        inheritance = {"inherited_fraction": plan["inherited_fraction"], "parent": plan["parent"]}
    else:
        genome = load_parent(Path(plan["weights"])).genome
        inheritance = {"inherited_fraction": 1.0, "parent": Path(plan["weights"]).name}
    cost = genome_cost(genome, imgsz=plan["imgsz"])
    row.update(
        artifact=str(artifact),
        deploy_record=str(record) if record else None,
        calibration=json.loads(record.read_text())["calibration"] if record else None,
        **inheritance,
        params=cost.params,
        gflops=cost.gflops,
        genome_id=genome.architecture.id,
        map50_95=metrics.map50_95,
        map50=metrics.map50,
        metric_source=metrics.metric_source,
        map_source="measured here",
        export_seconds=round(export_seconds, 1),
        score_seconds=round(time.perf_counter() - started, 1),
    )
    return row


def score_yolo_nas(plan: dict, heldout, coco, calibration_data: Path, out: Path, count: int, seed: int) -> dict:
    """Make a YOLO-NAS S artifact; its mAP is Deci's published one (640 px only), or, with the user's weights,
    measured on the held-out half like every other row's."""
    started = time.perf_counter()
    work = out / "artifacts" / slug(plan)
    deployed = yolo_nas.export_yolo_nas(
        runtime=plan["runtime"], precision=plan["precision"], imgsz=plan["imgsz"], out=work, data=calibration_data,
        count=count, seed=seed, weights=plan["weights"],
    )  # fmt: skip
    export_seconds = time.perf_counter() - started
    record = json.loads(deployed.record.read_text())
    row = dict(plan, kind="reference", artifact=str(deployed.path), deploy_record=str(deployed.record),
               calibration=record["calibration"], inherited_fraction=None, parent=None, params=record["params"],
               gflops=record["gflops"], genome_id=None)  # fmt: skip
    if plan["variant"] == "measured":
        metrics = validate_deployed(
            deployed.path, heldout.yaml_path, imgsz=plan["imgsz"], save_dir=work / "val", names=heldout.names,
            val_images=heldout.val_images, coco_annotations=coco,
        )  # fmt: skip
        row.update(map50_95=metrics.map50_95, map50=metrics.map50, metric_source=metrics.metric_source,
                   map_source="measured here")  # fmt: skip
    elif plan["imgsz"] == yolo_nas.PUBLISHED_IMGSZ:
        row.update(map50_95=yolo_nas.PUBLISHED_MAP[plan["precision"]], map50=None, metric_source=None,
                   map_source=f"{yolo_nas.MAP_SOURCE}, {yolo_nas.PUBLISHED_AS[plan['precision']]}")  # fmt: skip
    else:
        row.update(map50_95=None, map50=None, metric_source=None,
                   map_source=f"none: {yolo_nas.MAP_SOURCE} is at {yolo_nas.PUBLISHED_IMGSZ} px only")  # fmt: skip
    row.update(export_seconds=round(export_seconds, 1), score_seconds=round(time.perf_counter() - started, 1))
    return row


def goal(rows: list[dict]) -> dict:
    """detnas's INT8 of each checkpoint against the stock OpenVINO INT8 at the same size: within 0.005 mAP50-95 and
    5% latency."""
    timed = {
        (r["model"], r["imgsz"], r["runtime"], r["precision"], r["variant"]): r for r in rows if r.get("latency_ms")
    }
    checks = []
    for (model, size, _, precision, variant), row in sorted(timed.items()):
        stock = timed.get((model, size, "openvino", "int8", "stock"))
        if precision != "int8" or variant != "detnas" or stock is None or row.get("timed_with"):
            continue
        gap, ratio = row["map50_95"] - stock["map50_95"], row["latency_ms"] / stock["latency_ms"]
        checks.append({"row": row["name"], "against": stock["name"], "map_gap": round(gap, 4),
                       "latency_ratio": round(ratio, 3), "met": gap >= -0.005 and ratio <= 1.05})  # fmt: skip
    by_runtime = {
        runtime: all(c["met"] for c in checks if f" {SHORT[runtime]} " in c["row"]) if checks else None
        for runtime in ("onnxruntime", "openvino")
    }
    return {"bar": "map50_95 >= stock - 0.005 and latency <= 1.05 x stock (OpenVINO INT8, same checkpoint and size)",
            "checks": checks, "met_by_runtime": by_runtime, "found": found_goal(rows)}  # fmt: skip


def found_goal(rows: list[dict]) -> dict | None:
    """A found design with at least the stock OpenVINO INT8 YOLO11n's mAP50-95 at the largest size, at <= 0.75x its
    latency, both timed in the same interleaved run (None without found rows)."""
    found = [r for r in rows if r["variant"] == "found" and r.get("latency_ms")]
    if not found:
        return None
    size = found[0]["timed_with"]
    stock = next((r for r in rows if (r["model"], r["runtime"], r["precision"], r["variant"], r["imgsz"])
                  == ("yolo11n", "openvino", "int8", "stock", size) and r.get("latency_ms")), None)  # fmt: skip
    if stock is None:
        return {"bar": f"needs the stock OpenVINO INT8 yolo11n @{size} row", "met": None}
    limit = GOAL_LATENCY_RATIO * stock["latency_ms"]
    checks = [{"row": r["name"], "map_gap": round(r["map50_95"] - stock["map50_95"], 4),
               "latency_ratio": round(r["latency_ms"] / stock["latency_ms"], 3),
               "met": r["map50_95"] >= stock["map50_95"] and r["latency_ms"] <= limit}
              for r in sorted(found, key=lambda r: r["latency_ms"])]  # fmt: skip
    # what limits it: over every artifact of that run (found or not), the best mAP within the latency limit and the
    # fastest at the reference mAP
    run = [r for r in rows if r.get("timed_with", r["imgsz"]) == size and r.get("latency_ms")
           and r.get("map50_95") is not None and r is not stock and r["map_source"] == "measured here"]  # fmt: skip
    within = max((r for r in run if r["latency_ms"] <= limit), key=lambda r: r["map50_95"], default=None)
    as_good = min((r for r in run if r["map50_95"] >= stock["map50_95"]), key=lambda r: r["latency_ms"], default=None)
    return {"bar": f"map50_95 >= {stock['map50_95']:.4f} and latency <= {limit:.1f} ms ({GOAL_LATENCY_RATIO}x "
                   f"{stock['name']}, timed in the same run)", "against": stock["name"], "checks": checks,
            "met": any(c["met"] for c in checks),
            "best_within_latency": _brief(within, stock), "fastest_at_map": _brief(as_good, stock)}  # fmt: skip


def _brief(row: dict | None, stock: dict) -> dict | None:
    if row is None:
        return None
    return {"row": row["name"], "map50_95": round(row["map50_95"], 4), "latency_ms": row["latency_ms"],
            "map_gap": round(row["map50_95"] - stock["map50_95"], 4),
            "latency_ratio": round(row["latency_ms"] / stock["latency_ms"], 3)}  # fmt: skip


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | size | runtime | precision | variant | mAP50-95 | latency ms (IQR) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["model"], -r["imgsz"], r.get("latency_ms") or 1e9)):
        lat = f"{r['latency_ms']:.1f} ({r['latency_spread_ms']:.1f})" if r.get("latency_ms") else "-"
        score = "-" if r.get("map50_95") is None else f"{r['map50_95']:.4f}"
        score += " (published)" if str(r.get("map_source", "")).startswith("published") else ""
        lines.append(f"| {r['model']} | {r['imgsz']} | {r['runtime']} | {r['precision']} | {r['variant']} | "
                     f"{score} | {lat} |")  # fmt: skip
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6.5))
    colors = {"yolo11n": "tab:red", "yolov8n": "tab:blue", "yolov5nu": "tab:green", yolo_nas.MODEL: "tab:purple"}
    styles = {("onnxruntime", "fp32"): ("o", ":"), ("openvino", "fp32"): ("s", ":"), ("openvino", "int8"): ("D", "-"),
              ("onnxruntime", "int8"): ("^", "-"), ("litert", "int8"): ("P", "")}  # fmt: skip
    curves: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("latency_ms") and r.get("map50_95") is not None:
            curves.setdefault((r["model"], r["runtime"], r["precision"], r["variant"]), []).append(r)
    for (model, runtime, precision, variant), points in sorted(curves.items()):
        points.sort(key=lambda p: p["latency_ms"])
        marker, line = styles[(runtime, precision)]
        dashed = "--" if variant == "stock" and line else line
        artifact = f"{SHORT[runtime]} {precision.upper()}"
        label = f"{model} {artifact} {variant}"
        if model == yolo_nas.MODEL:
            label = NAS_LABEL[variant].format(artifact=artifact)
        if variant == "found":  # one point per design, at its own size
            ax.plot([points[0]["latency_ms"]], [points[0]["map50_95"]], marker="*", markersize=11, linestyle="",
                    color="black", alpha=0.85, label=f"{model} {artifact} @{points[0]['imgsz']} (found)")  # fmt: skip
            continue
        ax.plot([p["latency_ms"] for p in points], [p["map50_95"] for p in points], marker=marker, linestyle=dashed,
                color=colors.get(model, "grey"), alpha=0.85, fillstyle="none" if variant == "stock" else "full",
                label=label)  # fmt: skip
        for p in points:
            ax.annotate(str(p["imgsz"]), (p["latency_ms"], p["map50_95"]), textcoords="offset points",
                        xytext=(4, 3), fontsize=6, alpha=0.7)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("latency ms (batch 1, 1 thread, thread CPU clock, median of interleaved runs; log scale)")
    ax.set_ylabel("mAP50-95, coco_proxy held-out half (pycocotools)")
    if any(r["model"] == yolo_nas.MODEL and r.get("variant") == "published" for r in rows):
        ax.text(0.01, 0.99, "YOLO-NAS S: Deci's published COCO val2017 mAP50-95 (not the held-out half),\n"
                "latency of its architecture measured here (random weights, reparameterised)", fontsize=7,
                transform=ax.transAxes, va="top", color="tab:purple")  # fmt: skip
    ax.set_title("Deployed artifacts: FP32 and INT8 on ONNX Runtime, OpenVINO and LiteRT", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "deploy_frontier")
    parser.add_argument("--sizes", default="640,512,416,320", help="input sizes, comma-separated")
    parser.add_argument("--checkpoints", nargs="*", default=["yolo11n", "yolov8n", "yolov5nu"], metavar="NAME",
                        help="checkpoints by name; none (a bare --checkpoints) for YOLO-NAS S alone")  # fmt: skip
    keys = [artifact_key(*a) for a in (*ARTIFACTS, LITERT)]
    parser.add_argument("--artifacts", nargs="+", choices=keys, metavar="KEY",
                        help=f"only these artifacts of each checkpoint (default all): {', '.join(keys)}")  # fmt: skip
    parser.add_argument("--yolo-nas", action=argparse.BooleanOptionalAction, default=None,
                        help="YOLO-NAS S rows (default: when modern-yolonas is installed)")  # fmt: skip
    parser.add_argument("--yolo-nas-weights", type=Path, metavar="PT",
                        help="a yolo_nas_s.pt: the YOLO-NAS S rows carry its weights, their mAP measured")  # fmt: skip
    parser.add_argument("--run", nargs="+", type=Path, default=[], metavar="RUN",
                        help="deploy searches (detnas search --precisions ...): their front designs join")  # fmt: skip
    parser.add_argument("--max-found", type=int, default=MAX_FOUND, help=f"front designs per run (default {MAX_FOUND})")
    parser.add_argument("--search", type=int, default=0, metavar="N",
                        help="first run (or resume) a deploy search of N evaluations in OUT/search on the search half "
                             "of the split, and add its front (see SEARCH_FLAGS)")  # fmt: skip
    parser.add_argument("--calibration-images", type=int, default=CALIBRATION_COUNT)
    parser.add_argument("--seed", type=int, default=CALIBRATION_SEED)
    parser.add_argument("--rounds", type=int, default=60, help="interleaved timing rounds (default 60)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    found = {p.stem: p for p in default_parents()}
    missing = [c for c in args.checkpoints if c not in found]
    if missing:
        print(f"error: checkpoints {missing} not found (../shared/weights/pt or $DETNAS_WEIGHTS)", file=sys.stderr)
        return 2
    if args.max_found < 1 or args.search < 0:
        print(f"error: --max-found must be at least 1 and --search at least 0, got {args.max_found}, {args.search}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        if args.search:
            args.run = [*args.run, search(args.out, args.search)]
        with_nas = nas_wanted(args)
        designs = found_plans(args.run, args.max_found, timed_with=max(sizes)) if args.run else []
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.checkpoints and not with_nas and not designs:
        print("error: nothing to measure: name --checkpoints, --run or add --yolo-nas", file=sys.stderr)
        return 2
    from detnas.evaluate.data import find_coco_annotations, load_data_yaml

    proxy = dataset_yaml("coco_proxy")
    _, heldout_yaml = split_val(proxy, args.out / "data", seed=0)
    heldout = load_data_yaml(heldout_yaml)
    coco = find_coco_annotations(heldout.val_images)
    shared = datasets_dir()
    tflite = shared.parent / "weights" / "tflite_int8" if shared else None
    protocol = FrontierProtocol(threads=1, rounds=args.rounds)
    todo = plans([found[c] for c in args.checkpoints], sizes, tflite, set(args.artifacts) if args.artifacts else None)
    todo += nas_plans(sizes, args.yolo_nas_weights) if with_nas else []
    todo += designs
    rows: list[dict] = []
    for plan in todo:
        path = args.out / "rows" / f"{slug(plan)}.json"
        cached = json.loads(path.read_text()) if path.is_file() else None
        if cached and Path(cached["artifact"]).exists():
            rows.append(cached)
            continue
        if cached:  # its artifact is gone (another machine, a cleaned folder): timing needs it, so make it again
            print(f"  {plan['name']}: artifact {cached['artifact']} is missing: made again", flush=True)
        try:
            row = score(plan, heldout, coco, proxy, args.out, args.calibration_images, args.seed)
        except Exception as error:  # a row that cannot be made is reported, the rest goes on
            print(f"  {plan['name']}: not measured: {str(error).splitlines()[0][:300]}", flush=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row, indent=1))
        figure = "none at this size" if row["map50_95"] is None else f"{row['map50_95']:.4f} ({row['map_source']})"
        print(f"  {row['name']}: mAP50-95 {figure} ({row['score_seconds']:.0f} s)", flush=True)
        rows.append(row)
    agreements = {}
    timing = args.out / "timing"
    for size in sizes:
        group = [r for r in rows if r.get("timed_with", r["imgsz"]) == size]
        record = timing / f"{size}.json"
        names = sorted(r["name"] for r in group)
        done = json.loads(record.read_text()) if record.is_file() else None
        if done and done["rows"] == names and all(r.get("latency_ms") for r in group):
            agreements[size] = done["repeat_agreement"]
            continue
        for r in group:  # one interleaved run per size: a group with a new row is timed again as a whole
            for key in ("latency_ms", "latency_spread_ms", "latency_sessions_ms", "latency_backend"):
                r.pop(key, None)
        print(f"timing {len(group)} artifacts at {size} px", flush=True)
        agreement = time_rows(group, protocol, args.out, log=lambda text: print(text, flush=True))
        agreements[size] = agreement
        for r in group:
            (args.out / "rows" / f"{slug(r)}.json").write_text(json.dumps(r, indent=1))
        timing.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"rows": names, "repeat_agreement": agreement}))
        write(rows, agreements, args, heldout_yaml, proxy, protocol)
    paths = write(rows, agreements, args, heldout_yaml, proxy, protocol)
    print(markdown(rows))
    print("wrote", ", ".join(str(p) for p in paths.values()))
    return 0


def nas_wanted(args) -> bool:
    """Whether YOLO-NAS S rows are made: asked for (``--yolo-nas`` or ``--yolo-nas-weights``; InputError, one line,
    when they cannot be), refused (``--no-yolo-nas``), or by default when what they need is installed (else the
    reason is printed and the rest goes on)."""
    asked = args.yolo_nas or args.yolo_nas_weights is not None
    if args.yolo_nas is False:
        if args.yolo_nas_weights is not None:
            raise InputError("--yolo-nas-weights and --no-yolo-nas contradict each other: drop one")
        return False
    if not asked:
        if not yolo_nas.available():
            print(f"YOLO-NAS S rows skipped: {yolo_nas.DISTRIBUTION} is not installed (pip install 'detnas[yolonas]')")
            return False
        if not runtime_available("openvino"):
            print("YOLO-NAS S rows skipped: openvino and nncf are not installed (pip install 'detnas[openvino]')")
            return False
        return True
    yolo_nas.require()
    require_runtime("openvino", "int8")
    if args.yolo_nas_weights is not None:
        yolo_nas.deployed_network(args.yolo_nas_weights)  # one line now for weights that cannot be used
    return True


def write(rows, agreements, args, heldout_yaml, proxy, protocol):
    timed = [a for a in agreements.values() if a is not None]
    meta = {
        "commit": git_commit(ROOT),
        "protocol": protocol.to_dict()
        | {
            "recipe": None,
            "repeat_agreement": max(timed) if timed else None,
            "repeat_agreement_by_size": {str(k): v for k, v in agreements.items()},
            "timing": "one interleaved run per input size (every artifact of that size, two sessions each)",
            "openvino_config": OPENVINO_CONFIG,
            "calibration": {
                "images": args.calibration_images,
                "seed": args.seed,
                "split": "train",
                "stock_fraction": STOCK_FRACTION,
            },  # fmt: skip
        },
        "data": {
            "heldout": str(heldout_yaml),
            "calibration": str(proxy),
            "split": {"source": "coco_proxy val (318 val2017 images)", "seed": 0, "heldout": 159},
        },  # fmt: skip
        "machine": environment_info()
        | {
            "runtime_versions": package_versions(
                ("onnxruntime", "onnx", "openvino", "nncf", "ai-edge-litert", "ultralytics", "torch")
            )
        },  # fmt: skip
        "sizes": sorted({r["imgsz"] for r in rows}, reverse=True),
        "checkpoints": args.checkpoints,
    }
    if args.run:
        meta["found"] = {
            "runs": [str(r) for r in args.run],
            "search": {"evaluations": args.search, "flags": list(SEARCH_FLAGS), "data": "coco_proxy search half"}
            if args.search else None,
            "max_found": args.max_found,
            "designs": "each run's Pareto front (search mAP up, deployed latency down), spread along latency; "
                       "front/<id>.pt as the search left it, deployed as searched, calibrated like the detnas rows",
            "timed_with": max(int(s) for s in args.sizes.split(",")),
        }  # fmt: skip
    if any(r["model"] == yolo_nas.MODEL for r in rows):
        meta["yolo_nas"] = {
            "model": "YOLO-NAS S (modern-yolonas architecture, QARepVGG branches fused as deployed)",
            "weights": str(args.yolo_nas_weights) if args.yolo_nas_weights else f"random, seed {yolo_nas.MODEL_SEED}",
            "map": "measured here" if args.yolo_nas_weights else
                   f"{yolo_nas.MAP_SOURCE} at {yolo_nas.PUBLISHED_IMGSZ} px: FP16 0.475 for the float rows, INT8 "
                   "0.4703; not measured here (no YOLO-NAS weights); latency measured here",
            "versions": package_versions((yolo_nas.DISTRIBUTION,)),
        }  # fmt: skip
    for row in rows:  # the keys of pretrained_frontier.json's rows: None where a row was deployed as shipped
        for key in ("reconstruction", "distillation", "distill_seconds", "fine_tune_seconds"):
            row.setdefault(key, None)
    ordered = sorted(rows, key=lambda r: (r["model"], -r["imgsz"], r["runtime"], r["precision"], r["variant"]))
    payload = meta | {"rows": ordered, "goal": goal(ordered)}
    return write_table(args.results.with_suffix(""), payload, ordered, FIELDS, plot=lambda p: plot(ordered, p))


if __name__ == "__main__":
    raise SystemExit(main())
