"""How much of a sampled design can start from the COCO-trained checkpoints instead of a fresh initialisation?

Protocol: 300 genomes drawn uniformly from the full space and 300 from the anchored space (``random.Random(seed)`` for
seeds 0..299 each), 80 classes; each inherits from yolo11n.pt, yolov8n.pt and yolov5nu.pt (the parent covering most
of it wins, ``detnas.inherit.candidate.inherit``); the fraction of its parameters taken (copied, sliced or grown) from
the parent is recorded with the parent and the per-layer methods. No data, no training: the transfer alone.

Usage: python benchmarks/inheritance_coverage.py [--n 300]
Writes benchmarks/results/inheritance_coverage.json and prints the distribution.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

from detnas.evaluate.environment import environment_info  # noqa: E402
from detnas.inherit.candidate import inherit  # noqa: E402
from detnas.inherit.checkpoint import load_parent  # noqa: E402
from detnas.models import default_parents  # noqa: E402
from detnas.space import SearchSpace, anchored_space  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "inheritance_coverage.json"


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=20, method="inclusive")
    return {"min": ordered[0], "p5": q[0], "p25": q[4], "median": q[9], "p75": q[14], "p95": q[18], "max": ordered[-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="designs per space (default 300)")
    args = parser.parse_args(argv)
    if args.n < 2:
        print(f"error: --n must be at least 2, got {args.n}", file=sys.stderr)
        return 2
    paths = default_parents()
    if not paths:
        print("error: no COCO-trained checkpoints found: put yolo11n.pt etc. in $DETNAS_WEIGHTS", file=sys.stderr)
        return 2
    parents = [load_parent(p) for p in paths]
    report: dict = {"protocol": __doc__.split("Usage:")[0].strip(), "parents": [str(p) for p in paths], "spaces": {}}
    for name, space in (("full", SearchSpace()), ("anchored", anchored_space())):
        rows = []
        t0 = time.perf_counter()
        for seed in range(args.n):
            genome = space.sample(random.Random(seed))
            _, result = inherit(genome, parents, nc=80, seed=seed)
            rows.append({"seed": seed, "genome_id": genome.id, **result.to_dict()})
        fractions = [r["fraction"] for r in rows]
        summary = {
            "designs": len(rows),
            "fraction": quantiles(fractions),
            "mean": statistics.fmean(fractions),
            "parents_chosen": dict(Counter(r["parent"] for r in rows)),
            "share_above_half": sum(f > 0.5 for f in fractions) / len(fractions),
            "seconds_per_design": (time.perf_counter() - t0) / len(rows),
        }
        report["spaces"][name] = summary | {"rows": rows}
        q = summary["fraction"]
        print(
            f"{name:8s} n={len(rows)} fraction inherited: min {q['min']:.2f} p5 {q['p5']:.2f} p25 {q['p25']:.2f} "
            f"median {q['median']:.2f} p75 {q['p75']:.2f} p95 {q['p95']:.2f} max {q['max']:.2f} "
            f"(mean {summary['mean']:.2f}; >50%: {summary['share_above_half']:.0%}); "
            f"parents {summary['parents_chosen']}"
        )
    report["machine"] = environment_info()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
