"""How well does each cheap candidate score rank architectures the way a much longer training does?

Protocol (fixed; every run of this script measures the same thing):
- Architectures: the YOLO11n and YOLOv8n genomes plus 10 sampled ones. The 10 come from 60 genomes drawn from the
  default ``SearchSpace`` with ``random.Random(2026)``, keeping those with at most 25 GFLOPs at 640 px (about 4x
  YOLO11n, so that a CPU can train the references; this drops the costliest fifth of the space), sorted by GFLOPs and
  picked at 10 evenly spaced ranks. Names, ids and genomes are stored with the references.
- Reference (computed once, stored in ``benchmarks/results/proxy_references.json`` with the machine): training from
  scratch on ``coco_proxy`` (all 688 training images) for ``REFERENCE_RECIPE`` (15 epochs at 128 px, batch 16, AdamW
  lr 0.001, detnas' default augmentation), i.e. 10,320 training images seen, more than 10x what any proxy below sees.
  Scored on the 318 held-out images by mAP50-95 / mAP50 and by the validation detection loss (box + cls + DFL,
  ``detnas.proxies.val_loss``). At this CPU scale mAP stays at the noise floor, so the primary reference is the
  validation loss (lower is better); the script prints the mAP figures too. Seed 0 for every architecture, seed 1
  also for four of them, to measure seed-to-seed spread against between-architecture spread.
- Proxies (``detnas.proxies``), recomputed on every run, seed 0. Training proxies use ``BRIEF_RECIPE``: 2 epochs on a
  seeded 256-image subset of the same training split at 128 px (512 images seen, 1/20 of the reference); ``map``,
  ``val-loss`` and ``tse`` are read off one shared run and each is charged only the phases it needs (plus worker
  start-up); ``inherit`` fine-tunes with the same recipe from weights sliced out of a parent trained once with
  ``PARENT_RECIPE`` (6 epochs on the full split, 4,128 images; reported as a one-off cost). Training-free proxies
  score the freshly built model on 4 batches of 8 training images. Cost = wall seconds per architecture, worker
  start-up included, median over architectures, on the machine named in the results file.
- Agreement: Kendall tau-b and Spearman rho between proxy score and reference (both oriented "higher is better"),
  with 95% bootstrap intervals over architectures (2,000 resamples, seed 0). The CPU default proxy is the one with the
  best tau per CPU-minute among those whose tau interval lies above 0 (better than chance); ``map`` has no ranking at
  all when every candidate scores 0.0000 (tau undefined, printed as nan).

Usage:
  python benchmarks/proxy_fidelity.py references    # slow; resumable; start it in 2 shells to use 2 cores
  python benchmarks/proxy_fidelity.py collect                    # merge reference runs into the results file
  python benchmarks/proxy_fidelity.py [run] [--proxies ...]      # recompute proxies against stored references
  python benchmarks/proxy_fidelity.py pretrained [--out DIR]     # scores that inherit COCO checkpoints (separate)
Proxy scores are cached per architecture under runs/proxy_fidelity/proxies/ (delete it to recompute from scratch).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

from detnas.architecture import (
    build_model,
    write_yaml,  # noqa: E402
)
from detnas.cost import model_cost  # noqa: E402
from detnas.datasets import dataset_yaml  # noqa: E402
from detnas.designs import yolo11n, yolov8n  # noqa: E402
from detnas.evaluate.candidate import evaluate_candidate  # noqa: E402
from detnas.evaluate.environment import environment_info  # noqa: E402
from detnas.evaluate.parent import parent_manifest, train_parent  # noqa: E402
from detnas.evaluate.recipe import Recipe  # noqa: E402
from detnas.genome import ArchGenome  # noqa: E402
from detnas.proxies import PROXIES, get_proxy  # noqa: E402
from detnas.proxies.agreement import bootstrap_interval, kendall_tau_b, spearman_rho  # noqa: E402
from detnas.proxies.val_loss import validation_loss  # noqa: E402
from detnas.space import SearchSpace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REFERENCES_FILE = RESULTS / "proxy_references.json"
WORK = ROOT / "runs" / "proxy_fidelity"
DATASET = "coco_proxy"
REFERENCE_RECIPE = Recipe(epochs=15, imgsz=128, batch=16)
BRIEF_RECIPE = Recipe(epochs=2, imgsz=128, batch=16, subset=256)  # 512 images seen: 1/20 of the reference
PARENT_RECIPE = Recipe(epochs=6, imgsz=128, batch=16)
POOL_SEED, POOL_SIZE, MAX_GFLOPS, SAMPLED = 2026, 60, 25.0, 10
SECOND_SEED_FOR = ("yolo11n", "yolov8n", "sampled-00", "sampled-09")


def architectures() -> list[tuple[str, ArchGenome]]:
    """The fixed benchmark set, as (name, genome); deterministic (documented in the module docstring)."""
    space, rng = SearchSpace(), random.Random(POOL_SEED)
    pool = []
    for _ in range(POOL_SIZE):
        genome = space.sample(rng)
        gflops = model_cost(build_model(genome).eval(), imgsz=640).gflops or float("inf")
        if gflops <= MAX_GFLOPS:
            pool.append((gflops, genome.id, genome))
    pool.sort(key=lambda item: (item[0], item[1]))
    picks = [round(i * (len(pool) - 1) / (SAMPLED - 1)) for i in range(SAMPLED)]
    sampled = [(f"sampled-{n:02d}", pool[i][2]) for n, i in enumerate(picks)]
    return [("yolo11n", yolo11n()), ("yolov8n", yolov8n()), *sampled]


def reference_runs() -> list[tuple[str, ArchGenome, int]]:
    """Every (name, genome, seed) of the reference, cheapest first within each seed."""
    archs = architectures()
    runs = [(name, genome, 0) for name, genome in archs]
    runs += [(name, genome, 1) for name, genome in archs if name in SECOND_SEED_FOR]
    return runs


def run_reference(name: str, genome: ArchGenome, seed: int) -> dict:
    """Train one reference (or reuse its finished record) and score it; the record is the unit of resumption."""
    folder = WORK / "references" / f"{name}-s{seed}"
    record_path = folder / "reference.json"
    if record_path.is_file():
        return json.loads(record_path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    yaml_path = write_yaml(genome, folder / f"{genome.id}.yaml")
    recipe = Recipe(**{**REFERENCE_RECIPE.to_dict(), "seed": seed})
    data = dataset_yaml(DATASET)
    evaluation = evaluate_candidate(yaml_path, data, recipe, workdir=folder / "eval", latency_backend=None)
    if evaluation.status != "ok":
        raise SystemExit(f"reference {name} seed {seed} failed: {evaluation.failure_reason}")
    loss = validation_loss(evaluation.weights_last, data, imgsz=recipe.imgsz)
    record = {
        "name": name,
        "genome_id": genome.id,
        "genome": genome.to_dict(),
        "seed": seed,
        "params": evaluation.cost.params if evaluation.cost else None,
        **_loss_fields(loss),
        "map50_95": evaluation.metrics.map50_95 if evaluation.metrics else None,
        "map50": evaluation.metrics.map50 if evaluation.metrics else None,
        "metric_source": evaluation.metrics.metric_source if evaluation.metrics else None,
        "final_train_loss": round(sum(evaluation.epochs[-1].values()), 5) if evaluation.epochs else None,
        "train_seconds": evaluation.phase_seconds.get("train"),
        "total_seconds": evaluation.total_seconds,
        "train_images": evaluation.train_images,
        "val_images": evaluation.val_images,
        "torch_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    record_path.write_text(json.dumps(record, indent=1))
    return record


def _loss_fields(loss) -> dict:
    parts = {"box": round(loss.box, 5), "cls": round(loss.cls, 5), "dfl": round(loss.dfl, 5)}
    return {"val_loss": round(loss.total, 5), "val_loss_parts": parts, "val_loss_per_image": True}


def rescore(record: dict, folder: Path) -> dict:
    """Recompute a reference's validation loss from its kept weights when it predates per-image scoring."""
    if record.get("val_loss_per_image"):
        return record
    weights = folder / "eval" / "train" / "weights" / "last.pt"
    loss = validation_loss(weights, dataset_yaml(DATASET), imgsz=REFERENCE_RECIPE.imgsz)
    record = record | _loss_fields(loss)
    (folder / "reference.json").write_text(json.dumps(record, indent=1))
    return record


