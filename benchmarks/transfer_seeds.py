"""Do a default search's unchanged seeds score, on data with its own classes, what a 10x longer transfer reaches?

Protocol (fixed; every run measures the same thing):
- Task: ``coco_indoor4`` (4 classes not COCO's 80: chair, dining table, drinkware, bottle); its own val split.
- Seeds: YOLO11n, YOLOv8n, YOLOv5nu inheriting from their COCO-trained checkpoints (``detnas.models.default_parents``),
  unchanged, at 640 px, where a default search (``detnas search --data coco_indoor4``) places them.
- Default: the search's transfer recipe, ``detnas.evaluate.recipe.fine_tune_recipe`` at 640 px: the class-head probe
  (``detnas.evaluate.head_probe``, 30 passes over cached features of the seeded 128-image training subset), then one
  fine-tune pass over those 128 images (AdamW 1e-4, no warm-up, no mosaic); pycocotools mAP50-95 on the val split.
- Reference: the same inheritance with a 10x longer transfer: 300 probe passes, 10 fine-tune epochs.
- Goal: every seed's default score >= 60% of its reference.

Usage:  python benchmarks/transfer_seeds.py [--out runs/transfer_seeds] [--imgsz 640]
Each evaluation is kept in ``OUT/<seed>/<recipe>/evaluation.json`` as it finishes; a rerun skips what exists.
Writes ``benchmarks/results/transfer_seeds.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

from detnas.architecture import write_yaml  # noqa: E402
from detnas.datasets import dataset_yaml  # noqa: E402
from detnas.designs import named_design  # noqa: E402
from detnas.evaluate.candidate import evaluate_candidate  # noqa: E402
from detnas.evaluate.environment import environment_info, git_commit  # noqa: E402
from detnas.evaluate.recipe import fine_tune_recipe  # noqa: E402
from detnas.evaluate.record import Evaluation  # noqa: E402
from detnas.models import default_parents  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "transfer_seeds.json"
GOAL = 0.6


def _evaluate(arch: Path, data: Path, recipe, workdir: Path, parent: Path) -> dict:
    record = workdir / "evaluation.json"
    if not record.is_file():
        evaluate_candidate(
            arch, data, recipe, workdir=workdir, proxy="pretrained", parents=[parent], latency_backend=None
        )
    e = Evaluation.from_json(record)
    worker = json.loads((workdir / "result.json").read_text())  # the worker's own record keeps the inheritance
    probe = (worker.get("inheritance") or {}).get("head_probe")
    return {
        "status": e.status,
        "reason": e.failure_reason,
        "map50_95": e.metrics.map50_95 if e.metrics else None,
        "metric_source": e.metrics.metric_source if e.metrics else None,
        "seconds": e.total_seconds,
        "phase_seconds": e.phase_seconds,
        "head_probe": probe,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/transfer_seeds"))
    parser.add_argument("--imgsz", type=int, default=640)
    args = parser.parse_args(argv)
    data = dataset_yaml("coco_indoor4")
    default = fine_tune_recipe(imgsz=args.imgsz)
    reference = replace(default, epochs=10 * default.epochs, probe_epochs=10 * default.probe_epochs)
    rows = []
    for parent in default_parents():
        name = parent.stem
        genome = named_design(name).with_imgsz(args.imgsz)
        # named by id: Ultralytics rewrites any YAML path holding "yolov5" and ending in "u.yaml" (yolov5nu.yaml)
        arch = write_yaml(genome, args.out / name / f"{genome.id}.yaml")
        row = {"seed": name, "imgsz": args.imgsz}
        for label, recipe in (("default", default), ("reference", reference)):
            row[label] = _evaluate(arch, data, recipe, args.out / name / label, parent)
            print(name, label, row[label]["map50_95"], f"{row[label]['seconds']:.0f} s", flush=True)
        d, r = row["default"]["map50_95"], row["reference"]["map50_95"]
        row["ratio"] = round(d / r, 4) if d is not None and r else None
        rows.append(row)
    ratios = [row["ratio"] for row in rows]
    result = {
        "protocol": __doc__.split("Usage:")[0].strip(),
        "commit": git_commit(ROOT),
        "data": str(data),
        "machine": environment_info(),
        "recipes": {"default": default.to_dict(), "reference": reference.to_dict()},
        "rows": rows,
        "goal": {"min_ratio": GOAL, "met": bool(ratios) and all(x is not None and x >= GOAL for x in ratios)},
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'seed':10} {'default':>8} {'reference':>9} {'ratio':>6} {'default s':>9}")
    for row in rows:
        d, r = row["default"], row["reference"]
        print(
            f"{row['seed']:10} {d['map50_95'] or 0:8.4f} {r['map50_95'] or 0:9.4f} {row['ratio'] or 0:6.2f} "
            f"{d['seconds']:9.0f}"
        )
    print(f"goal (every ratio >= {GOAL}): {'met' if result['goal']['met'] else 'not met'}; wrote {RESULTS}")
    return 0 if result["goal"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
