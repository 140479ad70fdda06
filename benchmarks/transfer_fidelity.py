"""On data with its own classes, does the search's transfer score rank architectures as a 10x longer transfer does?

Protocol (fixed; every run measures the same thing):
- Task: ``coco_indoor4`` (4 classes that are not COCO's 80: chair, dining table, drinkware, bottle; 169 train and
  105 val images). Its val images are split once (``detnas.datasets.split_val``, seed 0) into a *search* half, the
  only images the cheap score sees, and a *held-out* half, the only images the reference is scored on. No training
  sees either half.
- Architectures: the 12 of ``benchmarks/results/pretrained_fidelity.json`` (the three checkpoints' genomes and nine
  seeded descendants from 0.5x to 2x YOLO11n's GFLOPs: grown, sliced or both), so the two fidelity figures rank the
  same designs. Each inherits from ``yolo11n.pt``/``yolov8n.pt``/``yolov5nu.pt`` as a search does (the parent covering
  most; importance slicing with reconstruction, Net2Net growth); its class predictions start fresh (4 classes).
  *Sliced* = the inheritance sliced at least one layer (read from this run's own inheritance record).
- Size: every network at 320 px, the smallest searched size: twelve 10x references at 640 px would take ~5 CPU-hours.
- Cheap score (the search's default for this case, ``detnas.evaluate.recipe.fine_tune_recipe``): the class-head probe
  (30 passes over cached features of the seeded 128-image training subset, frozen body), then one fine-tune pass over
  those images (AdamW 1e-4, no warm-up, no mosaic); pycocotools mAP50-95 on the search half. Cost = the candidate's
  wall seconds, worker start-up included.
- Reference: the same inheritance with a 10x longer transfer (300 probe passes, 10 fine-tune epochs), seed 0;
  pycocotools mAP50-95 on the held-out half.
- Agreement: Kendall tau-b between score and reference over all architectures and over the sliced ones alone; 95%
  percentile bootstrap interval over architectures (2,000 resamples, seed 0).
- Overhead: the share of each cheap evaluation spent outside training (probe and fine-tune) and validation
  (latency is not measured here; a search's own ``phase_seconds`` give the figure with it).

Usage:  python benchmarks/transfer_fidelity.py [--out runs/transfer_fidelity]
Every evaluation is written as it comes (``OUT/<arch>/<default|reference>/``); a rerun skips what exists.
Writes ``benchmarks/results/transfer_fidelity.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

from detnas.architecture import write_yaml  # noqa: E402
from detnas.datasets import dataset_yaml, split_val  # noqa: E402
from detnas.evaluate.candidate import evaluate_candidate  # noqa: E402
from detnas.evaluate.environment import environment_info, git_commit  # noqa: E402
from detnas.evaluate.recipe import fine_tune_recipe  # noqa: E402
from detnas.evaluate.record import Evaluation  # noqa: E402
from detnas.genome import ArchGenome  # noqa: E402
from detnas.models import default_parents  # noqa: E402
from detnas.proxies import PRETRAINED_DEFAULT_PROXY  # noqa: E402
from detnas.proxies.agreement import bootstrap_interval, kendall_tau_b  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "transfer_fidelity.json"
ARCHITECTURES = ROOT / "benchmarks" / "results" / "pretrained_fidelity.json"
IMGSZ = 320
DEFAULT = fine_tune_recipe(imgsz=IMGSZ)
REFERENCE = replace(DEFAULT, epochs=10 * DEFAULT.epochs, probe_epochs=10 * DEFAULT.probe_epochs)
GOALS = {"kendall_tau": 0.7, "kendall_tau_sliced": 0.5, "ci_low": 0.3}
TRAINING_PHASES = ("probe", "train", "validate")


def architectures() -> list[tuple[str, ArchGenome]]:
    """The designs pretrained_fidelity.json ranked (see the protocol)."""
    rows = json.loads(ARCHITECTURES.read_text())["architectures"]
    return [(r["name"], ArchGenome.from_dict(r["genome"])) for r in rows]


def evaluate(arch: Path, data: Path, recipe, workdir: Path, parents: list[Path]) -> dict:
    """One evaluation (reused when its record exists): mAP, seconds, phases and what inheritance did."""
    record = workdir / "evaluation.json"
    if not record.is_file():
        evaluate_candidate(
            arch, data, recipe, workdir=workdir, proxy="pretrained", parents=parents, latency_backend=None
        )
    e = Evaluation.from_json(record)
    if e.status != "ok" or e.metrics is None:
        raise RuntimeError(f"{arch.name}: {e.failure_reason}")
    inheritance = json.loads((workdir / "result.json").read_text()).get("inheritance") or {}
    inside = sum(e.phase_seconds.get(p, 0.0) for p in TRAINING_PHASES)
    return {
        "map50_95": e.metrics.map50_95,
        "metric_source": e.metrics.metric_source,
        "seconds": e.total_seconds,
        "phase_seconds": e.phase_seconds,
        "overhead_fraction": round(1 - inside / e.total_seconds, 4) if e.total_seconds else None,
        "parent": inheritance.get("parent"),
        "inherited_fraction": inheritance.get("fraction"),
        "methods": inheritance.get("methods"),
        "reconstructed": inheritance.get("reconstruction") is not None,
    }


def agreement(rows: list[dict]) -> list[dict]:
    """Kendall tau-b of the cheap score against the reference, with its bootstrap interval and cost."""
    score = [r["default"]["map50_95"] for r in rows]
    reference = [r["reference"]["map50_95"] for r in rows]
    tau = kendall_tau_b(score, reference)
    low, high = bootstrap_interval(kendall_tau_b, score, reference, resamples=2000)
    seconds = statistics.median(r["default"]["seconds"] for r in rows)
    return [
        {
            "proxy": PRETRAINED_DEFAULT_PROXY,
            "recipe": "transfer (head probe, then one fine-tune pass)",
            "architectures": len(rows),
            "kendall_tau": tau,
            "kendall_tau_ci95": [low, high],
            "median_seconds": seconds,
            "tau_per_cpu_minute": tau / (seconds / 60),
        }
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "transfer_fidelity")
    args = parser.parse_args(argv)
    parents = default_parents()
    if len(parents) < 3:
        print("error: yolo11n.pt, yolov8n.pt and yolov5nu.pt are needed: put them in $DETNAS_WEIGHTS", file=sys.stderr)
        return 2
    search, heldout = split_val(dataset_yaml("coco_indoor4"), args.out / "data", seed=0)
    rows = []
    for name, genome in architectures():
        folder = args.out / name
        arch = write_yaml(genome.with_imgsz(IMGSZ), folder / f"{genome.id}.yaml")
        row = {"name": name, "genome_id": genome.id, "genome": genome.to_dict()}
        row["default"] = evaluate(arch, search, DEFAULT, folder / "default", parents)
        row["reference"] = evaluate(arch, heldout, REFERENCE, folder / "reference", parents)
        row["sliced"] = "sliced" in (row["default"]["methods"] or {})
        rows.append(row)
        d, r = row["default"], row["reference"]
        print(f"{name:10s} score {d['map50_95']:.4f} ({d['seconds']:.0f} s)  reference {r['map50_95']:.4f}", flush=True)
    sliced = [r for r in rows if r["sliced"]]
    result = {
        "protocol": __doc__.split("Usage:")[0].strip(),
        "commit": git_commit(ROOT),
        "data": {"source": str(dataset_yaml("coco_indoor4")), "search": str(search), "heldout": str(heldout)},
        "machine": environment_info(),
        "recipes": {"default": DEFAULT.to_dict(), "reference": REFERENCE.to_dict()},
        "agreement": agreement(rows),
        "agreement_sliced": agreement(sliced) if len(sliced) >= 3 else [],
        "default": PRETRAINED_DEFAULT_PROXY,
        "overhead_fraction_median": statistics.median(r["default"]["overhead_fraction"] for r in rows),
        "architectures": rows,
    }
    every, within = result["agreement"][0], (result["agreement_sliced"] or [None])[0]
    result["goals"] = {
        **GOALS,
        "met_all": every["kendall_tau"] >= GOALS["kendall_tau"] and every["kendall_tau_ci95"][0] > GOALS["ci_low"],
        "met_sliced": within is not None
        and within["kendall_tau"] >= GOALS["kendall_tau_sliced"]
        and within["kendall_tau_ci95"][0] > GOALS["ci_low"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    header = ("arch", "sliced", "parent", "inh", "score", "ref", "s", "overhead")
    print("{:10s} {:>6s} {:>12s} {:>5s} {:>7s} {:>7s} {:>5s} {:>8s}".format(*header))
    for r in rows:
        d = r["default"]
        print(
            f"{r['name']:10s} {'yes' if r['sliced'] else 'no':>6s} {d['parent']:>12s} {d['inherited_fraction']:5.2f} "
            f"{d['map50_95']:7.4f} {r['reference']['map50_95']:7.4f} {d['seconds']:5.0f} {d['overhead_fraction']:8.1%}"
        )
    for label, a in (("all", every), ("sliced", within)):
        if a is not None:
            low, high = a["kendall_tau_ci95"]
            print(f"tau ({label}, {a['architectures']} designs): {a['kendall_tau']:.3f} [{low:.2f}, {high:.2f}]")
    print(f"median overhead outside training and validation: {result['overhead_fraction_median']:.1%}")
    print(f"goals: {result['goals']}; wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