def command_references(_: argparse.Namespace) -> None:
    """Work through the reference runs; several processes may share the list (each run is locked while it trains)."""
    for name, genome, seed in reference_runs():
        folder = WORK / "references" / f"{name}-s{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another process is training this one
            started = time.perf_counter()
            record = run_reference(name, genome, seed)
        print(
            f"{name:11s} seed {seed}  val loss {record['val_loss']:.4f}  mAP50-95 {record['map50_95']:.4f}  "
            f"mAP50 {record['map50']:.4f}  ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )


def command_collect(_: argparse.Namespace) -> None:
    records, missing = [], []
    for name, _genome, seed in reference_runs():
        folder = WORK / "references" / f"{name}-s{seed}"
        if (folder / "reference.json").is_file():
            records.append(rescore(json.loads((folder / "reference.json").read_text()), folder))
        else:
            missing.append(f"{name}-s{seed}")
    if missing:
        raise SystemExit(f"references missing for {missing}: run 'proxy_fidelity.py references' first")
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "protocol": __doc__.split("Usage:")[0].strip(),
        "dataset": DATASET,
        "recipe": REFERENCE_RECIPE.to_dict(),
        "training_images_seen": REFERENCE_RECIPE.epochs * records[0]["train_images"],
        "machine": environment_info(),
        "references": records,
    }
    REFERENCES_FILE.write_text(json.dumps(payload, indent=1))
    print(f"wrote {REFERENCES_FILE.relative_to(ROOT)} ({len(records)} runs)")


