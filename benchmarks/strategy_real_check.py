"""Does the strategy benchmark's surrogate predict real searches? The best strategy and local search, run for real.

Protocol (fixed, so every run of this script measures the same thing):
- Strategies: local search (the control) and the best strategy of ``benchmarks/results/strategy_vs_random.json``
  (the non-control strategy with the smallest ``evals_to_local_final_hv``, ties broken by the larger median final
  hypervolume), or those given by ``--strategies``; with that benchmark's settings (population, tournament).
- Runs: for each seed 0..N-1 (``--seeds``, default 3) and each strategy, one real ``detnas search`` of
  ``--evaluations`` (default 30) candidates, seeded as every search is with the three COCO-trained parents' genomes
  (counted among the evaluations): proxy ``pretrained-zero`` (inherited COCO weights, no fine-tune, the cheapest real
  score), the input size searched with the network over the sizes of the surrogate's rows (the seeds at the largest,
  640 px, as ``detnas search`` places them), pycocotools mAP50-95 at each candidate's size on the 159-image search
  half of coco_proxy val (the split of ``benchmarks/pretrained_fidelity.py``) and torch latency at 1 thread: the
  setting the surrogate's rows were measured in (``benchmarks/surrogate_data.py``). ``--pin-320`` runs the earlier
  protocol instead (every candidate at 320 px, the surrogate asked at 320 px too). Runs go seed by seed, strategies
  alternating, so the seeds that finish hold both strategies. Each run has its own folder under ``--out`` whose
  SQLite store a rerun resumes.
- Score: hypervolume of (mAP up, latency down) against the strategy benchmark's reference (0, L), every evaluated
  design counted (the seeds too), after each evaluation; reported at every 5 evaluations.
- Beside each real run, what the surrogate says of it: ``surrogate_same_run``, the same strategy and seed run on the
  surrogate for the same budget (what the benchmark predicts for this run), and ``surrogate_of_real_designs``, the
  hypervolume of the surrogate's predictions for the designs the real run evaluated.
- Agreement: per seed, the sign of (best strategy's HV - local's HV) after the whole budget, real against the
  surrogate's same-run prediction, and the sign of the median over seeds of that difference. The surrogate is the
  strategy benchmark's (see ``surrogate`` in the result: which rows, which inheritance), asked over the same space
  as the real runs search; a check committed before its refit names the older surrogate there.

The result JSON is rewritten while the runs go (every 30 s and after each run), so a stopped check keeps what it had.

Usage: python benchmarks/strategy_real_check.py [--seeds 3] [--evaluations 30] [--strategies local evolution]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import strategy_vs_random as bench  # noqa: E402
from pretrained_fidelity import split_val  # noqa: E402

from detnas.evaluate.environment import environment_info, git_commit  # noqa: E402
from detnas.genome import ArchGenome  # noqa: E402
from detnas.search.pareto import hypervolume  # noqa: E402
from detnas.search.store import Store  # noqa: E402
from detnas.space import anchored_space  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = ROOT / "benchmarks" / "results" / "strategy_vs_random.json"
OUT = ROOT / "benchmarks" / "results" / "strategy_real_check.json"


def best_strategy(benchmark: dict) -> str:
    """The non-control strategy that reaches local's final HV soonest (median over seeds), then the higher final HV."""
    candidates = {k: v for k, v in benchmark["strategies"].items() if k not in bench.CONTROLS}

    def key(name: str) -> tuple[float, float]:
        reach = candidates[name]["evals_to_local_final_hv"]
        return (float("inf") if reach is None else reach, -candidates[name]["median_hv"][-1])

    return min(candidates, key=key)


def search_command(
    folder: Path, strategy: str, seed: int, evaluations: int, data: Path, settings: dict, sizes: tuple[int, ...]
) -> list[str]:
    """The ``detnas search`` that makes (or, when its store exists, resumes) one run: ``sizes`` searched, or every
    candidate at 320 px when there are none."""
    command = [sys.executable, "-m", "detnas", "search"]
    if (folder / "search.sqlite").is_file():
        return [*command, "--resume", str(folder), "--evaluations", str(evaluations)]
    size = ("--sizes", ",".join(map(str, sizes))) if sizes else ("--imgsz", "320")
    return [
        *command,
        *("--out", str(folder), "--data", str(data), "--strategy", strategy, "--seed", str(seed)),
        *("--evaluations", str(evaluations), "--proxy", "pretrained-zero", *size),
        *("--latency-backend", "torch", "--population", str(settings["population"])),
        *("--tournament", str(settings["tournament"])),
    ]


