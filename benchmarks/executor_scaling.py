"""Wall time of one fixed set of candidates with LocalExecutor and RayExecutor at 1 and 2 workers.

Protocol: the same candidates (yolo11n, yolov8n and ``SearchSpace().sample(random.Random(k))`` for k = 0, 1, ...) are
evaluated for real on coco8 at a small recipe (epochs 1, imgsz 64, batch 4) by each configuration, driven the way
``Search.run`` drives an executor (submit while a slot is free, then wait). Configurations are interleaved (local,
ray-1, ray-2, local, ...) so that a drift of the machine's load hits each alike. Every run has a fresh latency cache
(latency is measured, never looked up). ``OMP_NUM_THREADS=1`` (unless already set) is exported before anything
starts, so each evaluation child uses one torch thread under both executors and N workers can use N cores; the Ray
trials reserve 1 CPU each. Ray's start-up (``ray.init`` of a private local instance) is timed apart from the
evaluations; speed-ups are of the evaluation wall time, median over repeats, relative to local.

    python benchmarks/executor_scaling.py [--candidates 4] [--repeats 2] [--out F]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch or Ray start: see the protocol above
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")

from detnas.architecture import write_yaml  # noqa: E402
from detnas.datasets import dataset_yaml  # noqa: E402
from detnas.designs import named_design  # noqa: E402
from detnas.evaluate import Evaluation, Recipe  # noqa: E402
from detnas.evaluate.environment import environment_info  # noqa: E402
from detnas.search.executor import Evaluator, Executor, Job, LocalExecutor  # noqa: E402
from detnas.search.ray_executor import RayExecutor  # noqa: E402
from detnas.space import SearchSpace  # noqa: E402

CONFIGS = {"local": None, "ray-1": 1, "ray-2": 2}  # name -> Ray workers (None: LocalExecutor)


def candidates(n: int, out: Path) -> dict[str, Path]:
    """The fixed candidates as YAMLs: the two named designs, then seeded samples of the space."""
    genomes = [named_design("yolo11n"), named_design("yolov8n")]
    k = 0
    while len(genomes) < n:
        genome = SearchSpace().sample(random.Random(k))
        k += 1
        if genome.id not in {g.id for g in genomes}:
            genomes.append(genome)
    return {g.id: write_yaml(g, out / f"{g.id}.yaml") for g in genomes[:n]}


def drive(executor: Executor, jobs: list[Job]) -> list[Evaluation]:
    """Search.run's steady state without the search: keep every free slot busy until all jobs are back."""
    queue, done = list(jobs), []
    while queue or len(done) < len(jobs):
        while queue and executor.free_slots() > 0:
            executor.submit(queue.pop(0))
        done.extend(evaluation for _, evaluation in executor.wait())
    return done


def run_once(name: str, archs: dict[str, Path], data: Path, recipe: Recipe, root: Path) -> dict:
    evaluator = Evaluator(data=data, recipe=recipe, latency_cache=root / "latency.json")
    jobs = [Job(gid, arch, root / gid) for gid, arch in archs.items()]
    workers = CONFIGS[name]
    startup = 0.0
    if workers is None:
        executor: Executor = LocalExecutor(evaluator)
    else:
        ray_executor = RayExecutor(evaluator, workers=workers, cpus_per_trial=1.0)
        t0 = time.perf_counter()
        ray_executor.start()
        startup = time.perf_counter() - t0
        executor = ray_executor
    try:
        t0 = time.perf_counter()
        evaluations = drive(executor, jobs)
        wall = time.perf_counter() - t0
    finally:
        executor.shutdown()
    failed = [f"{e.genome_id}: {e.failure_reason}" for e in evaluations if not e.ok]
    return {
        "config": name,
        "workers": workers or 1,
        "startup_s": round(startup, 3),
        "wall_s": round(wall, 3),
        "evaluation_s": {e.genome_id: e.total_seconds for e in evaluations},
        "failed": failed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="coco8", help="dataset name or data YAML (default coco8)")
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / (Path(__file__).stem + ".json"))
    args = parser.parse_args(argv)

    data = Path(args.data) if args.data.endswith((".yaml", ".yml")) else dataset_yaml(args.data)
    recipe = Recipe(epochs=1, imgsz=64, batch=4, seed=0)
    env = environment_info()
    import ray

    print(
        f"machine: {env['cpu']} ({env['usable_cpus']} usable CPUs); ray {ray.__version__}; data {data.name}; "
        f"{args.candidates} candidates x {args.repeats} repeats; recipe epochs={recipe.epochs} imgsz={recipe.imgsz} "
        f"batch={recipe.batch}; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}\n",
        flush=True,
    )
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        archs = candidates(args.candidates, Path(tmp) / "archs")
        for repeat in range(args.repeats):
            for name in CONFIGS:
                result = run_once(name, archs, data, recipe, Path(tmp) / f"{name}-{repeat}")
                runs.append({"repeat": repeat, **result})
                print(
                    f"  repeat {repeat} {name:<6} wall {result['wall_s']:7.1f} s  start-up {result['startup_s']:5.1f} s"
                    f"  failed {len(result['failed'])}",
                    flush=True,
                )
    summary = {}
    for name in CONFIGS:
        mine = [r for r in runs if r["config"] == name]
        summary[name] = {
            "median_wall_s": statistics.median(r["wall_s"] for r in mine),
            "median_startup_s": statistics.median(r["startup_s"] for r in mine),
            "median_evaluation_s": statistics.median(s for r in mine for s in r["evaluation_s"].values()),
        }
    local = summary["local"]["median_wall_s"]
    for row in summary.values():
        row["speedup_vs_local"] = round(local / row["median_wall_s"], 3)

    header = f"\n{'executor':<8}{'workers':>8}{'wall s':>10}{'start-up s':>12}{'s/eval':>9}{'speed-up':>10}"
    print(header)
    print("-" * (len(header) - 1))
    for name, row in summary.items():
        print(
            f"{name:<8}{CONFIGS[name] or 1:>8}{row['median_wall_s']:>10.1f}{row['median_startup_s']:>12.1f}"
            f"{row['median_evaluation_s']:>9.1f}{row['speedup_vs_local']:>9.2f}x"
        )
    record = {
        "benchmark": "executor_scaling",
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "machine": {"cpu": env["cpu"], "usable_cpus": env["usable_cpus"], "cpu_count": os.cpu_count()},
        "versions": {
            "python": sys.version.split()[0],
            "ray": ray.__version__,
            "torch": env.get("versions", {}).get("torch"),
        },
        "data": str(data),
        "recipe": recipe.to_dict(),
        "candidates": list(archs),
        "omp_num_threads": os.environ["OMP_NUM_THREADS"],
        "summary": summary,
        "runs": runs,
        "note": "wall_s excludes Ray start-up (startup_s); other processes shared the machine while this ran",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
