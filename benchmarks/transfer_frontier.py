"""The own-data frontier: designs a default search finds on a task with its own classes against YOLO11n / YOLOv8n /
YOLOv5nu given the identical transfer.

Protocol (``detnas.benchmark.frontier`` states it in full; this script fixes the inputs):
- Data: ``coco_indoor4`` (4 classes that are not COCO's 80; 169 train, 105 val images). Its val images are split
  once (``detnas.datasets.split_val``, seed 0) into a 52-image *search* half, the only val images the search scores,
  and a 53-image *held-out* half, the only images every figure below is measured on.
- Search: ``detnas search`` with its defaults for this case: the three COCO checkpoints as parents (class
  predictions start fresh: the transfer recipe, head probe then one fine-tune pass over 128 images), the anchored
  space with input size searched (320-640 px, step 32), aging evolution seeded with YOLO11n, YOLOv8n, YOLOv5nu at
  640 px; ``--evaluations 12``, latency ONNX Runtime.
- Final (``FrontierProtocol.for_own_classes``): the search's front (at most 4 designs, spread along latency) and the
  three checkpoints' designs, each inheriting the same way and given one identical transfer, longer than the
  search's: the head probe, then two fine-tune passes over all 169 training images, at 640 px; then pycocotools
  mAP50-95 on the held-out half at 640/512/416/320 px (found designs at their searched size); ONNX Runtime latency
  (batch 1, 1 thread, its CPU clock, two sessions per network in interleaved rounds, median and IQR, and the
  repeat agreement of the two sessions) in one run. The checkpoints *as shipped* are not
  rows: their COCO class predictions do not stand in for the task's classes.
- Goal: a found design with at least the transfer-tuned YOLO11n@640's mAP50-95 at <= 0.6x its latency.

Usage:  python benchmarks/transfer_frontier.py [--out runs/transfer_frontier] [--evaluations 12] [--only-search]
Every candidate and every row is written as it comes; a rerun resumes where it stopped.
Writes benchmarks/results/transfer_frontier.{json,csv,png}.
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
    markdown,
    run_frontier,
    score_rows,
    write_results,
)
from detnas.datasets import dataset_yaml, split_val  # noqa: E402
from detnas.evaluate.environment import environment_info, git_commit  # noqa: E402
from detnas.models import default_parents  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "transfer_frontier.json"


def search(out: Path, data: Path, evaluations: int) -> float:
    """Run (or resume) the default search on the search half; returns its wall seconds in this call."""
    folder = out / "search"
    detnas = [sys.executable, "-m", "detnas.cli", "search"]
    if (folder / "search.sqlite").exists():
        command = detnas + ["--resume", str(folder), "--evaluations", str(evaluations)]
    else:
        command = detnas + [
            "--out", str(folder), "--data", str(data), "--evaluations", str(evaluations), "--latency-backend", "onnx",
        ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def search_cost(run: Path) -> dict:
    """Where the search's candidates spent their time: median seconds per phase and the share outside training (probe
    and fine-tune) and validation, latency measurement included."""
    import statistics

    from detnas.search.loop import STORE_NAME
    from detnas.search.store import Store

    store = Store(run / STORE_NAME)
    try:
        evaluations = [c.evaluation for c in store.candidates("done") if c.evaluation]
    finally:
        store.close()
    if not evaluations:
        return {}
    phases = sorted({k for e in evaluations for k in e.get("phase_seconds", {})})
    shares = []
    for e in evaluations:
        inside = sum(e["phase_seconds"].get(k, 0.0) for k in ("probe", "train", "validate"))
        shares.append(1 - inside / e["total_seconds"])
    return {
        "candidates": len(evaluations),
        "median_seconds": statistics.median(e["total_seconds"] for e in evaluations),
        "median_phase_seconds": {
            k: statistics.median(e["phase_seconds"].get(k, 0.0) for e in evaluations) for k in phases
        },
        "outside_training_and_validation": {"median": statistics.median(shares), "max": max(shares)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "transfer_frontier")
    parser.add_argument("--evaluations", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only-search", action="store_true", help="run (or resume) the search, then stop")
    parser.add_argument(
        "--only-baselines",
        action="store_true",
        help="transfer and score the checkpoints' rows only (no search, no timing), e.g. beside a running search; "
        "a full run reuses them",
    )
    args = parser.parse_args()
    if len(default_parents()) < 3:
        print("error: yolo11n.pt, yolov8n.pt and yolov5nu.pt are needed (../shared/weights/pt or $DETNAS_WEIGHTS)")
        return 2
    search_data, heldout = split_val(dataset_yaml("coco_indoor4"), args.out / "data", seed=0)
    if args.only_baselines:
        protocol = FrontierProtocol(threads=args.threads).for_own_classes()
        score_rows(baseline_plans(default_parents(), protocol), heldout, protocol, args.out)
        return 0
    seconds = search(args.out, search_data, args.evaluations)
    if args.only_search:
        return 0
    protocol = FrontierProtocol(threads=args.threads).for_own_classes()
    result = run_frontier(args.out / "search", args.out, heldout=heldout, protocol=protocol)
    meta = {
        "protocol": result["protocol"].to_dict() | {"repeat_agreement": result["repeat_agreement"]},
        "commit": git_commit(ROOT),
        "search": {
            "evaluations": args.evaluations,
            "command": "detnas search --data <search half> --evaluations N --latency-backend onnx (defaults)",
            "data": str(search_data),
            "seconds_this_call": round(seconds, 1),
            "cost": search_cost(args.out / "search"),
        },
        "split": {"source": "coco_indoor4 val (105 images)", "seed": 0, "search": 52, "heldout": 53},
        "heldout": result["heldout"],
        "machine": environment_info(),
    }
    title = "coco_indoor4 held-out half (53 images, 4 own classes); found = detnas default search"
    paths = write_results(result["rows"], meta, RESULTS, title, protocol=result["protocol"])
    print(markdown(result["rows"]))
    print("wrote", ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
