"""How well does the strategy benchmark's surrogate rank architectures it was not fitted on?

Protocol: ``detnas.search.surrogate`` (random forests, 100 trees, seed 0) on the successful rows of ``--data``
(default ``benchmarks/results/surrogate_evaluations_sized.jsonl``: the current inheritance, reconstruction included,
every design at its own input size); 5-fold cross-validation (rows shuffled with seed 0), so every architecture is
predicted once by a model that never saw it. Reported for mAP50-95 and latency: Spearman rho and Kendall tau between
held-out predictions and measurements (also among designs that kept mAP > 0.01, and separately within the intact
designs, whose inheritance copied or grew every layer, and within the sliced ones, where the intact-versus-sliced
split cannot make the agreement), mAP's mean absolute error and latency's median absolute percentage error, and, as
the noise ceiling of latency, the Spearman rho between measured latency and the real GFLOPs of the same
architectures (the evaluations ran beside other jobs on a 2-core machine; 1-thread latency there carries contention
noise).

Usage:  python benchmarks/surrogate_fit.py [--data FILE.jsonl]   (writes benchmarks/results/surrogate_fit.json)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

from detnas.evaluate.environment import environment_info, git_commit
from detnas.search.surrogate import cross_validate, load_rows

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "results" / "surrogate_evaluations_sized.jsonl"
OUT = ROOT / "benchmarks" / "results" / "surrogate_fit.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help=f"real evaluations (default {DATA})")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"error: {args.data} is missing: run benchmarks/surrogate_data.py first", file=sys.stderr)
        return 2
    rows = load_rows(args.data)
    if len(rows) < 20:
        print(f"error: {len(rows)} evaluations are too few to cross-validate: collect 150 or more", file=sys.stderr)
        return 2
    from scipy.stats import spearmanr

    fit = cross_validate(rows)
    # the noise ceiling: how well the measured latency itself follows the real GFLOPs of the same architectures
    ceiling = float(spearmanr([r["latency_ms"] for r in rows], [r["gflops"] for r in rows]).statistic)
    m, lat = fit["map50_95"], fit["latency_ms"]
    kinds = Counter(r["kind"] for r in rows)
    sizes = Counter(r.get("imgsz", 320) for r in rows)
    print(f"{len(rows)} architectures ({dict(kinds)}), sizes {dict(sorted(sizes.items()))}")
    print(f"{fit['folds']}-fold held-out predictions")
    print(f"mAP50-95: spearman {m['spearman']:.3f} kendall {m['kendall_tau']:.3f} MAE {m['mae']:.4f}")
    for key, label in (("above_0.01", "with mAP > 0.01"), ("within_intact", "intact"), ("within_sliced", "sliced")):
        if m.get(key):
            a = m[key]
            print(f"  among {a['n']:3d} {label:16s}: spearman {a['spearman']:.3f} kendall {a['kendall_tau']:.3f}")
    print(
        f"latency:  spearman {lat['spearman']:.3f} kendall {lat['kendall_tau']:.3f} "
        f"median |error| {lat['median_abs_pct_error']:.1f}% (measured latency vs real GFLOPs: spearman {ceiling:.3f})"
    )
    report = {
        "protocol": __doc__.split("Usage:")[0].strip(),
        "data": str(args.data.relative_to(ROOT)) if args.data.is_relative_to(ROOT) else str(args.data),
        "data_sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(),
        "commit": git_commit(ROOT),
        "machine": environment_info(),
        "architectures": len(rows),
        "kinds": dict(kinds),
        "imgsizes": {str(k): v for k, v in sorted(sizes.items())},
        "sliced": sum(bool(r.get("sliced")) for r in rows),
        "measured_map_above_0.01": sum(r["map50_95"] > 0.01 for r in rows),
        "measured_latency_vs_gflops_spearman": ceiling,
        **fit,
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
