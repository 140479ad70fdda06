"""How well do the cheap scores of a pretrained-anchored search rank architectures the way a 10x longer fine-tune does?

Protocol (fixed; every run measures the same thing):
- Parents: the COCO-trained ``yolo11n.pt``, ``yolov8n.pt``, ``yolov5nu.pt`` (``detnas.models.default_parents``).
- Architectures: the three parents' genomes plus 9 designs of the anchored space (``detnas.space.anchored_space``)
  reached as a search reaches them: alternately a parent with 1-30 seeded mutations and a uniform draw within a
  parent's family (``random.Random(2026)``). Of 1,200 such designs, those with GFLOPs (320 px) between 0.5x and 2x
  YOLO11n's are kept and the one nearest each of 9 geometrically spaced costs from 0.5x to 2x is picked, so the set
  runs from below to well above every parent's cost.
- Data: ``coco_proxy``. Its 318 val2017 images are split once (sorted, shuffled with ``random.Random(0)``) into a
  159-image *search* half, on which the cheap scores are measured, and a 159-image *held-out* half on which only the
  references are scored: no score and its reference ever see the same image, and no fine-tune sees either half.
- Cheap scores (seed 0), each from the same inheritance (``detnas.inherit``: parent covering most, importance
  slicing, Net2Net growth, sliced layers refitted to the parent's outputs by ``detnas.inherit.reconstruct``,
  BatchNorm re-estimated at 640 px where the function changed):
  ``pretrained-zero`` (no fine-tune, mAP50-95), ``pretrained`` (the search's fine-tune: one pass over 128 seeded
  training images at 320 px, AdamW 1e-4, no warm-up; mAP50-95), ``tse`` (minus the mean training loss of that same
  fine-tune) and ``val-loss`` (minus that fine-tuned network's detection loss per image on the search half).
  Cost = wall seconds per architecture of the phases each score needs, worker start-up included.
- Reference: the same inheritance fine-tuned on all 688 training images for 2 epochs (1,376 images seen, 10.75x the
  search's 128), otherwise the same recipe; pycocotools mAP50-95 on the held-out half at 320 px. Seed 0 for every
  architecture, seed 1 (another image order) for four of them: the seed-to-seed spread is compared with the spread
  between architectures.
- Agreement: Kendall tau-b between each score and the seed-0 reference, 95% percentile bootstrap interval over
  architectures (2,000 resamples, seed 0). Also named: the score with the best tau per CPU-minute among those whose
  interval lies above 0.3 (``rule_pick``) next to the one the search uses by default (``default``).
  ``agreement_sliced``: the same fields within the *sliced* designs only (those whose inheritance sliced at least one
  layer, ``methods`` of the inheritance record), where the intact-versus-sliced split cannot make the tau.

Usage:  python benchmarks/pretrained_fidelity.py [--out runs/pretrained_fidelity] [--only scores|references]
        [--reuse-intact PREVIOUS.json]
Every result is written as it comes (``OUT/<arch>/<what>.json``); a rerun skips what exists, so a stop resumes.
``--reuse-intact`` takes the fine-tuned scores and references of a design whose inheritance slices nothing (its
``pretrained-zero`` evaluation is rerun and says so) from an earlier result file, unless this run already measured them,
for a rerun after a change that only touches sliced designs (such as reconstruction); such rows carry ``carried_from``.
Writes ``benchmarks/results/pretrained_fidelity.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")


from detnas.architecture import write_yaml  # noqa: E402
from detnas.cost import genome_cost  # noqa: E402
from detnas.datasets import dataset_yaml  # noqa: E402
from detnas.datasets import split_val as split_val_of  # noqa: E402
from detnas.evaluate.candidate import evaluate_candidate  # noqa: E402
from detnas.evaluate.environment import environment_info, git_commit, last_commit  # noqa: E402
from detnas.evaluate.recipe import fine_tune_recipe  # noqa: E402
from detnas.evaluate.request import WorkerResult  # noqa: E402
from detnas.genome import ArchGenome  # noqa: E402
from detnas.inherit.checkpoint import load_parent  # noqa: E402
from detnas.models import default_parents  # noqa: E402
from detnas.proxies import PRETRAINED_DEFAULT_PROXY  # noqa: E402
from detnas.proxies.agreement import bootstrap_interval, kendall_tau_b  # noqa: E402
from detnas.space import anchored_space  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pretrained_fidelity.json"
BRIEF = fine_tune_recipe()  # the search's default fine-tune
REFERENCE = fine_tune_recipe(subset=None, epochs=2)  # every training image, twice
SECOND_SEED = 4  # architectures (by index, evenly spread) that get a second reference seed
SCORES = ("pretrained-zero", "pretrained", "tse", "val-loss")


def split_val(out: Path) -> tuple[Path, Path]:
    """Data YAMLs for the search half and the held-out half of coco_proxy's val images (see the protocol)."""
    return split_val_of(dataset_yaml("coco_proxy"), out, seed=0)


