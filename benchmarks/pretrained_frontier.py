"""The headline figure: designs found by a pretrained-anchored search against the COCO-trained YOLOs they start from.

Protocol (``detnas.benchmark.frontier`` states it in full; this script fixes the inputs):
- Data: ``coco_proxy`` (688 train2017 images, 318 val2017 images). Its val images are split once
  (``detnas.datasets.split_val``, seed 0) into a 159-image *search* half, the only val images the search scores, and a
  159-image *held-out* half, the only images every figure below is measured on.
- Search (budget stated in the JSON): ``detnas search`` with the three checkpoints as parents, the anchored space,
  input size searched with the network (320-640 px, step 32), aging evolution (population 8) seeded with YOLO11n,
  YOLOv8n and YOLOv5nu at 640 px, at most 9.0 GFLOPs at the design's size (the largest parent, YOLOv8n at 640 px,
  has 8.86; larger designs are rejected before any work), ``--evaluations 30``, proxy ``pretrained-zero`` (inheritance
  with reconstruction of sliced layers, no fine-tune; pycocotools mAP50-95 on the search half), latency ONNX Runtime.
- Final: the search's Pareto front (up to 6 designs, spread along latency), each checkpoint as shipped and after
  the same fine-tune at 640/512/416/320 px, YOLO11n thinned to width 0.75 and 0.5 at the same sizes: every network
  inherits from the checkpoints the same way, then gets one identical fine-tune (one pass over 256 seeded training
  images at its own size, AdamW lr 1e-4, no warm-up, no mosaic; a network whose inheritance sliced a layer distils
  from its parent over the same images first); pycocotools mAP50-95 on the held-out half; ONNX
  Runtime latency (batch 1, 1 thread timed by its CPU clock, two sessions per network, 10 warm-up runs, 30
  interleaved rounds, median and IQR, repeat agreement) in one run. The committed result's ``protocol`` says what
  it was measured with (an earlier run: 2 threads, wall clock, one session per network).
  INT8 TFLite exports from ``../shared/weights/tflite_int8`` are listed (LiteRT interpreter; not on the ONNX plot).

Usage:  python benchmarks/pretrained_frontier.py [--out runs/pretrained_frontier] [--evaluations 30]
Every candidate and every row is written as it comes; a rerun resumes where it stopped.
Writes benchmarks/results/pretrained_frontier.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

from detnas.benchmark.frontier import (  # noqa: E402
    FrontierProtocol,
    baseline_plans,
    int8_plans,
    markdown,
    run_frontier,
    score_rows,
    write_results,
)
from detnas.datasets import (  # noqa: E402
    dataset_yaml,
    datasets_dir,
    split_val,  # noqa: E402
)
from detnas.evaluate.environment import environment_info  # noqa: E402
from detnas.models import default_parents  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pretrained_frontier.json"


def search(out: Path, data: Path, evaluations: int) -> float:
    """Run (or resume) the search; returns its wall seconds in this call."""
    folder = out / "search"
    detnas = [sys.executable, "-m", "detnas.cli", "search"]
    if (folder / "search.sqlite").exists():
        command = detnas + ["--resume", str(folder)]
    else:
        command = detnas + [
            "--out", str(folder), "--data", str(data), "--sizes", "320-640", "--evaluations", str(evaluations),
            "--population", "8", "--proxy", "pretrained-zero", "--latency-backend", "onnx", "--max-gflops", "9.0",
        ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "pretrained_frontier")
    parser.add_argument("--evaluations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--only-baselines",
        action="store_true",
        help="score the baseline rows only (no search, no timing), e.g. "
        "beside a running search; a full run reuses them",
    )
    args = parser.parse_args()
    parents = default_parents()
    if len(parents) < 3:
        print("error: yolo11n.pt, yolov8n.pt and yolov5nu.pt are needed (../shared/weights/pt or $DETNAS_WEIGHTS)")
        return 2
    search_data, heldout = split_val(dataset_yaml("coco_proxy"), args.out / "data", seed=0)
    shared = datasets_dir()
    tflite = shared.parent / "weights" / "tflite_int8" if shared else None
    protocol = FrontierProtocol(threads=args.threads)
    if args.only_baselines:
        plans = baseline_plans(parents, protocol) + (int8_plans(tflite) if tflite else [])
        score_rows(plans, heldout, protocol, args.out)
        return 0
    seconds = search(args.out, search_data, args.evaluations)
    result = run_frontier(args.out / "search", args.out, heldout=heldout, int8_dir=tflite, protocol=protocol)
    meta = {
        "protocol": protocol.to_dict() | {"repeat_agreement": result["repeat_agreement"]},
        "search": {
            "evaluations": args.evaluations,
            "proxy": "pretrained-zero",
            "space": "anchored, input size 320-640 step 32",
            "strategy": "aging evolution, population 8, seeds yolo11n/yolov8n/yolov5nu at 640",
            "constraint": "GFLOPs <= 9.0 at the design's size (YOLOv8n at 640 px: 8.86)",
            "data": str(search_data),
            "seconds_this_call": round(seconds, 1),
        },
        "split": {"source": "coco_proxy val (318 val2017 images)", "seed": 0, "search": 159, "heldout": 159},
        "heldout": result["heldout"],
        "machine": environment_info(),
    }
    title = "coco_proxy held-out half (159 val2017 images); found = detnas pretrained-anchored search"
    paths = write_results(result["rows"], meta, RESULTS, title)
    print(markdown(result["rows"]))
    print("wrote", ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
