"""How much of its parent does a sliced design get back, stage by stage, and at what CPU cost?

Protocol (fixed; every run measures the same thing):
- Parent: the shared COCO-trained ``yolo11n.pt``. Designs: YOLO11n uniformly thinned to width 0.75 and 0.5
  (``detnas.designs.thinned``), and YOLO11n with one backbone stage (P3, P4 or P5: its down-sampling conv and its
  block) at half width, the rest copied.
- Data: ``coco_proxy``. Its val images are split once (``detnas.datasets.split_val``, seed 0) into a search half
  and a held-out half; every mAP here is pycocotools mAP50-95 on the **held-out** half (159 images) at 640 px, which
  no stage ever fits on. Reconstruction and distillation use training images only.
- Stages, each starting from the previous one's weights where it says so:
  ``sliced``: importance slicing from the parent, nothing refitted;
  ``reconstructed``: the search's inheritance (slicing, then least-squares reconstruction on ``REC_IMAGES`` training
  images at ``REC_IMGSZ``, ``detnas.inherit.reconstruct``);
  ``fine-tuned``: the reconstructed network after the search's brief fine-tune on labels
  (``detnas.evaluate.recipe.fine_tune_recipe``: one pass over 128 seeded training images, at 640 px);
  ``distilled``: the reconstructed network distilled from the parent (``detnas.evaluate.distill``: class logits and
  DFL box distributions of the parent as targets, no labels) on the training images at ``DISTILL_IMGSZ`` px for a
  budget of CPU minutes (``--minutes``, per design).
- Cost: ``cpu_minutes`` is the CPU time of this process (all its threads) spent in that stage alone, not counting
  validation, so figures hold on a busy machine; wall seconds are stored beside them.
- Retention: the share of the parent's confident detections (score > 0.25) that the network keeps (same class, IoU
  >= 0.5, ``detnas.inherit.retention``) on 32 held-out images at 640 px.

Usage:  python benchmarks/recovery.py [--designs yolo11n-w0.75 ...] [--minutes 30] [--out runs/recovery]
Each (design, stage) row is written to ``OUT/rows/`` as it comes; a rerun skips what exists.
Writes ``benchmarks/results/recovery.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

import torch  # noqa: E402

from detnas.datasets import dataset_yaml, split_val  # noqa: E402
from detnas.designs import thinned  # noqa: E402
from detnas.evaluate.data import prepare_data  # noqa: E402
from detnas.evaluate.distill import DistillSettings, distill  # noqa: E402
from detnas.evaluate.environment import environment_info, git_commit  # noqa: E402
from detnas.evaluate.metrics import run_validation  # noqa: E402
from detnas.evaluate.recipe import fine_tune_recipe  # noqa: E402
from detnas.evaluate.worker import REC_IMAGES, REC_IMGSZ  # noqa: E402
from detnas.genome import ArchGenome  # noqa: E402
from detnas.inherit.candidate import inherit, save_checkpoint  # noqa: E402
from detnas.inherit.checkpoint import load_parent  # noqa: E402
from detnas.inherit.retention import retention  # noqa: E402
from detnas.models import default_parents  # noqa: E402
from detnas.proxies.training_free import real_batches  # noqa: E402
from detnas.proxies.val_loss import letterboxed_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "recovery.json"
IMGSZ = 640
DISTILL_IMGSZ = 416
STAGES = ("sliced", "reconstructed", "fine-tuned", "distilled")
GOAL = {"design": "yolo11n-w0.75", "map50_95": 0.25, "cpu_minutes": 30}


def _half_stage(genome: ArchGenome, index: int) -> ArchGenome:
    stages = list(genome.backbone.stages)
    s = stages[index]
    half = max(16, s.block.channels // 2)
    stages[index] = dataclasses.replace(s, down_channels=half, block=dataclasses.replace(s.block, channels=half))
    return dataclasses.replace(genome, backbone=dataclasses.replace(genome.backbone, stages=tuple(stages)))


def designs(parent: ArchGenome) -> dict[str, ArchGenome]:
    return {
        "yolo11n-w0.75": thinned(parent, width=0.75),
        "yolo11n-w0.5": thinned(parent, width=0.5),
        "yolo11n-p3x0.5": _half_stage(parent, 1),
        "yolo11n-p4x0.5": _half_stage(parent, 2),
        "yolo11n-p5x0.5": _half_stage(parent, 3),
    }


class Bench:
    """The shared pieces of one run: parent, data halves, held-out validation, retention images."""

    def __init__(self, out: Path):
        self.out = out
        self.search, self.heldout = split_val(dataset_yaml("coco_proxy"), out / "data", seed=0)
        self.parent_path = next(p for p in default_parents() if p.name == "yolo11n.pt")
        self.parent = load_parent(self.parent_path)
        self.prepared = prepare_data(self.heldout, fine_tune_recipe(imgsz=IMGSZ), out / "heldout", check=False)
        ds = letterboxed_dataset(self.heldout, "val", imgsz=IMGSZ, batch=32)
        self.retention_images = ds.collate_fn([ds[i] for i in range(min(32, len(ds)))])["img"].float() / 255

    def rec_images(self) -> torch.Tensor:
        return real_batches(self.search, imgsz=REC_IMGSZ, batch=REC_IMAGES, count=1, seed=0)[0]["img"]

    def measure(self, weights: Path, model: torch.nn.Module, folder: Path) -> dict:
        metrics = run_validation(
            weights,
            self.prepared.data_yaml,
            imgsz=IMGSZ,
            batch=8,
            device="cpu",
            save_dir=folder / "val",
            names=self.prepared.names,
            val_images=self.prepared.val_images,
            coco_annotations=self.prepared.coco_annotations,
        )
        kept = retention(model, self.parent.model, self.retention_images)
        return {
            "map50_95": round(metrics.map50_95, 4),
            "map50": round(metrics.map50, 4),
            "metric_source": metrics.metric_source,
            "retention": kept.to_dict(),
        }


def _load(weights: Path) -> torch.nn.Module:
    from ultralytics.nn.tasks import load_checkpoint

    return load_checkpoint(str(weights), device="cpu", fuse=False)[0].float()


def run_design(bench: Bench, name: str, genome: ArchGenome, minutes: float, log=print) -> list[dict]:
    folder = bench.out / name
    rows_dir = bench.out / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    rows = []

    def stage(label: str, build) -> dict:
        cache = rows_dir / f"{name}__{label}.json"
        if cache.is_file():
            row = json.loads(cache.read_text())
        else:
            where = folder / label
            cpu, wall = time.process_time(), time.perf_counter()
            model, extra = build(where)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            weights = save_checkpoint(model, where / "weights.pt")
            row = {"design": name, "stage": label, "imgsz": IMGSZ, "genome_id": genome.id}
            row.update(bench.measure(weights, model, where))
            row.update(cpu_minutes=round(cpu / 60, 2), wall_seconds=round(wall, 1), weights=str(weights), **extra)
            cache.write_text(json.dumps(row, indent=2))
        log(
            f"{name:15s} {label:13s} mAP50-95 {row['map50_95']:.4f}  retention {row['retention']['fraction']:.2f}"
            f"  {row['cpu_minutes']:.1f} CPU-min"
        )
        rows.append(row)
        return row

    parents = [bench.parent]
    names = bench.parent.model.names

    def sliced(_where):
        model, inheritance = inherit(genome, parents, nc=80, names=names, seed=0)
        return model, {"inheritance": {"methods": inheritance.methods, "fraction": inheritance.fraction}}

    def reconstructed(_where):
        model, inheritance = inherit(genome, parents, nc=80, names=names, seed=0, images=bench.rec_images)
        return model, {"reconstruction": inheritance.reconstruction}

    stage("sliced", sliced)
    rec = stage("reconstructed", reconstructed)

    def fine_tuned(where):
        from detnas.architecture import write_yaml
        from detnas.evaluate.training import proxy_train

        recipe = fine_tune_recipe(imgsz=IMGSZ)
        data = prepare_data(bench.search, recipe, where / "data", check=False)
        arch = write_yaml(genome.with_imgsz(IMGSZ), where / "arch.yaml")
        result = proxy_train(arch, data.data_yaml, recipe, project=where, init_weights=Path(rec["weights"]))
        return _load(result.last), {"recipe": recipe.to_dict()}

    def distilled(where):
        model = _load(Path(rec["weights"]))
        settings = DistillSettings(cpu_limit_s=minutes * 60, batch=8, seed=0)
        report = distill(model, bench.parent.model, bench.search, imgsz=DISTILL_IMGSZ, settings=settings)
        return model, {"distillation": report.to_dict(), "distill_imgsz": DISTILL_IMGSZ}

    stage("fine-tuned", fine_tuned)
    stage("distilled", distilled)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "recovery")
    parser.add_argument("--designs", nargs="+", default=None, help="names from the protocol (default: all five)")
    parser.add_argument("--minutes", type=float, default=30.0, help="distillation budget per design, CPU minutes")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        print(f"error: --minutes must be positive, got {args.minutes}", file=sys.stderr)
        return 2
    if not any(p.name == "yolo11n.pt" for p in default_parents()):
        print("error: yolo11n.pt is needed: put it in $DETNAS_WEIGHTS", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    bench = Bench(args.out)
    catalogue = designs(bench.parent.genome)
    chosen = args.designs or list(catalogue)
    unknown = [d for d in chosen if d not in catalogue]
    if unknown:
        print(f"error: unknown design(s) {unknown}: choose from {sorted(catalogue)}", file=sys.stderr)
        return 2
    parent_row = bench.measure(bench.parent_path, bench.parent.model, args.out / "parent")
    print(f"{'yolo11n':15s} {'parent':13s} mAP50-95 {parent_row['map50_95']:.4f}", flush=True)
    rows = []
    for name in chosen:
        rows += run_design(bench, name, catalogue[name], args.minutes, log=lambda m: print(m, flush=True))
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    kept = [r for r in previous.get("rows", []) if r["design"] not in chosen]
    all_rows = kept + rows
    target = [r for r in all_rows if r["design"] == GOAL["design"] and r["stage"] != "sliced"]
    met = any(r["map50_95"] >= GOAL["map50_95"] and r["cpu_minutes"] <= GOAL["cpu_minutes"] for r in target)
    result = {
        "benchmark": "recovery",
        "commit": git_commit(ROOT),
        "environment": environment_info(),
        "protocol": __doc__.split("Usage:")[0].strip(),
        "data": {"task": "coco_proxy", "split_seed": 0, "heldout_images": len(bench.prepared.val_images)},
        "imgsz": IMGSZ,
        "distill_imgsz": DISTILL_IMGSZ,
        "distill_cpu_minutes": {r["design"]: r["cpu_minutes"] for r in all_rows if r["stage"] == "distilled"},
        "parent": {"design": "yolo11n", "imgsz": IMGSZ, **parent_row},
        "rows": all_rows,
        "goal": GOAL | {"met": met},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}; goal (w0.75 >= 0.25 mAP50-95 within 30 CPU-min): {'met' if met else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
