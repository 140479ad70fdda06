"""Seconds per candidate evaluation, split into build, training, validation, latency and other.

Runs detnas.evaluate.evaluate_candidate for each design on coco_combo at a small recipe (a fresh latency cache, so
latency is measured, not looked up). Prints a table and writes JSON (default: beside this script).

    python benchmarks/evaluation_cost.py [--epochs 1] [--imgsz 192] [--subset 96] [--backend torch] [--out F]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")

from detnas.datasets import dataset_yaml  # noqa: E402
from detnas.evaluate import Recipe, evaluate_candidate  # noqa: E402
from detnas.evaluate.environment import environment_info  # noqa: E402
from detnas.evaluate.stock import write_stock_yaml  # noqa: E402

PHASES = ("build", "train", "validate", "latency", "other")


def designs(out_dir: Path) -> dict[str, Path]:
    """The designs to evaluate, as explicit YAMLs (stock Ultralytics configs for now; detnas genomes later)."""
    return {name: write_stock_yaml(name, out_dir) for name in ("yolo11n", "yolov8n", "yolov5n")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="coco_combo", help="dataset name or data YAML (default coco_combo)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--imgsz", type=int, default=192)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--subset", type=int, default=96)
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / (Path(__file__).stem + ".json"))
    args = parser.parse_args(argv)

    data = Path(args.data) if args.data.endswith((".yaml", ".yml")) else dataset_yaml(args.data)
    recipe = Recipe(epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, subset=args.subset, seed=0)
    env = environment_info()
    print(
        f"machine: {env['cpu']} ({env['usable_cpus']} usable CPUs); data {data.name}; recipe epochs={recipe.epochs} "
        f"imgsz={recipe.imgsz} batch={recipe.batch} subset={recipe.subset}; latency {args.backend}\n"
    )
    header = f"{'design':<9} {'status':<7}" + "".join(f"{p:>10}" for p in PHASES) + f"{'total s':>10}{'mAP50-95':>10}"
    print(header)
    print("-" * len(header))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, arch in designs(Path(tmp) / "designs").items():
            e = evaluate_candidate(
                arch,
                data,
                recipe,
                workdir=Path(tmp) / name,
                latency_backend=args.backend,
                latency_cache=Path(tmp) / "latency.json",
            )
            rows.append(
                {
                    "design": name,
                    "status": e.status,
                    "failure_reason": e.failure_reason,
                    "phase_seconds": e.phase_seconds,
                    "total_seconds": e.total_seconds,
                    "map50_95": e.metrics.map50_95 if e.metrics else None,
                    "metric_source": e.metrics.metric_source if e.metrics else None,
                    "latency_ms": e.latency.median_ms if e.latency else None,
                }
            )
            phases = "".join(f"{e.phase_seconds.get(p, 0.0):>10.1f}" for p in PHASES)
            score = f"{e.metrics.map50_95:>10.4f}" if e.metrics else f"{'-':>10}"
            print(f"{name:<9} {e.status:<7}{phases}{e.total_seconds:>10.1f}{score}", flush=True)
            if e.failure_reason:
                print(f"  reason: {e.failure_reason}")
    mean = {p: sum(r["phase_seconds"].get(p, 0.0) for r in rows) / len(rows) for p in PHASES}
    total = sum(r["total_seconds"] for r in rows) / len(rows)
    print(f"{'mean':<9} {'':<7}" + "".join(f"{mean[p]:>10.1f}" for p in PHASES) + f"{total:>10.1f}")
    result = {
        "settings": {k: str(v) for k, v in vars(args).items()},
        "recipe": recipe.to_dict(),
        "environment": env,
        "rows": rows,
        "mean_phase_seconds": mean,
        "mean_total_seconds": total,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