def load_references() -> dict:
    if not REFERENCES_FILE.is_file():
        raise SystemExit(f"{REFERENCES_FILE} missing: run 'proxy_fidelity.py references' then 'collect' once")
    return json.loads(REFERENCES_FILE.read_text())


def ensure_parent(path: str | None) -> tuple[Path, float]:
    """The parent checkpoint for ``inherit`` (trained here once if needed) and its one-off training seconds."""
    if path:
        return Path(path), float(parent_manifest(path).get("seconds", 0.0))
    run = train_parent(dataset_yaml(DATASET), WORK / "parent", PARENT_RECIPE)
    return run.weights, run.seconds


def proxy_costs(evaluation) -> dict[str, float]:
    """Seconds each training proxy pays, from one shared brief-training run: the phases it needs plus start-up."""
    phases = evaluation.phase_seconds
    wall = evaluation.total_seconds
    return {
        "map": wall - phases.get("score", 0.0),
        "val-loss": wall - phases.get("validate", 0.0),
        "tse": wall - phases.get("score", 0.0) - phases.get("validate", 0.0),
    }


def score_architecture(name: str, genome: ArchGenome, proxies: list[str], parent: Path | None) -> dict[str, dict]:
    """Every requested proxy's score and cost (seconds per architecture) for one architecture."""
    folder = WORK / "proxies" / name
    cache = folder / "scores.json"
    out: dict[str, dict] = json.loads(cache.read_text()) if cache.is_file() else {}
    proxies = [p for p in proxies if p not in out]  # an interrupted run keeps what it finished
    yaml_path = write_yaml(genome, folder / f"{genome.id}.yaml")
    data = dataset_yaml(DATASET)

    def evaluate(proxy: str, workdir: str, **extra):
        ev = evaluate_candidate(
            yaml_path, data, BRIEF_RECIPE, workdir=folder / workdir, proxy=proxy, latency_backend=None,
            check_data=False, **extra,
        )  # fmt: skip
        if not ev.ok or ev.proxy is None:
            raise SystemExit(f"{name} {workdir} failed: {ev.failure_reason}")
        return ev

    def keep(proxy: str, **figures) -> None:
        out[proxy] = figures
        cache.write_text(json.dumps(out, indent=1))

    for proxy in [p for p in proxies if get_proxy(p).training_free]:
        ev = evaluate(proxy, proxy)
        keep(proxy, score=ev.proxy.score, seconds=ev.total_seconds, own_seconds=ev.phase_seconds["score"])
    shared = [p for p in ("map", "val-loss", "tse") if p in proxies]
    if shared:  # one brief training serves all three; each is charged only the phases it needs
        ev = evaluate("val-loss", "brief", measure_map=True)
        values = {"map": ev.proxy.details["map50_95"], "val-loss": ev.proxy.score, "tse": ev.proxy.details["tse"]}
        costs = proxy_costs(ev)
        for proxy in shared:
            keep(proxy, score=values[proxy], seconds=costs[proxy])
    if "inherit" in proxies:
        ev = evaluate("inherit", "inherit", parents=parent)
        fraction = ev.proxy.details.get("inherited_fraction")
        keep("inherit", score=ev.proxy.score, seconds=ev.total_seconds, inherited_fraction=fraction)
    return out