def real_run(folder: Path, ref: tuple[float, float], surrogate) -> dict:
    """The run's evaluations as its store holds them, in finishing order, with the HV after each (seeds counted), the
    HV of its real mAP at the surrogate's latency (the latency model is a fit to measured latency, free of the load
    the real measurement ran under), and the HV of the surrogate's predictions for the same designs."""
    path = folder / "search.sqlite"
    empty = {"evaluations": 0, "hv": [], "hv_real_map_predicted_latency": [], "surrogate_of_real_designs": []}
    if not path.is_file():
        return {**empty, "designs": []}
    store = Store(path)
    try:
        finished = [c for c in store.finished_in_order() if c.status in ("done", "failed")]
    finally:
        store.close()
    points, mixed, predicted, hv, hv_mixed, hv_pred, designs = [], [], [], [], [], [], []
    for c in finished:
        genome = ArchGenome.from_json(c.genome_json)
        pred = surrogate(genome)
        if c.status == "done" and c.score is not None and c.latency_ms is not None:
            points.append((c.score, c.latency_ms))
            mixed.append((c.score, pred[1]))
        predicted.append(pred)
        hv.append(hypervolume(points, ref) if points else 0.0)
        hv_mixed.append(hypervolume(mixed, ref) if mixed else 0.0)
        hv_pred.append(hypervolume(predicted, ref))
        record = json.loads(c.evaluation_json) if c.evaluation_json else {}
        designs.append(
            {
                "id": c.genome_id,
                "origin": c.origin,
                "status": c.status,
                "map50_95": c.score,
                "latency_ms": c.latency_ms,
                "predicted_map50_95": pred[0],
                "predicted_latency_ms": pred[1],
                "seconds": record.get("total_seconds"),
            }
        )
    return {
        "evaluations": len(finished),
        "hv": hv,
        "hv_real_map_predicted_latency": hv_mixed,
        "surrogate_of_real_designs": hv_pred,
        "designs": designs,
    }


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


MEASURES = {
    "real": "hv",  # measured mAP and measured latency
    "real_map_predicted_latency": "hv_real_map_predicted_latency",  # measured mAP, the surrogate's latency
    "surrogate_of_real_designs": "surrogate_of_real_designs",  # the surrogate's predictions of the designs run
    "surrogate_same_run": "surrogate_same_run",  # the same strategy and seed run on the surrogate
}


def compare(runs: list[dict], best: str, evaluations: int) -> dict:
    """Per seed where both strategies ran: the HV difference (best - local) after the evaluations both have (the
    whole budget once both are complete), by each measure, and whether the real sign is the surrogate's."""
    by_seed: dict[int, dict[str, dict]] = {}
    for run in runs:
        by_seed.setdefault(run["seed"], {})[run["strategy"]] = run
    per_seed = []
    for seed, pair in sorted(by_seed.items()):
        if best not in pair or "local" not in pair:
            continue
        n = min(pair[best]["evaluations"], pair["local"]["evaluations"], evaluations)
        if n < 4:  # the three seeds and nothing found yet: no difference to compare
            continue
        row: dict = {"seed": seed, "evaluations": n, "complete": n == evaluations}
        for measure, key in MEASURES.items():
            row[measure] = pair[best][key][n - 1] - pair["local"][key][n - 1]
        row["signs_agree"] = _sign(row["real"]) == _sign(row["surrogate_same_run"])
        row["signs_agree_real_map_predicted_latency"] = _sign(row["real_map_predicted_latency"]) == _sign(
            row["surrogate_same_run"]
        )
        per_seed.append(row)
    complete = [r for r in per_seed if r["complete"]]
    out: dict = {
        "difference": f"HV of {best} minus HV of local, seeds counted, after the evaluations both runs of a seed have "
        f"({evaluations} once both are complete); medians and agreement over complete seeds only",
        "seeds_complete": len(complete),
        "per_seed": per_seed,
    }
    if complete:
        for measure in MEASURES:
            out[f"median_{measure}"] = statistics.median(r[measure] for r in complete)
        out["seeds_agreeing_in_sign"] = sum(r["signs_agree"] for r in complete)
        out["seeds_agreeing_in_sign_real_map_predicted_latency"] = sum(
            r["signs_agree_real_map_predicted_latency"] for r in complete
        )
        out["median_signs_agree"] = _sign(out["median_real"]) == _sign(out["median_surrogate_same_run"])
    return out


