"""How repeatable is one latency measurement? Coefficient of variation of 10 repeated measurements per design.

Each repetition is what detnas.evaluate does for a candidate: load (torch: build + fuse; onnx: a fresh ONNX Runtime
session on the exported model), warm up, then take the median of N timed batch-1 runs. The CV is taken over the 10
medians. Prints a table and writes JSON (default: beside this script).

    python benchmarks/latency_repeatability.py [--imgsz 320] [--repeats 10] [--runs 30] [--threads 1] [--out F]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")

from detnas.evaluate import measure_latency  # noqa: E402
from detnas.evaluate.environment import environment_info  # noqa: E402
from detnas.evaluate.latency import export_onnx  # noqa: E402
from detnas.evaluate.stock import write_stock_yaml  # noqa: E402


def designs(out_dir: Path) -> dict[str, Path]:
    """The designs to time, as explicit YAMLs (stock Ultralytics configs for now; detnas genomes later)."""
    return {name: write_stock_yaml(name, out_dir) for name in ("yolo11n", "yolov8n", "yolov5n", "yolov10n", "yolo26n")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / (Path(__file__).stem + ".json"))
    args = parser.parse_args(argv)

    env = environment_info()
    print(f"machine: {env['cpu']} ({env['usable_cpus']} usable CPUs), {env['platform']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v))
    print(
        f"imgsz {args.imgsz}, batch 1, {args.threads} thread(s), {args.repeats} repeats x "
        f"(warm-up {args.warmup} + median of {args.runs} runs)\n"
    )
    header = (
        f"{'design':<10} {'backend':<7} {'median ms':>10} {'min':>8} {'max':>8} {'CV %':>6} {'within-run CV %':>16}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, arch in designs(Path(tmp)).items():
            onnx_path = export_onnx(arch, args.imgsz, Path(tmp) / name)
            for backend, source in (("torch", arch), ("onnx", onnx_path)):
                records = [
                    measure_latency(
                        source,
                        imgsz=args.imgsz,
                        backend=backend,
                        threads=args.threads,
                        warmup=args.warmup,
                        runs=args.runs,
                    )
                    for _ in range(args.repeats)
                ]
                medians = [r.median_ms for r in records]
                mean = statistics.fmean(medians)
                row = {
                    "design": name,
                    "backend": backend,
                    "median_ms": statistics.median(medians),
                    "min_ms": min(medians),
                    "max_ms": max(medians),
                    "cv": statistics.stdev(medians) / mean,
                    "within_run_cv": statistics.fmean(r.cv for r in records),
                    "medians_ms": medians,
                }
                rows.append(row)
                print(
                    f"{name:<10} {backend:<7} {row['median_ms']:>10.2f} {row['min_ms']:>8.2f} {row['max_ms']:>8.2f} "
                    f"{100 * row['cv']:>6.2f} {100 * row['within_run_cv']:>16.2f}",
                    flush=True,
                )
    result = {"settings": vars(args) | {"out": str(args.out)}, "environment": env, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