# Reference metrics, each oriented "higher is better". The primary one was fixed before any result was seen; the
# others are printed beside it so that a reader sees whether a conclusion depends on that choice.
REFERENCE_METRICS = {
    "val_loss": lambda r: -r["val_loss"],  # primary: box + cls + DFL on the held-out images
    "val_box": lambda r: -r["val_loss_parts"]["box"],  # the CIoU term alone
    "map50": lambda r: r["map50"],  # the product metric, at its CPU-scale noise floor
}
PRIMARY = "val_loss"


def reference_values(references: dict, metric: str, seed: int = 0) -> dict[str, float]:
    return {r["name"]: REFERENCE_METRICS[metric](r) for r in references["references"] if r["seed"] == seed}


def agreement_rows(references: dict, scores: dict[str, dict[str, dict]], proxies: list[str]) -> list[dict]:
    """Per proxy: tau and rho against the primary reference (seed 0) with bootstrap intervals, tau against the other
    reference metrics, and the median cost per architecture."""
    rows = []
    for proxy in proxies:
        row: dict = {"proxy": proxy}
        for metric in REFERENCE_METRICS:
            ref = reference_values(references, metric)
            names = [n for n in ref if n in scores]
            values, reference = [scores[n][proxy]["score"] for n in names], [ref[n] for n in names]
            row[f"kendall_tau_{metric}"] = kendall_tau_b(values, reference)
            if metric == PRIMARY:
                row["architectures"] = len(names)
                row["kendall_tau"] = row[f"kendall_tau_{metric}"]
                row["kendall_tau_ci95"] = bootstrap_interval(kendall_tau_b, values, reference)
                row["spearman_rho"] = spearman_rho(values, reference)
                row["spearman_rho_ci95"] = bootstrap_interval(spearman_rho, values, reference)
                seconds = statistics.median(scores[n][proxy]["seconds"] for n in names)
                row["median_seconds"] = seconds
                tau = row["kendall_tau"]
                row["tau_per_minute"] = tau / (seconds / 60) if tau == tau else float("nan")
        rows.append(row)
    return rows


def choose_default(rows: list[dict]) -> dict:
    """The CPU default: best tau per CPU-minute among proxies that rank better than chance (95% CI of tau above 0);
    with none such, the highest tau. Returns the row."""
    valid = [r for r in rows if r["kendall_tau"] == r["kendall_tau"]]
    better_than_chance = [r for r in valid if r["kendall_tau_ci95"][0] > 0]
    if better_than_chance:
        return max(better_than_chance, key=lambda r: r["tau_per_minute"])
    return max(valid, key=lambda r: r["kendall_tau"])


