"""``detnas evaluate``: evaluate one architecture YAML from the command line and write its JSON record."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detnas.cli.common import (
    add_head_probe_argument,
    add_proxy_arguments,
    device,
    number_at_least,
    parents_from,
    parse_imgsz,
    positive_float,
    positive_int,
    recipe_from_args,
    resolve_data,
    resolve_parents,
    training_subset,
)
from detnas.errors import InputError
from detnas.evaluate.latency import DEFAULT_RUNS, DEFAULT_THREADS, default_cache_path
from detnas.evaluate.record import Evaluation


def add_parser(subparsers) -> None:
    """Register ``evaluate`` on an argparse subparsers object (``parser.add_subparsers(dest="command")``)."""
    p = subparsers.add_parser(
        "evaluate",
        help="train, validate and time one architecture YAML (proxy recipe), write its JSON record",
        description="Train ARCH.yaml briefly with Ultralytics' trainer in a child process, measure mAP50-95 "
        "(pycocotools where COCO JSON exists), latency and cost, and write one JSON record. Exit 0 when the "
        "candidate evaluated, 1 when it failed (reason in the record), 2 on bad input.",
    )
    p.add_argument("arch", type=Path, metavar="ARCH.yaml", help="Ultralytics model YAML of the candidate")
    p.add_argument("--data", required=True, help="detection data YAML, or a dataset name such as coco8 or coco_mini")
    p.add_argument("--epochs", type=positive_int, default=None, help="training epochs, >= 1 (default 1)")
    p.add_argument(
        "--imgsz",
        type=parse_imgsz,
        default=None,
        help="train/val/latency image size, a multiple of 32 (default 320; a design YAML with 'imgsz:' is evaluated "
        "at that size and refuses another)",
    )
    p.add_argument("--batch", type=positive_int, default=None, help="training batch size, >= 1 (default 16)")
    p.add_argument(
        "--subset",
        type=training_subset,
        default=None,
        help="seeded random training subset: a count >= 1 (64) or a fraction in (0, 1] (0.25); default all images",
    )
    p.add_argument("--seed", type=int, default=0, help="subset and training seed (default 0)")
    p.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="S",
        help="stop training gracefully after S seconds, > 0 (weights so far are validated)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help="hard wall-clock limit of the whole evaluation, > 0; the child process is killed after it",
    )
    p.add_argument(
        "--device", type=device, default="cpu", help="device for training and validation: cpu, 0 ... (default cpu)"
    )
    p.add_argument(
        "--latency-backend",
        choices=("torch", "onnx", "none"),
        default="torch",
        help="latency backend: torch eager, ONNX Runtime CPU, or none (default torch)",
    )
    p.add_argument(
        "--threads", type=positive_int, default=None, help=f"latency threads, >= 1 (default {DEFAULT_THREADS})"
    )
    p.add_argument(
        "--runs", type=number_at_least(2), default=None, help=f"timed latency runs, >= 2 (default {DEFAULT_RUNS})"
    )
    p.add_argument(
        "--latency-cache",
        type=Path,
        default=None,
        help=f"latency cache JSON (default $DETNAS_LATENCY_CACHE or {default_cache_path()})",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="working folder for data lists, the training run and logs (default runs/detnas-evaluate/...)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output JSON file, or a folder to write ARCH.json into (default WORKDIR/evaluation.json)",
    )
    add_proxy_arguments(p, default="map")
    add_head_probe_argument(p)
    p.set_defaults(func=run_evaluate)


def summary(evaluation: Evaluation, out: Path) -> str:
    """One screen of text: status, accuracy, cost, latency, phase times, where the record went."""
    e = evaluation
    lines = [f"{Path(e.arch_yaml).name}: {e.status.upper()}" + (f" in phase '{e.failure_phase}'" if not e.ok else "")]
    if e.failure_reason:
        lines.append(f"  reason     {e.failure_reason}")
    r = e.recipe
    lines.append(
        f"  data       {e.data}  train {e.train_images} imgs (subset={r.subset}, seed={r.seed}), "
        f"val {e.val_images} imgs"
    )
    lines.append(f"  recipe     epochs={r.epochs} imgsz={r.imgsz} batch={r.batch} optimizer={r.optimizer} lr0={r.lr0}")
    if e.epochs:
        last = e.epochs[-1]
        lines.append(
            f"  losses     epoch {last.epoch}: box={last.box} cls={last.cls} dfl={last.dfl}"
            + ("  (stopped by time limit)" if e.stopped_by_time_limit else "")
        )
    if e.proxy:
        extra = {k: round(v, 4) if isinstance(v, float) else v for k, v in e.proxy.details.items()}
        lines.append(f"  score      {e.proxy.proxy} {e.proxy.score:.5g}  {extra}")
    if e.metrics:
        m = e.metrics
        lines.append(
            f"  mAP50-95   {m.map50_95:.4f}  mAP50 {m.map50:.4f}  ({m.metric_source}; ultralytics "
            f"{m.map50_95_ultralytics:.4f}/{m.map50_ultralytics:.4f})"
        )
    if e.cost:
        gflops = f"{e.cost.gflops:.3f}" if e.cost.gflops is not None else "n/a"
        lines.append(f"  cost       {e.cost.params:,} params, {gflops} GFLOPs at {e.cost.imgsz} (fused)")
    if e.latency:
        t = e.latency
        lines.append(
            f"  latency    {t.median_ms:.2f} ms median (p10 {t.p10_ms:.2f}, p90 {t.p90_ms:.2f}, std "
            f"{t.std_ms:.2f}) {t.backend}, {t.threads} thread(s), {t.device_name}" + (" [cached]" if t.cached else "")
        )
    phases = "  ".join(f"{k} {v:.1f}" for k, v in e.phase_seconds.items())
    lines.append(f"  seconds    {phases}  (total {e.total_seconds:.1f})")
    if e.weights_last:
        lines.append(f"  weights    {e.weights_last}")
    lines.append(f"  record     {out}")
    return "\n".join(lines)


def _refuse_ignored(args: argparse.Namespace, proxy) -> None:
    """Options the chosen proxy or latency backend would silently ignore are usage errors (one line, exit 2)."""
    checks = [
        (not proxy.trains, ("--epochs", "--batch", "--time-limit"), f"proxy {proxy.name!r} does not train"),
        (
            not proxy.inherits,
            ("--parent", "--parent-run", "--head-probe", "--distill"),
            f"proxy {proxy.name!r} does not inherit weights",
        ),
        (
            args.latency_backend == "none",
            ("--threads", "--runs", "--latency-cache"),
            "--latency-backend none measures no latency",
        ),
    ]
    for applies, flags, why in checks:
        for flag in flags if applies else ():
            if getattr(args, flag[2:].replace("-", "_")) is not None:
                raise InputError(f"{flag} does not apply: {why}; drop {flag}")


def run_evaluate(args: argparse.Namespace) -> int:
    """Handler of ``detnas evaluate``: 0 evaluated, 1 candidate failed, 2 bad input."""
    from detnas.architecture import arch_sha256, check_arch_yaml, load_arch_yaml
    from detnas.evaluate.candidate import evaluate_candidate
    from detnas.evaluate.data import load_data_yaml
    from detnas.proxies import get_proxy

    try:
        proxy = get_proxy(args.proxy)
        _refuse_ignored(args, proxy)
        recipe = recipe_from_args(args, fine_tune=proxy.inherits, scratch={"epochs": 1, "imgsz": 320})
        data = resolve_data(args.data)
        spec = load_data_yaml(data)
        parents = resolve_parents(parents_from(args), nc=spec.nc, names=spec.names)
        check_arch_yaml(args.arch, spec.nc)
        searched = load_arch_yaml(args.arch).get("imgsz")
        if args.imgsz is not None and searched is not None and args.imgsz != searched:
            raise InputError(
                f"--imgsz {args.imgsz} does not apply to {args.arch}: the design was searched at {searched} "
                "('imgsz:' in the YAML) and is trained, scored and timed at that size; drop --imgsz"
            )
        workdir = args.workdir or Path("runs") / "detnas-evaluate" / f"{args.arch.stem}-{arch_sha256(args.arch)[:10]}"
        if args.out is None:
            out = Path(workdir) / "evaluation.json"
        elif args.out.suffix == ".json":
            out = args.out
        else:
            out = args.out / f"{args.arch.stem}.json"
        evaluation = evaluate_candidate(
            args.arch,
            data,
            recipe,
            workdir=workdir,
            device=args.device,
            latency_backend=None if args.latency_backend == "none" else args.latency_backend,
            timeout_s=args.timeout,
            latency_threads=DEFAULT_THREADS if args.threads is None else args.threads,
            latency_runs=DEFAULT_RUNS if args.runs is None else args.runs,
            latency_cache=args.latency_cache,
            proxy=args.proxy,
            parents=parents,
        )
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    evaluation.to_json(out)
    print(summary(evaluation, out))
    return 0 if evaluation.ok else 1
