"""Which parts of the reconstruction keep a thinned network close to its parent on images the fit never saw?

Protocol (fixed):
- Parent: the shared ``yolo11n.pt``; child: YOLO11n uniformly thinned to ``--width`` (default 0.75), sliced by
  importance (``detnas.inherit``).
- Fit: 64 letterboxed training images of ``coco_proxy``'s search half (seed 0) at ``--imgsz`` (default 320).
- Judged on 32 images of the held-out half of ``coco_proxy`` val (split seed 0), never fitted: the class and box
  divergence from the parent (``detnas.inherit.divergence``: class BCE above the parent's own entropy, DFL KL weighted
  by the parent's confidence) and the share of the parent's confident detections kept (``detnas.inherit.retention``).
- Variants of ``detnas.inherit.reconstruct.reconstruct``: the plain slice; the default; without block-output targets;
  without the intercept; with the ridge fixed at 1e-3 instead of chosen on held-apart images; and the first version's
  settings (fixed ridge 1e-3, no intercept, no block targets, 4 samples per unknown).
- Cost: CPU seconds of this process for the inheritance with reconstruction.

Usage:  python benchmarks/reconstruction_ablation.py [--width 0.75] [--imgsz 320]
Writes ``benchmarks/results/reconstruction_ablation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

import detnas.inherit.candidate as candidate  # noqa: E402
from detnas.datasets import dataset_yaml, split_val  # noqa: E402
from detnas.designs import thinned  # noqa: E402
from detnas.evaluate.environment import environment_info, git_commit  # noqa: E402
from detnas.inherit.checkpoint import load_parent  # noqa: E402
from detnas.inherit.divergence import divergence  # noqa: E402
from detnas.inherit.reconstruct import reconstruct  # noqa: E402
from detnas.inherit.retention import retention  # noqa: E402
from detnas.models import default_parents  # noqa: E402
from detnas.proxies.training_free import real_batches  # noqa: E402
from detnas.proxies.val_loss import letterboxed_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "reconstruction_ablation.json"
VARIANTS: dict[str, dict | None] = {
    "plain slice": None,
    "default": {},
    "no block targets": {"block_targets": False},
    "no intercept": {"intercept": False},
    "fixed ridge 1e-3": {"ridges": (1e-3,)},
    "first version": {"ridges": (1e-3,), "intercept": False, "block_targets": False, "samples_per_unknown": 4},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=float, default=0.75)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "reconstruction_ablation")
    args = parser.parse_args(argv)
    if not 0 < args.width < 1 or args.imgsz < 64 or args.imgsz % 32:
        print("error: --width must lie in (0, 1) and --imgsz be a multiple of 32 >= 64", file=sys.stderr)
        return 2
    path = next((p for p in default_parents() if p.name == "yolo11n.pt"), None)
    if path is None:
        print("error: yolo11n.pt is needed: put it in $DETNAS_WEIGHTS", file=sys.stderr)
        return 2
    search, heldout = split_val(dataset_yaml("coco_proxy"), args.out / "data", seed=0)
    parent = load_parent(path)
    genome = thinned(parent.genome, width=args.width)
    dataset = letterboxed_dataset(heldout, "val", imgsz=args.imgsz, batch=32)
    unseen = dataset.collate_fn([dataset[i] for i in range(32)])["img"].float() / 255
    fit = real_batches(search, imgsz=args.imgsz, batch=64, count=1, seed=0)[0]["img"]
    rows = []
    for name, changes in VARIANTS.items():
        started = time.process_time()
        if changes is None:
            model, inheritance = candidate.inherit(genome, [parent], nc=80, names=parent.model.names, seed=0)
        else:
            candidate.reconstruct = lambda *a, _c=changes, **k: reconstruct(*a, **(k | _c))
            try:
                model, inheritance = candidate.inherit(
                    genome, [parent], nc=80, names=parent.model.names, seed=0, images=lambda: fit
                )
            finally:
                candidate.reconstruct = reconstruct
        cpu = time.process_time() - started
        d = divergence(model, parent.model, unseen)
        kept = retention(model, parent.model, unseen)
        row = {
            "variant": name,
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in (changes or {}).items()},
            "class_divergence_above_parent": round(d["classes"] - d["classes_floor"], 4),
            "box_divergence": round(d["boxes"], 4),
            "retention": kept.to_dict(),
            "reconstruction": inheritance.reconstruction,
            "cpu_seconds": round(cpu, 1),
        }
        rows.append(row)
        print(
            f"{name:18s} class {row['class_divergence_above_parent']:8.4f}  box {row['box_divergence']:8.4f}  "
            f"kept {kept.kept}/{kept.parent_detections} (child {kept.child_detections})  {cpu:.0f} CPU-s",
            flush=True,
        )
    result = {
        "benchmark": "reconstruction_ablation",
        "commit": git_commit(ROOT),
        "environment": environment_info(),
        "protocol": __doc__.split("Usage:")[0].strip(),
        "design": f"yolo11n-w{args.width}",
        "imgsz": args.imgsz,
        "data": {"fit": "coco_proxy search half, train split, 64 images", "judged": "coco_proxy held-out val, 32"},
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