def reference_summary(references: dict) -> dict:
    """Per reference metric: seed-to-seed spread against the spread between architectures, and how the reference
    metrics agree with each other."""
    out: dict = {"metrics": {}}
    for metric in REFERENCE_METRICS:
        first, second = reference_values(references, metric, 0), reference_values(references, metric, 1)
        diffs = {n: abs(first[n] - v) for n, v in second.items()}
        values = list(first.values())
        pairwise = [abs(a - b) for i, a in enumerate(values) for b in values[i + 1 :]]
        median_diff = statistics.median(diffs.values()) if diffs else float("nan")
        out["metrics"][metric] = {
            "between_architectures_std": statistics.stdev(values),
            "between_architectures_median_pair_diff": statistics.median(pairwise),
            "seed_to_seed_abs_diff": diffs,
            "seed_to_seed_median_abs_diff": median_diff,
            "seed_to_seed_max_abs_diff": max(diffs.values()) if diffs else float("nan"),
            # share of architecture pairs whose reference difference exceeds the median seed-to-seed difference:
            # the pairs this reference can order at all
            "pairs_resolved": sum(d > median_diff for d in pairwise) / len(pairwise),
            "reliable": bool(diffs) and median_diff < statistics.median(pairwise),
        }
    metrics = list(REFERENCE_METRICS)
    out["tau_between_references"] = {}
    for i, a in enumerate(metrics):
        for b in metrics[i + 1 :]:
            va, vb = reference_values(references, a), reference_values(references, b)
            out["tau_between_references"][f"{a}~{b}"] = kendall_tau_b([va[n] for n in va], [vb[n] for n in va])
    runs = references["references"]
    out["map50_95_range"] = [min(r["map50_95"] for r in runs), max(r["map50_95"] for r in runs)]
    return out


def print_tables(references: dict, rows: list[dict], summary: dict, parent_seconds: float | None) -> None:
    print("references (15 epochs on coco_proxy; val loss and box loss lower is better; s1 = second seed):")
    print(
        f"{'arch':<11} {'params':>9} {'head':>5} {'val loss':>9} {'s1':>7} {'box':>6} {'s1':>6} "
        f"{'mAP50':>7} {'s1':>7} {'mAP50-95':>9}"
    )
    second = {r["name"]: r for r in references["references"] if r["seed"] == 1}
    for r in (r for r in references["references"] if r["seed"] == 0):
        o = second.get(r["name"])
        head = f"P{r['genome']['neck']['min_level']}-P5"
        print(
            f"{r['name']:<11} {r['params']:>9,} {head:>5} {r['val_loss']:>9.4f} "
            f"{o['val_loss'] if o else float('nan'):>7.4f} {r['val_loss_parts']['box']:>6.3f} "
            f"{o['val_loss_parts']['box'] if o else float('nan'):>6.3f} {r['map50']:>7.4f} "
            f"{o['map50'] if o else float('nan'):>7.4f} {r['map50_95']:>9.4f}"
        )
    for metric, m in summary["metrics"].items():
        verdict = "usable" if m["reliable"] else "NOT a reference: seeds differ more than architectures"
        print(
            f"{metric:<9} seed-to-seed |diff| median {m['seed_to_seed_median_abs_diff']:.4f} (max "
            f"{m['seed_to_seed_max_abs_diff']:.4f}) vs median |diff| between architectures "
            f"{m['between_architectures_median_pair_diff']:.4f}: {m['pairs_resolved']:.0%} of pairs resolved "
            f"-> {verdict}"
        )
    print(
        "tau between reference metrics: "
        + ", ".join(f"{k} {v:.2f}" for k, v in summary["tau_between_references"].items())
    )
    print()
    others = [m for m in REFERENCE_METRICS if m != PRIMARY]
    print(f"proxy agreement with the primary reference ({PRIMARY}), seed 0, {rows[0]['architectures']} architectures:")
    print(
        f"{'proxy':<9} {'tau':>6} {'tau 95% CI':>15} {'rho':>6} {'rho 95% CI':>15} {'s/arch':>7} {'tau/min':>8}"
        + "".join(f" {'tau ' + m:>12}" for m in others)
    )
    for row in rows:
        tl, th = row["kendall_tau_ci95"]
        rl, rh = row["spearman_rho_ci95"]
        print(
            f"{row['proxy']:<9} {row['kendall_tau']:>6.3f} {f'[{tl:.2f}, {th:.2f}]':>15} {row['spearman_rho']:>6.3f} "
            f"{f'[{rl:.2f}, {rh:.2f}]':>15} {row['median_seconds']:>7.1f} {row['tau_per_minute']:>8.3f}"
            + "".join(f" {row['kendall_tau_' + m]:>12.3f}" for m in others)
        )
    if parent_seconds is not None:
        print(f"inherit also needs the parent, trained once: {parent_seconds:.0f} s ({PARENT_RECIPE.epochs} epochs)")
    best = choose_default(rows)
    why = (
        "best tau per CPU-minute among proxies whose tau CI lies above 0"
        if best["kendall_tau_ci95"][0] > 0
        else "no proxy's tau CI lies above 0, so simply the highest tau"
    )
    print(
        f"default by the rule ({why}): {best['proxy']} "
        f"(tau {best['kendall_tau']:.3f}, {best['median_seconds']:.1f} s per architecture)"
    )