def architectures(parents: list) -> list[tuple[str, ArchGenome]]:
    """The 3 parents' genomes and 9 mutation chains spread over 0.5x-2x YOLO11n's GFLOPs (see the protocol)."""
    space = anchored_space()
    rng = random.Random(2026)
    base = genome_cost(parents[0].genome, imgsz=320).gflops
    chains: dict[str, tuple[float, ArchGenome]] = {}
    for i in range(1200):
        if i % 2:  # a search's descendant of a parent ...
            genome = rng.choice(parents).genome
            for _ in range(rng.randint(1, 30)):
                genome = space.mutate(genome, rng)
        else:  # ... or a design drawn anywhere in a parent's family (random search, and the small designs)
            genome = space.sample(rng)
        gflops = genome_cost(genome, imgsz=320).gflops
        if 0.5 * base <= gflops <= 2.0 * base:
            chains.setdefault(genome.id, (gflops, genome))
    picks: list[ArchGenome] = []
    for i in range(9):  # the chain nearest each of 9 geometrically spaced costs from 0.5x to 2x
        target = base * 0.5 * 4 ** (i / 8)
        left = [c for c in chains.values() if c[1] not in picks]
        picks.append(min(left, key=lambda c: abs(c[0] - target))[1])
    named = [(Path(p.path).stem, p.genome) for p in parents]
    return named + [(f"chain-{i}", g) for i, g in enumerate(picks)]


def _cached(path: Path, compute) -> dict:
    if path.is_file():
        return json.loads(path.read_text())
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def _evaluate(arch: Path, data: Path, recipe, proxy: str, workdir: Path, parents: list[Path], latency: bool) -> dict:
    evaluation = evaluate_candidate(
        arch,
        data,
        recipe,
        workdir=workdir,
        latency_backend="torch" if latency else None,
        proxy=proxy,
        parents=parents,
        latency_cache=workdir.parent / "latency_cache.json",
    )
    if evaluation.status != "ok":
        raise RuntimeError(f"{arch.name} {proxy}: {evaluation.failure_reason}")
    return json.loads((workdir / "evaluation.json").read_text())


def _committed_as(path: Path) -> str:
    """The last commit of a result file that predates the ``commit`` field."""
    last = last_commit(ROOT, path)
    return last[0] if last else "unknown"


def scores_of(name: str, arch: Path, search: Path, out: Path, parents: list[Path], carried: dict | None = None) -> dict:
    """The four cheap scores of one architecture and what each cost; with ``carried`` (its row of an earlier run),
    a design whose inheritance slices nothing keeps that row's fine-tuned scores."""
    from detnas.proxies.val_loss import validation_loss

    def zero() -> dict:
        record = _evaluate(arch, search, BRIEF, "pretrained-zero", out / "zero", parents, latency=True)
        inheritance = WorkerResult.from_json(out / "zero" / "result.json").inheritance or {}
        return {
            "score": record["proxy"]["score"],
            "seconds": record["total_seconds"],
            "latency_ms": (record.get("latency") or {}).get("median_ms"),
            "inheritance": record["proxy"]["details"]
            | {"methods": inheritance.get("methods", {}), "changes_function": inheritance.get("changes_function")},
            "params": record["cost"]["params"],
            "gflops": record["cost"]["gflops"],
        }

    def brief() -> dict:
        record = _evaluate(arch, search, BRIEF, "pretrained", out / "brief", parents, latency=False)
        phases = record["phase_seconds"]
        t0 = time.perf_counter()
        loss = validation_loss(record["weights_last"], Path(record["workdir"]) / "data" / "data.yaml", imgsz=320)
        loss_seconds = time.perf_counter() - t0
        without_val = record["total_seconds"] - phases.get("validate", 0.0)
        return {
            "pretrained": {"score": record["proxy"]["score"], "seconds": record["total_seconds"]},
            "tse": {"score": record["proxy"]["details"]["tse"], "seconds": without_val},
            "val-loss": {"score": -loss.total, "seconds": without_val + loss_seconds},
        }

    z = _cached(out / "zero.json", zero)
    z["sliced"] = z["inheritance"].get("methods", {}).get("sliced", 0) > 0
    if carried is not None and not z["sliced"] and not (out / "brief.json").is_file():
        b = {k: carried["scores"][k] for k in ("pretrained", "tse", "val-loss")}
    else:
        b = _cached(out / "brief.json", brief)
    return {"pretrained-zero": {"score": z["score"], "seconds": z["seconds"]}, **b, "meta": z}


