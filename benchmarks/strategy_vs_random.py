"""Random search, local search, aging evolution and REINFORCE on a surrogate of real evaluations: which reaches a
good front sooner, counting the three trained seeds every strategy starts from?

Protocol (fixed, so every run of this script measures the same thing):
- Objective (default ``--objective surrogate``): ``detnas.search.surrogate`` fitted to the real evaluations of
  ``--surrogate-data`` (default ``benchmarks/results/surrogate_evaluations_sized.jsonl``, made by
  ``benchmarks/surrogate_data.py`` on the current inheritance, reconstruction included: pretrained-zero mAP50-95 on
  the search half of coco_proxy val and measured CPU latency, each at the design's own input size): a genome's
  (predicted mAP up, predicted latency down). The result's ``surrogate`` block says which file (sha256, the commit
  that last wrote it and when) and which inheritance its rows were scored with. Space: ``anchored_space()`` with the
  input sizes the data was collected at as a gene (320-640 px by default, as ``detnas search`` with checkpoints);
  every strategy is seeded, as ``detnas search`` is, with the three COCO-trained parents' genomes (yolo11n, yolov8n,
  yolov5nu) placed at the largest size, which are its first three evaluations.
- Strategies, each given the same budget per seed: ``RandomSearch``; ``LocalSearch``, the control (one-gene mutations
  of a design drawn from the current Pareto front: the strong NAS baseline of White et al. 2021, which starts from
  the same seeds); ``AgingEvolution`` (the settings given by ``--population/--tournament/--crossover``) and
  ``ReinforceSearch`` (defaults: Pareto-rank reward, learning rate 0.3, baseline decay 0.9). Seeds 0..N-1
  (``random.Random(seed)``) are reported; settings were chosen on seeds 100-104, never on the reported ones.
- Score: 2-D hypervolume of (mAP up, latency down) against the reference (0, L), L = the largest predicted latency
  of 200 designs sampled with seed 12345, of every design evaluated, the three seeds counted (``strategies``; the
  same table is kept under ``with_seeds`` for readers of earlier files). Reported per strategy: the median over seeds
  of the hypervolume at each budget in ``budgets`` with a 95% bootstrap interval of that median (2,000 resamples of
  seeds); ``evals_to_local_final_hv``: the median over seeds of the evaluations (seeds counted) needed to reach local
  search's final hypervolume (the median over seeds of local's HV after the whole budget), and
  ``evals_to_random_final_hv`` likewise for random search's. A seed that never reaches the target counts as more
  than the budget (infinity), so the median is the censored median: null where the median seed never reaches it; its
  bootstrap interval has a null bound where that bound lies beyond the budget; ``seeds_reaching_*`` counts the seeds
  that do. ``goal``: evolution or RL reaches local's final HV within 60% of the evaluations (median over seeds).
- ``found_only``: the same tables of the designs each strategy found itself (the seeds evaluated and used, not
  counted), the previous headline; there random search's final HV is reached at the 4th evaluation by construction
  (almost every random draw of the anchored space has lost its inherited function).
- ``--objective analytic`` keeps the former training-free stand-in (full space, no seeds; see ``analytic_objective``)
  as a smoke test only: it is too flat to tell strategies apart.

Usage: python benchmarks/strategy_vs_random.py [--evaluations 100] [--seeds 20] [--objective surrogate|analytic]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

from detnas.evaluate.environment import environment_info, git_commit, last_commit, uncommitted_changes  # noqa: E402
from detnas.genome import ArchGenome  # noqa: E402
from detnas.search.pareto import hypervolume  # noqa: E402
from detnas.search.strategies import AgingEvolution, LocalSearch, RandomSearch, ReinforceSearch, Trial  # noqa: E402
from detnas.space import SearchSpace, anchored_space  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "results" / "surrogate_evaluations_sized.jsonl"
FIRST_DATA = ROOT / "benchmarks" / "results" / "surrogate_evaluations.jsonl"  # 320 px, before reconstruction
RECIPE = ROOT / "benchmarks" / "results" / "surrogate_recipe.json"  # the first data's recipe
# what benchmarks/surrogate_data.py says of the first rows (their recipe file predates the statement)
DATA_INHERITANCE = (
    "collected with detnas at commit b8b4750, before least-squares reconstruction of sliced layers existed: sliced "
    "designs scored after BatchNorm re-estimation only"
)
STRATEGIES = ("random", "local", "evolution", "rl")
CONTROLS = ("random", "local")  # always run: the targets every strategy is measured against
GOAL_FRACTION = 0.6  # the goal: evolution or RL reaches local's final HV within 60% of the budget
_CACHE: dict[str, tuple[float, float]] = {}
OBJECTIVE: dict = {}  # filled in main() before the worker pool forks: "space", "seeds", "score", "settings"


def analytic_objective(genome: ArchGenome) -> tuple[float, float]:
    """(accuracy, cost) of a genome by a fixed formula: GFLOPs@320 + 0.02/layer as cost; accuracy a saturating
    function of GFLOPs@640 plus structure terms (+0.03 PAN, +0.04 BiFPN, +0.02 P2 output, +0.02 C2PSA, +0.01 SPPF,
    block quality) and a +-0.01 hash term. A smoke test only."""
    from detnas.architecture import build_layers, build_model
    from detnas.cost import model_cost

    if genome.id in _CACHE:
        return _CACHE[genome.id]
    model = build_model(genome).eval()
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


BLOCK_QUALITY = {"C3k2": 0.02, "C2f": 0.015, "C2fCIB": 0.015, "C3x": 0.01, "C3": 0.005, "C3Ghost": 0.0, "C2": 0.0}


def make_strategy(name: str, space: SearchSpace, seeds: tuple[ArchGenome, ...], settings: dict):
    if name == "evolution":
        return AgingEvolution(
            space,
            population_size=settings["population"],
            tournament_size=settings["tournament"],
            crossover_probability=settings["crossover"],
            seeds=seeds,
            evolve_from_seeds=settings["evolve_from_seeds"],
            elite_front=settings["elite_front"],
        )
    if name == "rl":
        return ReinforceSearch(
            space,
            seeds=seeds,
            learning_rate=settings["rl_lr"],
            reward=settings["rl_reward"],
            seed_prior=settings["rl_seed_prior"],
        )
    if name == "local":
        return LocalSearch(space, seeds=seeds)
    return RandomSearch(space, seeds=seeds)


def reference_cost(score, space: SearchSpace) -> float:
    """L of the hypervolume reference (0, L): the largest predicted latency of 200 designs sampled with seed 12345."""
    rng = random.Random(12345)
    return max(score(space.sample(rng))[1] for _ in range(200))


def run_strategy(name: str, seed: int, evaluations: int, ref: tuple[float, float]) -> dict[str, list[float]]:
    """Hypervolume after each evaluation of one strategy on one seed: of every design (``with_seeds``) and of the
    designs the strategy found itself (``found``: the seeds are evaluated and used, but not counted)."""
    space, seeds, score = OBJECTIVE["space"], OBJECTIVE["seeds"], OBJECTIVE["score"]
    strategy = make_strategy(name, space, seeds, OBJECTIVE["settings"])
    rng = random.Random(seed)
    seed_ids = {g.id for g in seeds}
    history: list[Trial] = []
    curves: dict[str, list[float]] = {"found": [], "with_seeds": []}
    for _ in range(evaluations):
        genome = strategy.propose(history, rng).genome
        acc, cost = score(genome)
        history.append(Trial(genome, "done", acc, cost))
        curves["with_seeds"].append(hypervolume([t.point for t in history], ref))
        curves["found"].append(hypervolume([t.point for t in history if t.genome.id not in seed_ids], ref))
    return curves


def one_seed(args: tuple[int, int, float]) -> dict:
    seed, evaluations, ref_cost = args
    t0 = time.perf_counter()
    curves = {name: run_strategy(name, seed, evaluations, (0.0, ref_cost)) for name in OBJECTIVE["strategies"]}
    return {"seed": seed, "curves": curves, "seconds": round(time.perf_counter() - t0, 1)}


def bootstrap_median(values: list[float], *, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the median over seeds (values may hold inf: 'beyond the budget')."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else x


def evals_to_reach(curves: list[list[float]], target: float) -> dict:
    """Per seed, the evaluations needed until the curve reaches ``target`` (inf: never within the budget), and their
    censored median with its bootstrap interval (None: beyond the budget)."""
    reach = [next((i + 1 for i, hv in enumerate(c) if hv >= target), math.inf) for c in curves]
    low, high = bootstrap_median(reach)
    return {
        "median": _finite(statistics.median(reach)),
        "ci95": [_finite(low), _finite(high)],
        "per_seed": [_finite(x) for x in reach],
        "seeds_reaching": sum(not math.isinf(x) for x in reach),
    }


def summarize(rows: list[dict], budgets: list[int], which: str) -> dict:
    """Per strategy: median HV at each budget (with intervals) and evaluations to reach random's and local's final
    HV (each the median over seeds of that control's HV after the whole budget)."""
    targets = {c: statistics.median(r["curves"][c][which][-1] for r in rows) for c in CONTROLS}
    out: dict = {}
    for name in rows[0]["curves"]:
        curves = [r["curves"][name][which] for r in rows]
        at = [[c[b - 1] for c in curves] for b in budgets]
        entry: dict = {
            "median_hv": [statistics.median(v) for v in at],
            "median_hv_ci95": [list(bootstrap_median(v)) for v in at],
        }
        for control in CONTROLS:
            reach = evals_to_reach(curves, targets[control])
            entry[f"evals_to_{control}_final_hv"] = reach["median"]
            entry[f"evals_to_{control}_final_hv_ci95"] = reach["ci95"]
            entry[f"evals_to_{control}_final_hv_per_seed"] = reach["per_seed"]
            entry[f"seeds_reaching_{control}_final_hv"] = reach["seeds_reaching"]
        entry["final_hv_per_seed"] = [c[-1] for c in curves]
        out[name] = entry
    return {"random_final_hv": targets["random"], "local_final_hv": targets["local"], "strategies": out}


def goal(summary: dict, evaluations: int) -> dict:
    """Does evolution or RL reach local search's final HV within GOAL_FRACTION of the budget (median over seeds)?"""
    limit = GOAL_FRACTION * evaluations
    reach = {
        name: summary["strategies"][name]["evals_to_local_final_hv"]
        for name in ("evolution", "rl")
        if name in summary["strategies"]
    }
    met_by = [name for name, r in reach.items() if r is not None and r <= limit]
    return {
        "statement": f"evolution or RL reaches local search's final HV (seeds counted) within {GOAL_FRACTION:.0%} of "
        f"the {evaluations} evaluations, i.e. evals_to_local_final_hv <= {limit:g} (median over seeds)",
        "evals_to_local_final_hv": reach,
        "met": bool(met_by),
        "met_by": met_by,
    }


def summary_text(result: dict) -> str:
    budgets = result["budgets"]

    def reach(s: dict, control: str) -> str:
        median, ci = s[f"evals_to_{control}_final_hv"], s[f"evals_to_{control}_final_hv_ci95"]
        bound = ">" + str(result["evaluations"])
        return (
            f"{median if median is not None else bound} [{ci[0] if ci[0] is not None else bound}, "
            f"{ci[1] if ci[1] is not None else bound}] ({s[f'seeds_reaching_{control}_final_hv']}/{result['seeds']})"
        )

    lines = [
        f"strategy_vs_random ({result['objective']}): {result['evaluations']} evaluations, {result['seeds']} seeds, "
        f"reference {result['reference']}; final HV (median) random {result['random_final_hv']:.5f}, "
        f"local {result['local_final_hv']:.5f}",
        f"{'strategy':10s} "
        + " ".join(f"{b:>8d}" for b in budgets)
        + "   evals to local's final HV [95% CI] (seeds reaching) | to random's",
    ]
    for name, s in result["strategies"].items():
        lines.append(
            f"{name:10s} "
            + " ".join(f"{hv:8.4f}" for hv in s["median_hv"])
            + f"   {reach(s, 'local')} | {reach(s, 'random')}"
        )
    return "\n".join(lines)


def surrogate_provenance(data: Path, rows: int) -> dict:
    """Which surrogate drove the benchmark: its data file (hash, the commit that last changed it and when), the
    recipe its rows were scored with, and the inheritance that recipe used."""
    last = last_commit(ROOT, data)
    recipe = RECIPE if data == FIRST_DATA else data.with_suffix(".recipe.json")
    recipe_text = json.loads(recipe.read_text()) if recipe.is_file() else {}
    return {
        "data": str(data.relative_to(ROOT)) if data.is_relative_to(ROOT) else str(data),
        "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "rows_scored": rows,
        "data_last_commit": last[0] if last else None,
        "data_last_commit_date": last[1] if last else None,
        "recipe": str(recipe.relative_to(ROOT)) if recipe.is_file() and recipe.is_relative_to(ROOT) else None,
        "proxy": recipe_text.get("proxy"),
        "inheritance": DATA_INHERITANCE if data == FIRST_DATA else recipe_text.get("inheritance", "see the recipe"),
        "data_commit": recipe_text.get("commit"),
        "imgsizes": recipe_text.get("imgsizes", [320]),
        "fit": "detnas.search.surrogate.fit_surrogate: random forest (100 trees, seed 0) for mAP, ridge on cost "
        "features for log latency; held-out fit in benchmarks/results/surrogate_fit.json",
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fitted_by_commit": git_commit(ROOT),
        "uncommitted_changes": uncommitted_changes(ROOT),
    }


def setup(objective: str, settings: dict, data: Path = DATA) -> dict:
    """The space, seeds and scoring function of an objective, and its fit and provenance where it is a surrogate."""
    if objective == "analytic":
        return {"space": SearchSpace(), "seeds": (), "score": analytic_objective, "settings": settings}
    from detnas.search.surrogate import fit_surrogate, load_rows

    if not data.is_file():
        raise FileNotFoundError(f"{data} is missing: run benchmarks/surrogate_data.py first")
    rows = load_rows(data)
    surrogate = fit_surrogate(rows)
    sizes = sorted({r["imgsz"] for r in rows if r.get("imgsz")})
    space = anchored_space(imgsizes=tuple(sizes) if len(sizes) > 1 else ())
    return {
        "space": space,
        "seeds": tuple(space.place(anchor) for anchor in space.anchors),
        "score": surrogate,
        "settings": settings,
        "rows": len(rows),
        "provenance": surrogate_provenance(data, len(rows)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", choices=["surrogate", "analytic"], default="surrogate")
    parser.add_argument("--evaluations", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="100 for the tuning seeds (default 0)")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--tournament", type=int, default=4)
    parser.add_argument("--crossover", type=float, default=0.5)
    parser.add_argument("--evolve-from-seeds", type=int, choices=[0, 1], default=1)
    parser.add_argument("--elite-front", type=int, choices=[0, 1], default=1)
    parser.add_argument("--rl-lr", type=float, default=0.3)
    parser.add_argument("--rl-reward", choices=["pareto", "mnasnet"], default="pareto")
    parser.add_argument("--rl-seed-prior", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--strategies",
        nargs="+",
        choices=STRATEGIES[len(CONTROLS) :],
        default=list(STRATEGIES[len(CONTROLS) :]),
        help="besides the controls, random and local",
    )
    parser.add_argument("--surrogate-data", type=Path, default=DATA, help=f"real evaluations to fit (default {DATA})")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "strategy_vs_random.json")
    args = parser.parse_args(argv)
    if args.evaluations < 10 or args.seeds < 1:
        print(
            "error: --evaluations must be >= 10 and --seeds >= 1: pass e.g. --evaluations 100 --seeds 20",
            file=sys.stderr,
        )
        return 2
    settings = {
        "population": args.population,
        "tournament": args.tournament,
        "crossover": args.crossover,
        "evolve_from_seeds": bool(args.evolve_from_seeds),
        "elite_front": bool(args.elite_front),
        "rl_lr": args.rl_lr,
        "rl_reward": args.rl_reward,
        "rl_seed_prior": args.rl_seed_prior,
    }
    started = time.perf_counter()
    try:
        OBJECTIVE.update(setup(args.objective, settings, args.surrogate_data.resolve()))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    OBJECTIVE["strategies"] = (*CONTROLS, *args.strategies)
    ref_cost = reference_cost(OBJECTIVE["score"], OBJECTIVE["space"])
    jobs = [(seed, args.evaluations, ref_cost) for seed in range(args.first_seed, args.first_seed + args.seeds)]
    if args.workers > 1:
        with Pool(args.workers) as pool:
            rows = pool.map(one_seed, jobs)
    else:
        rows = [one_seed(job) for job in jobs]
    budgets = sorted({*range(10, args.evaluations + 1, 10), args.evaluations})
    result = {
        "benchmark": "strategy_vs_random",
        "protocol": __doc__.split("Usage:")[0].strip(),
        "objective": args.objective,
        "surrogate_rows": OBJECTIVE.get("rows"),
        "surrogate": OBJECTIVE.get("provenance"),
        "evaluations": args.evaluations,
        "budgets": budgets,
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "settings": settings,
        "reference": [0.0, ref_cost],
    }
    found = summarize(rows, budgets, "found")
    with_seeds = summarize(rows, budgets, "with_seeds")
    result.update(
        hypervolume_of="every design evaluated, the three seeds (the first three evaluations of every strategy) "
        "counted; found_only: the designs each strategy found (seeds evaluated and used, not counted)",
        random_final_hv=with_seeds["random_final_hv"],
        local_final_hv=with_seeds["local_final_hv"],
        strategies=with_seeds["strategies"],
        goal=goal(with_seeds, args.evaluations),
        with_seeds=with_seeds,
        found_only=found,
    )
    result["machine"] = environment_info()
    result["commit"] = git_commit(ROOT)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["rows"] = rows
    print(summary_text(result))
    verdict = "met by " + ", ".join(result["goal"]["met_by"]) if result["goal"]["met"] else "not met"
    print(f"goal ({result['goal']['statement']}): {verdict}")
    if OBJECTIVE["seeds"]:
        print("the designs each strategy found (seeds not counted):")
        print(summary_text({**result, **result["found_only"]}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
