"""Aging evolution vs random search on a cheap, deterministic objective that needs no training.

Protocol (fixed, so every run of this script measures the same thing):
- Space: the default ``SearchSpace`` (nc=80). Strategies: ``AgingEvolution`` (population 16, tournament 8,
  crossover 0.5, no seeds) and ``RandomSearch`` (no seeds); each gets the same number of evaluations, per seed.
  These evolution settings were chosen on seeds 0-1 among three tried (12/4/0.3, 8/4/0.3, 16/8/0.5; the first two
  stalled below random search at 64-200 evaluations); the table reports seeds 0-9.
- Objective, per genome (two figures, both deterministic functions of the genome):
  * cost ("latency", minimise): GFLOPs at 320 px measured by thop on the built Ultralytics model, plus 0.02 per
    YAML layer (a stand-in for per-layer overhead on CPU);
  * accuracy (maximise): 0.45 * (1 - exp(-GFLOPs@640 / 8)) (capacity that saturates) + structure terms
    (+0.03 PAN, +0.04 BiFPN, +0.02 P2 output, +0.02 C2PSA, +0.01 SPPF, block quality averaged over stages and nodes:
    C3k2 0.02, C2f/C2fCIB 0.015, C3x 0.01, C3 0.005, C3Ghost/C2 0; -0.01 for each stage narrower than the one
    before) + a fixed +-0.01 term from the genome id's hash (a rugged landscape, same value every run).
- Score: 2-D hypervolume of (accuracy up, cost down) against the reference (0, C), C = the largest cost among 200
  genomes sampled with seed 12345. Seeds 0..9. Reported: HV ratio evolution / random after the full budget (median
  over seeds) and the evaluations evolution needs to reach random search's final HV (median over seeds).

Usage: python benchmarks/strategy_vs_random.py [--evaluations 128] [--seeds 10] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import statistics
import time
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

from detnas.architecture import build_layers  # noqa: E402
from detnas.cost import build_model, model_cost  # noqa: E402
from detnas.genome import ArchGenome  # noqa: E402
from detnas.pareto import hypervolume  # noqa: E402
from detnas.space import SearchSpace  # noqa: E402
from detnas.strategy import AgingEvolution, RandomSearch, Trial  # noqa: E402

BLOCK_QUALITY = {"C3k2": 0.02, "C2f": 0.015, "C2fCIB": 0.015, "C3x": 0.01, "C3": 0.005, "C3Ghost": 0.0, "C2": 0.0}
SPACE = SearchSpace()
_CACHE: dict[str, tuple[float, float]] = {}


def objective(genome: ArchGenome) -> tuple[float, float]:
    """(accuracy, cost) of a genome; documented in the module docstring."""
    if genome.id in _CACHE:
        return _CACHE[genome.id]
    model = build_model(genome)
    gflops_320 = model_cost(model, imgsz=320).gflops
    gflops_640 = 4 * gflops_320
    layers = len(build_layers(genome)[0].rows)
    cost = gflops_320 + 0.02 * layers
    bb, neck = genome.backbone, genome.neck
    acc = 0.45 * (1 - math.exp(-gflops_640 / 8))
    acc += {"fpn": 0.0, "pan": 0.03, "bifpn": 0.04}[neck.topology]
    acc += 0.02 * (neck.min_level == 2) + 0.02 * bb.c2psa + 0.01 * bb.sppf
    blocks = [s.block for s in bb.stages] + list(neck.nodes)
    acc += statistics.mean(BLOCK_QUALITY[b.type] for b in blocks)
    widths = [s.block.channels for s in bb.stages]
    acc -= 0.01 * sum(b < a for a, b in zip(widths, widths[1:], strict=False))
    acc += (int(hashlib.sha256(genome.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF - 0.5) * 0.02
    _CACHE[genome.id] = (acc, cost)
    return acc, cost


def reference_cost() -> float:
    rng = random.Random(12345)
    return max(objective(SPACE.sample(rng))[1] for _ in range(200))


def run_strategy(name: str, seed: int, evaluations: int, ref: tuple[float, float]) -> list[float]:
    """Hypervolume after each evaluation."""
    strategy = (
        AgingEvolution(SPACE, population_size=16, tournament_size=8, crossover_probability=0.5)
        if name == "evolution"
        else RandomSearch(SPACE)
    )
    rng = random.Random(seed)
    history: list[Trial] = []
    curve: list[float] = []
    for _ in range(evaluations):
        genome = strategy.propose(history, rng).genome
        acc, cost = objective(genome)
        history.append(Trial(genome, "done", acc, cost))
        curve.append(hypervolume([t.point for t in history], ref))
    return curve


def one_seed(args: tuple[int, int, float]) -> dict:
    seed, evaluations, ref_cost = args
    ref = (0.0, ref_cost)
    t0 = time.perf_counter()
    evo = run_strategy("evolution", seed, evaluations, ref)
    rnd = run_strategy("random", seed, evaluations, ref)
    reach = next((i + 1 for i, hv in enumerate(evo) if hv >= rnd[-1]), None)
    return {
        "seed": seed,
        "hv_evolution": evo[-1],
        "hv_random": rnd[-1],
        "ratio": evo[-1] / rnd[-1],
        "evolution_evals_to_reach_random_final": reach,
        "curve_evolution": evo,
        "curve_random": rnd,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def summary_figures(result: dict) -> dict:
    """Median HV ratio, and evaluations evolution needs to reach random search's final HV. Seeds where it never does
    count as 'more than the budget', so the median over all seeds is censored (None) when half or more never do."""
    rows = result["rows"]
    ratios = [r["ratio"] for r in rows]
    reaches = [r["evolution_evals_to_reach_random_final"] for r in rows]
    reached = sorted(r for r in reaches if r is not None)
    censored = reached + [math.inf] * (len(reaches) - len(reached))
    median_all = statistics.median(censored)
    return {
        "median_ratio": statistics.median(ratios),
        "seeds_evolution_better": sum(x > 1 for x in ratios),
        "median_evals_to_reach_random_final": None if math.isinf(median_all) else median_all,
        "median_evals_to_reach_random_final_where_reached": statistics.median(reached) if reached else None,
        "seeds_reached": len(reached),
    }


def summary_text(result: dict) -> str:
    rows, n = result["rows"], result["evaluations"]
    lines = [
        f"strategy_vs_random: {n} evaluations per strategy, {len(rows)} seeds, reference cost "
        f"{result['reference'][1]:.2f}",
        f"{'seed':>4} {'HV evolution':>13} {'HV random':>10} {'ratio':>6} {'evals to reach random':>22}",
    ]
    for r in rows:
        reach = r["evolution_evals_to_reach_random_final"]
        lines.append(
            f"{r['seed']:>4} {r['hv_evolution']:>13.4f} {r['hv_random']:>10.4f} {r['ratio']:>6.3f} "
            f"{reach if reach is not None else 'not reached':>22}"
        )
    ratios = [r["ratio"] for r in rows]
    median_all = result["median_evals_to_reach_random_final"]
    lines += [
        f"median HV ratio evolution/random: {result['median_ratio']:.3f} (min {min(ratios):.3f}, max "
        f"{max(ratios):.3f}); evolution ahead on {result['seeds_evolution_better']}/{len(rows)} seeds",
        "evaluations evolution needs to reach random search's final HV: median over all seeds "
        + (f"{median_all:g}" if median_all is not None else f"more than {n} (censored)")
        + f"; reached on {result['seeds_reached']}/{len(rows)} seeds, median among those "
        + f"{result['median_evals_to_reach_random_final_where_reached']}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=128)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--summarize", metavar="JSON", help="reprint the table of a stored result and exit")
    args = parser.parse_args()
    if args.summarize:
        stored = json.loads(Path(args.summarize).read_text())
        stored.update(summary_figures(stored))
        print(summary_text(stored))
        Path(args.summarize).write_text(json.dumps(stored, indent=1) + "\n")
        return
    started = time.perf_counter()
    ref_cost = reference_cost()
    jobs = [(seed, args.evaluations, ref_cost) for seed in range(args.seeds)]
    with Pool(args.workers) as pool:
        rows = pool.map(one_seed, jobs)
    result = {
        "benchmark": "strategy_vs_random",
        "protocol": __doc__,
        "evaluations": args.evaluations,
        "seeds": args.seeds,
        "reference": [0.0, ref_cost],
        "rows": rows,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    result.update(summary_figures(result))
    print(summary_text(result))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "strategy_vs_random.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out / 'strategy_vs_random.json'} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
