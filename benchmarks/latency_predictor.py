"""How well does a latency lookup table predict real whole-network latency? Spearman, MAPE, within-10% on held-out
genomes.

Protocol: a table (``detnas.evaluate.latency_table``) is calibrated on separate genomes (seeded apart from the test set:
the constants are never fitted on test genomes), then extended with the layers of the test genomes: 100 sampled from the
anchored and the full space in turn plus the shipped designs, each at every size. For each test genome and size the
whole network is measured by the search's own protocol (Ultralytics ONNX export, ONNX Runtime, same threads) right
after its layers were timed, so machine drift hits both alike. Every result row is written as it comes; run it again
with the same --out to resume. Prints a table and writes JSON (default: results/latency_predictor.json).

    python benchmarks/latency_predictor.py [--n 100 --sizes 192 256 320 --threads 1 --calibration 12 --out F]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")

import tempfile  # noqa: E402

from scipy.stats import spearmanr  # noqa: E402

from detnas.designs import NAMED_DESIGNS, named_design  # noqa: E402
from detnas.evaluate.environment import environment_info  # noqa: E402
from detnas.evaluate.latency_table import (  # noqa: E402
    calibrate,
    extend_layers,
    features,
    fit_coefficients,
    measure_network_ms,
    open_or_create,
    predict_ms,
    relative_errors,
    sample_genomes,
    table_summary,
)

HERE = Path(__file__).parent


def metrics(predicted: list[float], measured: list[float]) -> dict[str, float]:
    errors = relative_errors(predicted, measured)
    return {
        "spearman": float(spearmanr(predicted, measured).statistic),
        "mape": statistics.fmean(errors),
        "within_10pct": sum(e <= 0.10 for e in errors) / len(errors),
        "max_error": max(errors),
        "n": len(errors),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="sampled test genomes (plus the shipped designs)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[192, 256, 320])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calibration", type=int, default=12, help="calibration genomes (seeded apart from tests)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test genomes (calibration: seed + 1000)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs of a whole network (median)")
    parser.add_argument(
        "--rotate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sampled genome i at sizes[i %% len(sizes)] only (the designs at every size): a third of the cost",
    )
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="cpu (default): the timing thread's CPU time, valid with 1 thread and immune to other jobs sharing the "
        "cores; wall: elapsed time",
    )
    parser.add_argument("--table", type=Path, default=Path("runs/latency_predictor/table.json"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / (Path(__file__).stem + ".json"))
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    env = environment_info()
    print(f"machine: {env['cpu']} ({env['usable_cpus']} usable CPUs, shared with other jobs), {env['platform']}")
    print(f"backend onnx, {args.threads} thread(s), {args.clock} clock, sizes {args.sizes}, batch 1\n", flush=True)
    table = open_or_create(args.table, backend="onnx", threads=args.threads, clock=args.clock)
    calibration = sample_genomes(n=args.calibration, seed=args.seed + 1000)
    tests = [(name, named_design(name), args.sizes) for name in NAMED_DESIGNS] + [
        ("sample", g, [args.sizes[i % len(args.sizes)]] if args.rotate else args.sizes)
        for i, g in enumerate(sample_genomes(n=args.n, seed=args.seed))
    ]
    test_ids = {g.id for _, g, _ in tests}
    calibration = [g for g in calibration if g.id not in test_ids]
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    started = time.perf_counter() - float(previous.get("benchmark_seconds") or 0.0)  # a resumed run adds to it
    calibrate(table, calibration, sizes=args.sizes, out=args.table, runs=args.runs, progress=print)
    print(table_summary(table, args.table), flush=True)

    rows = {(r["genome_id"], r["imgsz"]): r for r in previous.get("rows", [])}
    header = (
        f"{'genome':<13} {'design':<8} {'px':>4} {'layers':>6} {'sum ms':>8} {'predicted':>9} {'measured':>9} "
        f"{'err %':>6}"
    )
    print(header + "\n" + "-" * len(header), flush=True)
    with tempfile.TemporaryDirectory(prefix="detnas_bench_lut_") as tmp:
        for name, genome, sizes in tests:
            if all((genome.id, s) in rows for s in sizes):
                continue
            extend_layers(table, [genome], sizes=sizes, out=args.table)
            for imgsz in sizes:
                if (genome.id, imgsz) in rows:
                    continue
                measured = measure_network_ms(
                    genome,
                    imgsz=imgsz,
                    backend="onnx",
                    threads=args.threads,
                    warmup=5,
                    runs=args.runs,
                    workdir=Path(tmp) / f"{genome.id}_{imgsz}",
                    clock=args.clock,
                )
                x = features(genome, table, imgsz=imgsz)
                predicted = predict_ms(genome, table, imgsz=imgsz)
                rows[(genome.id, imgsz)] = {
                    "genome_id": genome.id,
                    "design": name,
                    "imgsz": imgsz,
                    "layers": int(x[1]),
                    "features": x,
                    "predicted_ms": predicted,
                    "measured_ms": measured,
                }
                print(
                    f"{genome.id:<13} {name:<8} {imgsz:>4} {int(x[1]):>6} {x[0]:>8.2f} {predicted:>9.2f} "
                    f"{measured:>9.2f} {100 * (predicted - measured) / measured:>6.1f}",
                    flush=True,
                )
                write(args, table, rows, env, time.perf_counter() - started)
    result = write(args, table, rows, env, time.perf_counter() - started)
    print()
    print(table_summary(table, args.table))
    for label, m in (("calibrated", result["calibrated"]), ("layer sum only", result["layer_sum_only"])):
        print(
            f"{label:<15} spearman {m['spearman']:.4f}  MAPE {100 * m['mape']:.2f}%  within 10% "
            f"{100 * m['within_10pct']:.1f}%  max error {100 * m['max_error']:.1f}%  (n={m['n']})"
        )
    print(f"prediction: {result['predict_us_per_genome']:.0f} us per genome (layer shapes + lookups + constants)")
    print(f"\nwrote {args.out}")
    return 0


def write(args, table, rows: dict, env: dict, seconds: float) -> dict:
    """The JSON result: settings, environment, table figures, every row, and the metrics over the rows so far."""
    ordered = sorted(rows.values(), key=lambda r: (r["design"] == "sample", r["genome_id"], r["imgsz"]))
    # Constants from the calibration genomes only (never the test rows); predictions recomputed with them.
    coefficients = fit_coefficients(table.calibration)
    for r in ordered:
        r["predicted_ms"] = float(sum(c * x for c, x in zip(coefficients, r["features"], strict=True)))
    predicted = [r["predicted_ms"] for r in ordered]
    measured = [r["measured_ms"] for r in ordered]
    raw = [r["features"][0] for r in ordered]
    # Prediction cost: every (genome, size) of the rows, from the genome (layer shapes, lookups, constants).
    by_id = {g.id: g for g in [named_design(n) for n in NAMED_DESIGNS] + sample_genomes(n=args.n, seed=args.seed)}
    cases = [(by_id[r["genome_id"]], r["imgsz"]) for r in ordered if r["genome_id"] in by_id]
    t0 = time.perf_counter()
    for g, imgsz in cases:
        predict_ms(g, table, imgsz=imgsz)
    per_genome_us = (time.perf_counter() - t0) / max(len(cases), 1) * 1e6
    result = {
        "settings": {
            "backend": "onnx",
            "threads": args.threads,
            "clock": args.clock,
            "sizes": args.sizes,
            "n_sampled": args.n,
            "sizes_per_sampled_genome": "one, rotating through sizes" if args.rotate else "all",
            "designs": list(NAMED_DESIGNS),
            "calibration_genomes": args.calibration,
            "seed": args.seed,
            "whole_network_runs": args.runs,
            "layer_runs": table.runs,
            "layer_warmup": table.warmup,
            "note": "2-core machine shared with other engineers' jobs; 1 thread timed on the thread's CPU clock so "
            "their load does not enter the figures; medians throughout",
        },
        "environment": env,
        "table": {
            "layers": len(table.layers),
            "calibration_networks": len(table.calibration),
            "build_seconds": table.build_seconds,
            "size_bytes": Path(args.table).stat().st_size,
            "coefficients": dict(zip(("layer_sum_ms", "layer_count", "constant", "pixels"), coefficients, strict=True))
            if coefficients
            else None,
        },
        "predict_us_per_genome": per_genome_us,
        "rows_done": len(ordered),
        "benchmark_seconds": round(seconds, 1),
        "calibrated": metrics(predicted, measured) if len(ordered) > 2 else None,
        "layer_sum_only": metrics(raw, measured) if len(ordered) > 2 else None,
        "rows": ordered,
    }
    result.update(
        {k: result["calibrated"][k] for k in ("spearman", "mape", "within_10pct")} if len(ordered) > 2 else {}
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    sys.exit(main())