def command_run(args: argparse.Namespace) -> None:
    references = load_references() if not args.scores_only else None
    proxies = args.proxies
    for proxy in proxies:
        get_proxy(proxy)
    parent, parent_seconds = ensure_parent(args.parent) if "inherit" in proxies else (None, None)
    names = dict(architectures())
    scores = {}
    for name, genome in names.items():
        started = time.perf_counter()
        scores[name] = score_architecture(name, genome, proxies, parent)
        text = "  ".join(f"{p} {v['score']:.4g}" for p, v in scores[name].items())
        print(f"{name:<11} {text}  ({time.perf_counter() - started:.0f} s)", flush=True)
    if references is None:
        return
    rows = agreement_rows(references, scores, proxies)
    summary = reference_summary(references)
    print()
    print_tables(references, rows, summary, parent_seconds)
    result = {
        "protocol": __doc__.split("Usage:")[0].strip(),
        "brief_recipe": BRIEF_RECIPE.to_dict(),
        "parent_recipe": PARENT_RECIPE.to_dict() if parent else None,
        "parent_seconds": parent_seconds,
        "reference_recipe": references["recipe"],
        "reference_machine": references["machine"],
        "machine": environment_info(),
        "reference_summary": summary,
        "agreement": rows,
        "default_by_rule": choose_default(rows)["proxy"],
        "scores": scores,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


SCRATCH_PROXIES = [p for p in PROXIES if p not in ("pretrained", "pretrained-zero")]  # these need checkpoints


def main(argv: list[str] | None = None) -> None:
    argv = argv if argv is not None else sys.argv[1:]
    if argv[:1] == ["pretrained"]:  # the same question for candidates that inherit COCO-trained checkpoints
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from pretrained_fidelity import main as pretrained_main

        raise SystemExit(pretrained_main(argv[1:]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("references", help="train and score the references (slow, resumable)")
    sub.add_parser("collect", help="merge finished reference runs into the results file")
    sub.add_parser("pretrained", help="the fidelity of pretrained-anchored scores (benchmarks/pretrained_fidelity.py)")
    run = sub.add_parser("run", help="recompute every proxy and its agreement with the stored references (default)")
    run.add_argument("--proxies", nargs="+", default=SCRATCH_PROXIES, help=f"default: {' '.join(SCRATCH_PROXIES)}")
    run.add_argument("--parent", help="parent checkpoint for 'inherit' (default: train one into runs/)")
    run.add_argument("--out", default=str(RESULTS / "proxy_fidelity.json"))
    run.add_argument("--scores-only", action="store_true", help="compute and cache proxy scores, skip the agreement")
    args = parser.parse_args(argv or ["run"])
    if args.command == "references":
        command_references(args)
    elif args.command == "collect":
        command_collect(args)
    else:
        command_run(args)


if __name__ == "__main__":
    main()