def design_agreement(runs: list[dict]) -> dict:
    """How well the surrogate predicts the distinct designs the real runs scored (the current inheritance, which its
    rows predate): Spearman rho of predicted against measured mAP50-95 and latency, and mAP's mean absolute error."""
    from scipy.stats import spearmanr

    designs = {d["id"]: d for run in runs for d in run["designs"] if d["status"] == "done"}
    if len(designs) < 5:
        return {"designs": len(designs)}
    rows = list(designs.values())
    measured = [d["map50_95"] for d in rows]
    predicted = [d["predicted_map50_95"] for d in rows]
    return {
        "designs": len(rows),
        "map50_95_spearman": float(spearmanr(predicted, measured).statistic),
        "map50_95_mae": statistics.fmean(abs(a - b) for a, b in zip(predicted, measured, strict=True)),
        "latency_spearman": float(
            spearmanr([d["predicted_latency_ms"] for d in rows], [d["latency_ms"] for d in rows]).statistic
        ),
        "measured_latency_ms_median": statistics.median(d["latency_ms"] for d in rows),
        "predicted_latency_ms_median": statistics.median(d["predicted_latency_ms"] for d in rows),
    }


def _benchmark_difference(benchmark: dict, best: str, evaluations: int) -> dict | None:
    """What the 20-seed surrogate benchmark says at this budget: median HV of best minus that of local."""
    if evaluations not in benchmark["budgets"]:
        return None
    i = benchmark["budgets"].index(evaluations)
    hv = {name: benchmark["strategies"][name]["median_hv"][i] for name in (best, "local")}
    return {"evaluations": evaluations, "seeds": benchmark["seeds"], **hv, "difference": hv[best] - hv["local"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--evaluations", type=int, default=30)
    parser.add_argument("--strategies", nargs=2, choices=bench.STRATEGIES[1:], help="default: the best and local")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "strategy_real_check", help="run folders")
    parser.add_argument("--result", type=Path, default=OUT)
    parser.add_argument("--benchmark", type=Path, default=BENCHMARK, help="the strategy benchmark's result")
    parser.add_argument(
        "--pin-320", action="store_true", help="the earlier protocol: every candidate at 320 px, no size searched"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the result from the run folders as they are; run nothing"
    )
    args = parser.parse_args(argv)
    if args.strategies and "local" not in args.strategies:
        print("error: --strategies must include local, the control: e.g. --strategies evolution local", file=sys.stderr)
        return 2
    if args.evaluations < 4 or args.seeds < 1:
        print("error: --evaluations must be >= 4 (3 are the seeds) and --seeds >= 1", file=sys.stderr)
        return 2
    if not args.benchmark.is_file():
        print(f"error: {args.benchmark} is missing: run benchmarks/strategy_vs_random.py first", file=sys.stderr)
        return 2
    benchmark = json.loads(args.benchmark.read_text())
    if "local" not in benchmark["strategies"]:
        print(f"error: {args.benchmark} predates local search: rerun benchmarks/strategy_vs_random.py", file=sys.stderr)
        return 2
    best = best_strategy(benchmark)
    strategies = args.strategies or [best, "local"]
    best = next((s for s in strategies if s != "local"), best)
    settings = benchmark["settings"]
    bench.OBJECTIVE.update(bench.setup("surrogate", settings))
    if args.pin_320:  # every candidate at 320 px (--imgsz 320): the surrogate's runs search the same space
        pinned = anchored_space()
        bench.OBJECTIVE.update(space=pinned, seeds=pinned.anchors)
    sizes = tuple(bench.OBJECTIVE["space"].imgsizes)  # the real runs search the surrogate space's sizes
    surrogate = bench.OBJECTIVE["score"]
    ref = (0.0, bench.reference_cost(surrogate, bench.OBJECTIVE["space"]))
    data, _ = split_val(args.out / "data")
    budgets = sorted({*range(5, args.evaluations + 1, 5), args.evaluations})
    plan = [(seed, s) for seed in range(args.first_seed, args.first_seed + args.seeds) for s in strategies]
    predictions = {(seed, s): bench.run_strategy(s, seed, args.evaluations, ref)["with_seeds"] for seed, s in plan}
    started = time.time()
    machine = environment_info()

    def write(current: str | None) -> dict:
        runs = []
        for seed, strategy in plan:
            run = real_run(args.out / f"{strategy}-s{seed}", ref, surrogate)
            same = predictions[(seed, strategy)]
            run.update(
                seed=seed,
                strategy=strategy,
                folder=str((args.out / f"{strategy}-s{seed}").relative_to(ROOT))
                if (args.out / f"{strategy}-s{seed}").is_relative_to(ROOT)
                else str(args.out / f"{strategy}-s{seed}"),
                complete=run["evaluations"] >= args.evaluations,
                hv_at={b: run["hv"][b - 1] for b in budgets if b <= run["evaluations"]},
                hv_real_map_predicted_latency_at={
                    b: run["hv_real_map_predicted_latency"][b - 1] for b in budgets if b <= run["evaluations"]
                },
                surrogate_same_run_at={b: same[b - 1] for b in budgets},
                surrogate_of_real_designs_at={
                    b: run["surrogate_of_real_designs"][b - 1] for b in budgets if b <= run["evaluations"]
                },
                surrogate_same_run=same,
            )
            runs.append(run)
        # every run starts with the same three seed designs: the spread of their HV across runs is measurement noise
        seeds_hv = {f"{r['strategy']}-s{r['seed']}": r["hv"][2] for r in runs if r["evaluations"] >= 3}
        result = {
            "benchmark": "strategy_real_check",
            "protocol": __doc__.split("Usage:")[0].strip(),
            "strategies": strategies,
            "best_strategy": best,
            "best_strategy_from": str(args.benchmark.relative_to(ROOT))
            if args.benchmark.is_relative_to(ROOT)
            else str(args.benchmark),
            "settings": settings,
            "sizes": list(sizes) or [320],  # searched by every real run (one: pinned)
            "evaluations": args.evaluations,
            "seeds_planned": args.seeds,
            "first_seed": args.first_seed,
            "budgets": budgets,
            "reference": list(ref),
            "surrogate": bench.OBJECTIVE["provenance"],
            "surrogate_benchmark_at_budgets": {
                name: {
                    str(b): s["median_hv"][benchmark["budgets"].index(b)] for b in budgets if b in benchmark["budgets"]
                }
                for name, s in benchmark["strategies"].items()
                if name in strategies
            },
            "data": str(data),
            "running": current,
            "comparison": compare(runs, best, args.evaluations),
            "surrogate_benchmark_difference_at_budget": _benchmark_difference(benchmark, best, args.evaluations),
            "surrogate_on_real_designs": design_agreement(runs),
            "seeds_hv_per_run": seeds_hv,
            "seeds_hv_spread": max(seeds_hv.values()) - min(seeds_hv.values()) if seeds_hv else None,
            "runs": runs,
            "commit": git_commit(ROOT),  # of this report; each run's store keeps its evaluations' environment
            "machine": machine,
            "wall_seconds": round(time.time() - started, 1),
        }
        args.result.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.result.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(args.result)
        return result

    if args.report_only:
        print(json.dumps(write(None)["comparison"], indent=1))
        print(f"wrote {args.result}")
        return 0
    for seed, strategy in plan:
        folder = args.out / f"{strategy}-s{seed}"
        command = search_command(folder, strategy, seed, args.evaluations, data, settings, sizes)
        log = (args.out / f"{strategy}-s{seed}.log").open("a")
        print(f"run {strategy} seed {seed}: {' '.join(command[1:])}", flush=True)
        t0 = time.time()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        while process.poll() is None:
            time.sleep(30)
            write(f"{strategy}-s{seed}")
        log.close()
        result = write(None)
        run = next(r for r in result["runs"] if r["seed"] == seed and r["strategy"] == strategy)
        final = run["hv"][-1] if run["hv"] else float("nan")
        print(
            f"  exit {process.returncode}, {run['evaluations']} evaluations in {time.time() - t0:.0f} s; "
            f"HV real {final:.3f}, surrogate same run {run['surrogate_same_run'][-1]:.3f}",
            flush=True,
        )
    result = write(None)
    print(json.dumps(result["comparison"], indent=1))
    print(f"wrote {args.result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
