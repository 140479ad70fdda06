"""``detnas benchmark``: found designs against baselines and pre-trained references on one protocol."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detnas.benchmark.compare import (
    DEFAULT_BASELINES,
    BenchmarkRow,
    is_run_folder,
    run_benchmark,
    run_config,
)
from detnas.cli.common import (
    check_weights_dir,
    device,
    existing_folder,
    non_negative_int,
    number_at_least,
    parse_imgsz,
    parse_sizes,
    positive_int,
)
from detnas.evaluate.latency import DEFAULT_RUNS, DEFAULT_THREADS, DEFAULT_WARMUP

DEFAULT_BATCH, DEFAULT_DEVICE = 8, "cpu"


def add_parser(subparsers) -> None:
    """``detnas benchmark``: register the sub-command on an argparse sub-parsers object."""
    from detnas.designs import NAMED_DESIGNS

    p = subparsers.add_parser(
        "benchmark",
        help="mAP, latency, params and GFLOPs of found designs, equal-budget baselines and pre-trained models",
        description="Benchmark models on one data YAML and write benchmark.md/.csv/.json/.png into --out. A model "
        "is a search run folder (its Pareto front plus equal-budget baselines), a .pt/.yaml/.tflite path, or a "
        "name (yolo11n, yolov8n, yolo26n, yolo_nas_s, ...) looked up in --weights-dir, $DETNAS_WEIGHTS and "
        "Ultralytics' weights_dir.",
    )
    p.add_argument("--models", nargs="+", required=True, metavar="M", help="run folders, weight files or names")
    p.add_argument("--data", help="Ultralytics data YAML (default: the run folder's search data)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--imgsz",
        type=parse_imgsz,
        default=None,
        help="image size, a multiple of 32 (default: the run's recipe, else 640)",
    )
    p.add_argument("--batch", type=positive_int, default=None, help=f"validation batch (default {DEFAULT_BATCH})")
    p.add_argument(
        "--device", type=device, default=None, help=f"validation and latency device (default {DEFAULT_DEVICE})"
    )
    p.add_argument(
        "--weights-dir",
        type=existing_folder,
        metavar="DIR",
        help="folder of named weights (default $DETNAS_WEIGHTS, then Ultralytics' weights_dir)",
    )
    p.add_argument(
        "--baselines",
        nargs="*",
        default=None,
        metavar="NAME",
        help=f"equal-budget baselines per run folder, of {', '.join(sorted(NAMED_DESIGNS))} (default "
        f"{' '.join(DEFAULT_BASELINES)}; none: pass no name)",
    )
    p.add_argument(
        "--latency-backend",
        choices=["torch", "onnx"],
        default=None,
        help="backend for Ultralytics checkpoints (default torch)",
    )
    p.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        metavar="SIZES",
        help="pretrained-anchored run folders: input sizes of the baseline curves (default 640,512,416,320)",
    )
    p.add_argument(
        "--checkpoints",
        nargs="+",
        type=Path,
        default=None,
        metavar="PT",
        help="pretrained-anchored run folders: COCO-trained checkpoints drawn as baselines (default: the run's "
        "parents)",
    )
    p.add_argument(
        "--threads", type=positive_int, default=DEFAULT_THREADS, help=f"latency threads (default {DEFAULT_THREADS})"
    )
    p.add_argument(
        "--warmup", type=non_negative_int, default=DEFAULT_WARMUP, help=f"warm-up runs, >= 0 (default {DEFAULT_WARMUP})"
    )
    p.add_argument(
        "--runs", type=number_at_least(2), default=DEFAULT_RUNS, help=f"timed runs, >= 2 (default {DEFAULT_RUNS})"
    )
    p.set_defaults(func=_benchmark_command)


def _sizes(text: str) -> tuple[int, ...]:
    sizes = parse_sizes(text)
    if not sizes:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one size (e.g. 640,512,416,320)")
    return tuple(sorted(sizes, reverse=True))


def _anchored_run(models: list[str]) -> Path | None:
    """The one run folder given when it is a pretrained-anchored search (its candidates inherit checkpoints)."""
    if len(models) != 1 or not is_run_folder(models[0]):
        return None
    return Path(models[0]) if run_config(Path(models[0])).get("parents") else None


def _frontier_command(args, run: Path) -> int:
    """``detnas benchmark RUN`` for a pretrained-anchored run: the protocol of ``detnas.benchmark.frontier``."""
    from detnas.benchmark.frontier import DEFAULT_SIZES, FrontierProtocol, markdown, run_frontier, write_results
    from detnas.cli.common import resolve_data

    ignored = [
        flag
        for flag, value in (
            ("--imgsz", args.imgsz),
            ("--baselines", args.baselines),
            ("--latency-backend", args.latency_backend),
            ("--batch", args.batch),
            ("--device", args.device),
            ("--weights-dir", args.weights_dir),
        )
        if value is not None
    ]
    if ignored:
        raise ValueError(
            f"{ignored[0]} does not apply to a pretrained-anchored run folder: its benchmark measures every size of "
            "--sizes with ONNX Runtime on CPU against the --checkpoints (drop the option)"
        )
    for path in args.checkpoints or ():
        if not path.is_file():
            raise ValueError(f"checkpoint {path} does not exist: pass COCO-trained .pt files to --checkpoints")
    protocol = FrontierProtocol(
        sizes=args.sizes or DEFAULT_SIZES, threads=args.threads, warmup=args.warmup, rounds=args.runs
    )
    out = Path(args.out)
    heldout = resolve_data(args.data) if args.data else None
    print(
        f"benchmark: {run} is a pretrained-anchored search, so it is measured by the frontier protocol: found "
        f"designs against the checkpoints at {', '.join(map(str, protocol.sizes))} px on held-out images, ONNX "
        "Runtime latency interleaved (writes frontier.json/.csv/.png)",
        file=sys.stderr,
    )
    result = run_frontier(
        run,
        out,
        heldout=heldout,
        checkpoints=args.checkpoints,
        protocol=protocol,
        log=lambda text: print(text, file=sys.stderr),
    )
    if not result["rows"]:
        print(f"error: {run}: no row could be measured (see the messages above)", file=sys.stderr)
        return 1
    used = result["protocol"]  # the own-classes protocol when the run's data has other classes than the checkpoints
    protocol_record = used.to_dict() | {"repeat_agreement": result["repeat_agreement"]}
    meta = {"protocol": protocol_record, "run": str(run), "heldout": result["heldout"]}
    title = f"{run}: found designs against checkpoints"
    paths = write_results(result["rows"], meta, out / "frontier.json", title, protocol=used)
    print(markdown(result["rows"]))
    print("wrote", ", ".join(str(p) for p in paths.values()))
    return 0


def _benchmark_command(args) -> int:
    from detnas.designs import NAMED_DESIGNS

    run = _anchored_run(args.models)
    if run is not None:
        return _frontier_command(args, run)
    for flag, value in (("--sizes", args.sizes), ("--checkpoints", args.checkpoints)):
        if value is not None:
            raise ValueError(f"{flag} applies to one pretrained-anchored search run folder only: drop it here")
    args.baselines = list(DEFAULT_BASELINES) if args.baselines is None else args.baselines
    args.latency_backend = args.latency_backend or "torch"
    unknown = sorted(set(args.baselines) - set(NAMED_DESIGNS))
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}: choose from {sorted(NAMED_DESIGNS)}")
    check_weights_dir(args.weights_dir, args.models)
    result = run_benchmark(
        models=args.models,
        out=args.out,
        data=args.data,
        imgsz=args.imgsz,
        batch=args.batch or DEFAULT_BATCH,
        device=DEFAULT_DEVICE if args.device is None else args.device,
        weights_dir=args.weights_dir,
        baselines=tuple(args.baselines),
        latency_backend=args.latency_backend,
        threads=args.threads,
        warmup=args.warmup,
        runs=args.runs,
    )
    failed = [row for row in result.rows if row.status != "ok"]
    written = f"wrote {', '.join(str(p) for p in result.outputs.values())}"
    if len(failed) == len(result.rows):  # nothing measured: the table holds reasons only
        print(written)
        if not result.rows:  # run folders with an empty front and no baselines
            given = " ".join(args.models)
            print(f"error: {given}: no model to benchmark; pass weight files, names or --baselines", file=sys.stderr)
        for row in failed:
            print(f"error: {_failure(row)}", file=sys.stderr)
        return 1
    print(result.outputs["md"].read_text())
    print(written)
    for row in failed:
        print(f"warning: not measured: {_failure(row)}", file=sys.stderr)
    return 0


def _failure(row: BenchmarkRow) -> str:
    """A row's reason, prefixed with its label unless the reason already names the file."""
    reason = row.reason or "unknown reason"
    named = row.label in reason or (row.source is not None and row.source in reason)
    return reason if named else f"{row.label}: {reason}"
