"""How well does the strategy benchmark's surrogate rank architectures it was not fitted on?

Protocol: ``detnas.search.surrogate`` (random forests, 100 trees, seed 0) on the successful rows of
``benchmarks/results/surrogate_evaluations.jsonl``; 5-fold cross-validation (rows shuffled with seed 0), so every
architecture is predicted once by a model that never saw it. Reported for mAP50-95 and latency: Spearman rho and
Kendall tau between held-out predictions and measurements (also among designs that kept mAP > 0.01, where the order
matters for the front), mAP's mean absolute error and latency's median absolute percentage error, and, as the noise
ceiling of latency, the Spearman rho between measured latency and the real GFLOPs of the same architectures (the
evaluations ran beside other jobs on a 2-core machine; 1-thread latency there carries contention noise).

Usage:  python benchmarks/surrogate_fit.py   (writes benchmarks/results/surrogate_fit.json)
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from detnas.search.surrogate import cross_validate, load_rows

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "results" / "surrogate_evaluations.jsonl"
OUT = ROOT / "benchmarks" / "results" / "surrogate_fit.json"


def main() -> int:
    if not DATA.is_file():
        print(f"error: {DATA} is missing: run benchmarks/surrogate_data.py first", file=sys.stderr)
        return 2
    rows = load_rows(DATA)
    if len(rows) < 20:
        print(f"error: {len(rows)} evaluations are too few to cross-validate: collect 150 or more", file=sys.stderr)
        return 2
    from scipy.stats import spearmanr

    fit = cross_validate(rows)
    # the noise ceiling: how well the measured latency itself follows the real GFLOPs of the same architectures
    ceiling = float(spearmanr([r["latency_ms"] for r in rows], [r["gflops"] for r in rows]).statistic)
    m, lat = fit["map50_95"], fit["latency_ms"]
    kinds = Counter(r["kind"] for r in rows)
    print(f"{len(rows)} architectures ({dict(kinds)}), {fit['folds']}-fold held-out predictions")
    print(f"mAP50-95: spearman {m['spearman']:.3f} kendall {m['kendall_tau']:.3f} MAE {m['mae']:.4f}")
    if m["above_0.01"]:
        a = m["above_0.01"]
        print(f"  among {a['n']} with mAP > 0.01: spearman {a['spearman']:.3f} kendall {a['kendall_tau']:.3f}")
    print(
        f"latency:  spearman {lat['spearman']:.3f} kendall {lat['kendall_tau']:.3f} "
        f"median |error| {lat['median_abs_pct_error']:.1f}% (measured latency vs real GFLOPs: spearman {ceiling:.3f})"
    )
    report = {
        "protocol": __doc__.split("Usage:")[0].strip(),
        "architectures": len(rows),
        "kinds": dict(kinds),
        "measured_map_above_0.01": sum(r["map50_95"] > 0.01 for r in rows),
        "measured_latency_vs_gflops_spearman": ceiling,
        **fit,
    }
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