def reference_of(arch: Path, heldout: Path, out: Path, parents: list[Path], seed: int) -> dict:
    def compute() -> dict:
        recipe = fine_tune_recipe(subset=None, epochs=2, seed=seed)
        record = _evaluate(arch, heldout, recipe, "pretrained", out / f"reference-s{seed}", parents, latency=False)
        return {"map50_95": record["metrics"]["map50_95"], "seconds": record["total_seconds"], "seed": seed}

    return _cached(out / f"reference-s{seed}.json", compute)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "pretrained_fidelity")
    parser.add_argument("--only", choices=["scores", "references"], default=None)
    parser.add_argument(
        "--reuse-intact",
        type=Path,
        default=None,
        help="earlier pretrained_fidelity.json whose fine-tuned scores and references designs that slice nothing keep",
    )
    args = parser.parse_args(argv)
    previous = {}
    if args.reuse_intact is not None:
        if not args.reuse_intact.is_file():
            print(f"error: --reuse-intact {args.reuse_intact} does not exist: give an earlier result", file=sys.stderr)
            return 2
        earlier = json.loads(args.reuse_intact.read_text())
        origin = f"{args.reuse_intact.name} at commit {earlier.get('commit') or _committed_as(args.reuse_intact)}"
        previous = {a["genome_id"]: a | {"carried_from": origin} for a in earlier.get("architectures", [])}
    parent_paths = default_parents()
    if len(parent_paths) < 3:
        print("error: yolo11n.pt, yolov8n.pt and yolov5nu.pt are needed: put them in $DETNAS_WEIGHTS", file=sys.stderr)
        return 2
    parents = [load_parent(p) for p in parent_paths]
    search, heldout = split_val(args.out / "data")
    chosen = args.out / "architectures.json"  # the selection costs minutes (1,200 GFLOPs counts): kept for reruns
    if chosen.is_file():
        archs = [(r["name"], ArchGenome.from_dict(r["genome"])) for r in json.loads(chosen.read_text())]
    else:
        archs = architectures(parents)
        chosen.write_text(json.dumps([{"name": n, "genome": g.to_dict()} for n, g in archs], indent=1))
    second = {archs[round(i * (len(archs) - 1) / (SECOND_SEED - 1))][0] for i in range(SECOND_SEED)}
    rows = []
    for name, genome in archs:
        folder = args.out / name
        arch = write_yaml(genome, folder / f"{genome.id}.yaml")
        row: dict = {"name": name, "genome_id": genome.id, "genome": genome.to_dict()}
        if args.only != "references":
            row["scores"] = scores_of(name, arch, search, folder, parent_paths, carried=previous.get(genome.id))
        carried = previous.get(genome.id) if not row.get("scores", {}).get("meta", {}).get("sliced", True) else None
        # an intact design: reconstruction never touches it, its references stand (unless measured in this run)
        if carried is not None and not (folder / "reference-s0.json").is_file():
            row["references"] = carried["references"]
            row["carried_from"] = carried["carried_from"]
        elif args.only != "scores":
            row["references"] = [reference_of(arch, heldout, folder, parent_paths, 0)]
            if name in second:
                row["references"].append(reference_of(arch, heldout, folder, parent_paths, 1))
        rows.append(row)
        print(f"{name:10s} done", flush=True)
    if args.only is not None:
        return 0
    report = summarize(rows)
    report.update(
        protocol=__doc__.split("Usage:")[0].strip(),
        commit=git_commit(ROOT),
        recipes={"brief": BRIEF.to_dict(), "reference": REFERENCE.to_dict()},
        split={"search": str(search), "heldout": str(heldout), "images_each": 159},
        parents=[str(p) for p in parent_paths],
        machine=environment_info(),
        architectures=rows,
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


def summarize(rows: list[dict]) -> dict:
    """Print the table and return agreement, spreads and the default score."""
    reference = [r["references"][0]["map50_95"] for r in rows]
    print(
        f"{'arch':10s} {'params':>10s} {'GFLOPs':>6s} {'ms':>6s} {'inh':>5s} {'zero':>7s} {'brief':>7s} "
        f"{'tse':>8s} {'val-loss':>9s} {'ref':>7s} {'ref s1':>7s}"
    )
    for r in rows:
        s, meta = r["scores"], r["scores"]["meta"]
        s1 = f"{r['references'][1]['map50_95']:.4f}" if len(r["references"]) > 1 else "-"
        print(
            f"{r['name']:10s} {meta['params']:>10,} {meta['gflops']:6.2f} {meta['latency_ms'] or 0:6.1f} "
            f"{meta['inheritance']['inherited_fraction']:5.2f} {s['pretrained-zero']['score']:7.4f} "
            f"{s['pretrained']['score']:7.4f} {s['tse']['score']:8.4f} {s['val-loss']['score']:9.4f} "
            f"{r['references'][0]['map50_95']:7.4f} {s1:>7s}"
        )
    seed_diffs = [
        abs(r["references"][0]["map50_95"] - r["references"][1]["map50_95"]) for r in rows if len(r["references"]) > 1
    ]
    arch_diffs = [abs(a - b) for i, a in enumerate(reference) for b in reference[i + 1 :]]
    spreads = {
        "seed_to_seed_abs_diff_median": statistics.median(seed_diffs),
        "seed_to_seed_abs_diff_max": max(seed_diffs),
        "between_architectures_abs_diff_median": statistics.median(arch_diffs),
        "pairs_resolved": sum(d > max(seed_diffs) for d in arch_diffs) / len(arch_diffs),
    }
    print(
        f"reference seed-to-seed |diff| median {spreads['seed_to_seed_abs_diff_median']:.4f} "
        f"(max {spreads['seed_to_seed_abs_diff_max']:.4f}) vs between architectures "
        f"{spreads['between_architectures_abs_diff_median']:.4f}; "
        f"{spreads['pairs_resolved']:.0%} of pairs differ by more than the largest seed difference"
    )
    agreement = agreement_of(rows, reference)
    sliced = [r for r in rows if is_sliced(r)]
    print(f"within the {len(sliced)} sliced designs ({', '.join(r['name'] for r in sliced)}):")
    agreement_sliced = agreement_of(sliced, [r["references"][0]["map50_95"] for r in sliced]) if len(sliced) > 2 else []
    eligible = [a for a in agreement if a["kendall_tau_ci95"][0] > 0.3]
    pick = max(eligible, key=lambda a: a["tau_per_cpu_minute"])["proxy"] if eligible else None
    print(f"best tau per CPU-minute among scores whose interval lies above 0.3: {pick}")
    print(
        f"the search's default: {PRETRAINED_DEFAULT_PROXY} (its fine-tuned weights are what front/<id>.pt holds; "
        f"use --proxy {pick} for a cheaper ranking)"
    )
    return {
        "agreement": agreement,
        "agreement_sliced": agreement_sliced,
        "sliced_designs": [r["name"] for r in sliced],
        "default": PRETRAINED_DEFAULT_PROXY,
        "rule_pick": pick,
        "spreads": spreads,
    }


def is_sliced(row: dict) -> bool:
    """Whether the design's inheritance sliced a trained layer (so its function had to be reconstructed)."""
    return row["scores"]["meta"]["sliced"]


def agreement_of(rows: list[dict], reference: list[float]) -> list[dict]:
    """Kendall tau-b of each cheap score against the reference over ``rows``, with its bootstrap interval and cost."""
    agreement = []
    print(f"{'score':16s} {'tau':>6s} {'tau 95% CI':>16s} {'s/arch':>7s} {'tau/min':>8s}")
    for name in SCORES:
        values = [r["scores"][name]["score"] for r in rows]
        tau = kendall_tau_b(values, reference)
        low, high = bootstrap_interval(kendall_tau_b, values, reference, resamples=2000)
        seconds = statistics.median(r["scores"][name]["seconds"] for r in rows)
        agreement.append(
            {
                "proxy": name,
                "kendall_tau": tau,
                "kendall_tau_ci95": [low, high],
                "median_seconds": seconds,
                "tau_per_cpu_minute": tau / (seconds / 60),
            }
        )
        print(f"{name:16s} {tau:6.3f} [{low:6.2f}, {high:5.2f}] {seconds:7.1f} {tau / (seconds / 60):8.3f}")
    return agreement


if __name__ == "__main__":
    raise SystemExit(main())
