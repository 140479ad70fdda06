"""Real evaluations of the pretrained-anchored space, the data a surrogate benchmark for search strategies is fit to.

Recipe (fixed; a rerun measures the same thing):
- Space: ``detnas.space.anchored_space(imgsizes=...)``; parents the COCO-trained ``yolo11n.pt``, ``yolov8n.pt``,
  ``yolov5nu.pt``. The input size is a gene, as in ``detnas search`` with checkpoints: by default every size from 320
  to 640 px in steps of 32 (``--imgsizes``); the parents are placed at the largest, as the search places its seeds,
  and a mutated parent starts from a uniformly drawn size, so every size is seen.
- Architectures (``random.Random(14)``): the 3 parents' genomes, then a repeating cycle of four kinds so every prefix
  of the list is balanced: a parent with 1 mutation, a parent with 2-4 mutations, a parent with 5-30 mutations and a
  uniform draw within a parent's family (``space.sample``), i.e. the designs an evolutionary, a random and an RL
  search visit. Duplicates are skipped.
- Score: the ``pretrained-zero`` proxy (``detnas.inherit``: parent covering most, importance slicing, Net2Net growth,
  sliced layers refitted to the parent's outputs by ``detnas.inherit.reconstruct``, BatchNorm re-estimated where the
  function changed; no fine-tune), pycocotools mAP50-95 on the 159-image *search* half of ``coco_proxy`` val (the
  split of ``benchmarks/pretrained_fidelity.py``) at the design's own input size. Each row keeps the inheritance's
  ``methods`` and whether it sliced a layer (``sliced``) or changed the parent's function (``changes_function``).
- Latency: the search's own measurement (``evaluate_candidate``, torch backend, the design's input size, 1 thread,
  10 warm-up runs, median of 50), on this machine.

``benchmarks/results/surrogate_evaluations.jsonl`` keeps the first 150 rows, collected at commit b8b4750 at 320 px
before reconstruction existed (sliced designs: BatchNorm re-estimation only); this recipe writes
``benchmarks/results/surrogate_evaluations_sized.jsonl``, the data the strategy benchmark fits by default.

Usage:  python benchmarks/surrogate_data.py [--count 240] [--imgsizes 320-640] [--out runs/surrogate_data]
        [--shard K/N]   (N processes, K = 0..N-1, fill one file together: each takes every N-th architecture)
Each result is appended as one JSON line to ``--data`` (default the sized file) as it comes; a rerun skips ids already
there, so a stop resumes. The recipe is written beside it (``<data>.recipe.json``) with the commit and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pretrained_fidelity import split_val  # noqa: E402

from detnas.architecture import write_yaml  # noqa: E402
from detnas.cli.common import parse_sizes  # noqa: E402
from detnas.evaluate.candidate import evaluate_candidate  # noqa: E402
from detnas.evaluate.environment import environment_info, git_commit  # noqa: E402
from detnas.evaluate.recipe import fine_tune_recipe  # noqa: E402
from detnas.evaluate.request import WorkerResult  # noqa: E402
from detnas.genome import ArchGenome  # noqa: E402
from detnas.inherit.checkpoint import load_parent  # noqa: E402
from detnas.models import default_parents  # noqa: E402
from detnas.search.config import SEARCH_SIZES  # noqa: E402
from detnas.space import SearchSpace, anchored_space  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "surrogate_evaluations_sized.jsonl"
KINDS = ("mutation-1", "mutation-2-4", "mutation-5-30", "sample")


def architectures(
    parents: list[ArchGenome], *, count: int, seed: int = 14, space: SearchSpace | None = None
) -> list[tuple[str, ArchGenome]]:
    """The parents, then the four-kind cycle of the recipe, ``count`` distinct genomes in all."""
    space = space or anchored_space()
    rng = random.Random(seed)
    parents = [space.place(g) for g in parents]
    chosen: list[tuple[str, ArchGenome]] = [("parent", g) for g in parents]
    seen = {g.id for g in parents}
    step = 0
    while len(chosen) < count:
        kind = KINDS[step % len(KINDS)]
        step += 1
        if kind == "sample":
            genome = space.sample(rng)
        else:
            low, high = {"mutation-1": (1, 1), "mutation-2-4": (2, 4), "mutation-5-30": (5, 30)}[kind]
            genome = rng.choice(parents)
            if space.imgsizes:  # at any searched size, so the size gene is learnt everywhere, not only near 640
                genome = genome.with_imgsz(rng.choice(space.imgsizes))
            for _ in range(rng.randint(low, high)):
                genome = space.mutate(genome, rng)
        if genome.id not in seen:
            seen.add(genome.id)
            chosen.append((kind, genome))
    return chosen


def evaluate(kind: str, genome: ArchGenome, *, data: Path, out: Path, parents: list[Path]) -> dict:
    """One pretrained-zero evaluation with latency; the row the surrogate is fit to."""
    workdir = out / genome.id
    arch = write_yaml(genome, workdir / f"{genome.id}.yaml")
    t0 = time.perf_counter()
    evaluation = evaluate_candidate(
        arch,
        data,
        fine_tune_recipe(),
        workdir=workdir / "eval",
        latency_backend="torch",
        proxy="pretrained-zero",
        parents=parents,
        latency_cache=out / "latency_cache.json",
        genome_id=genome.id,
    )
    row: dict = {"id": genome.id, "kind": kind, "genome": genome.to_dict(), "status": evaluation.status}
    if evaluation.status == "ok":
        record = json.loads((workdir / "eval" / "evaluation.json").read_text())
        details = record["proxy"]["details"]
        inheritance = WorkerResult.from_json(workdir / "eval" / "result.json").inheritance or {}
        methods = inheritance.get("methods", {})
        row.update(
            imgsz=genome.imgsz or 320,
            methods=methods,
            sliced=methods.get("sliced", 0) > 0,
            changes_function=inheritance.get("changes_function"),
            map50_95=record["proxy"]["score"],
            latency_ms=record["latency"]["median_ms"],
            params=record["cost"]["params"],
            gflops=record["cost"]["gflops"],
            parent=details.get("parent"),
            inherited_fraction=details.get("inherited_fraction"),
        )
    else:
        row["failure_reason"] = evaluation.failure_reason
    row["seconds"] = round(time.perf_counter() - t0, 2)
    shutil.rmtree(workdir / "eval", ignore_errors=True)  # weights and logs: megabytes each, not needed again
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=240)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "surrogate_data")
    parser.add_argument("--data", type=Path, default=RESULTS, help=f"JSONL of results (default {RESULTS})")
    parser.add_argument(
        "--imgsizes",
        type=parse_sizes,
        default=SEARCH_SIZES,
        help="input sizes searched with the network: '320-640' (every 32 px, the default), '320,416' or 'none' (320)",
    )
    parser.add_argument("--shard", default="0/1", help="K/N: evaluate only the architectures whose index is K mod N")
    args = parser.parse_args(argv)
    try:
        shard, shards = (int(v) for v in args.shard.split("/"))
        if not 0 <= shard < shards:
            raise ValueError
    except ValueError:
        print(f"error: --shard {args.shard!r} is not K/N with 0 <= K < N: e.g. --shard 1/2", file=sys.stderr)
        return 2
    if args.count < 3:
        print(f"error: --count {args.count} is below the 3 parents: pass --count 150 or more", file=sys.stderr)
        return 2
    parent_paths = default_parents()
    if len(parent_paths) < 3:
        print("error: yolo11n.pt, yolov8n.pt and yolov5nu.pt are needed: put them in $DETNAS_WEIGHTS", file=sys.stderr)
        return 2
    parents = [load_parent(p).genome for p in parent_paths]
    space = anchored_space(imgsizes=tuple(args.imgsizes))
    search, _ = split_val(args.out / "data")
    recipe = args.data.with_suffix(".recipe.json")
    recipe.parent.mkdir(parents=True, exist_ok=True)
    recipe.write_text(
        json.dumps(
            {
                "recipe": __doc__.split("Usage:")[0].strip(),
                "proxy": "pretrained-zero",
                "data": "coco_proxy val, search half (159 images, benchmarks/pretrained_fidelity.py split_val)",
                "imgsizes": list(args.imgsizes) or [320],
                "inheritance": "current (reconstruction of sliced layers), at the commit below",
                "commit": git_commit(ROOT),
                "latency": {"backend": "torch", "threads": 1, "warmup": 10, "runs": 50, "statistic": "median"},
                "parents": [str(p) for p in parent_paths],
                "machine": environment_info(),
            },
            indent=1,
        )
        + "\n"
    )
    done = set()
    if args.data.is_file():
        done = {json.loads(line)["id"] for line in args.data.read_text().splitlines() if line.strip()}
    for i, (kind, genome) in enumerate(architectures(parents, count=args.count, space=space)):
        if genome.id in done or i % shards != shard:
            continue
        row = evaluate(kind, genome, data=search, out=args.out, parents=parent_paths)
        with args.data.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(
            f"{i:4d} {kind:14s} {row.get('imgsz', '-')!s:>4s} {row['status']:6s} "
            f"mAP {row.get('map50_95', float('nan')):.4f} "
            f"{row.get('latency_ms', float('nan')):6.1f} ms  {row['seconds']:5.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
