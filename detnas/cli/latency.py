"""``detnas latency``: build per-device latency lookup tables and predict from them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_TABLE_RUNS, DEFAULT_TABLE_WARMUP = 30, 5  # those of a new table (detnas.evaluate.latency_table.new_table)


def _latency_build_table(args: argparse.Namespace) -> int:
    from detnas.architecture import genome_from_yaml
    from detnas.designs import NAMED_DESIGNS, named_design
    from detnas.evaluate.latency_table import calibrate, extend_layers, open_or_create, sample_genomes, table_summary

    out = Path(args.out)
    clock = args.clock if args.clock != "auto" else ("cpu" if args.threads == 1 else "wall")
    resumed = out.exists()
    runs, warmup = args.runs or DEFAULT_TABLE_RUNS, DEFAULT_TABLE_WARMUP if args.warmup is None else args.warmup
    table = open_or_create(out, backend=args.backend, threads=args.threads, warmup=warmup, runs=runs, clock=clock)
    for flag, given, kept in (("--runs", args.runs, table.runs), ("--warmup", args.warmup, table.warmup)):
        if resumed and given is not None and given != kept:
            raise ValueError(
                f"{flag} {given} does not apply to {out}: a resumed table keeps its own {flag} {kept} so that its "
                f"layers stay comparable; drop {flag} or choose another --out"
            )
    arch = []
    for path in args.arch or []:
        try:
            arch.append(genome_from_yaml(path).with_nc(args.nc))
        except OSError as exc:
            raise ValueError(f"{path}: cannot be read ({exc.strerror}); pass a YAML written by detnas") from None
    designs = [named_design(n, nc=args.nc) for n in NAMED_DESIGNS] if args.designs else []
    spaces = ("anchored", "full") if args.space == "both" else (args.space,)
    genomes = [*arch, *designs, *sample_genomes(n=args.samples, seed=args.seed, spaces=spaces, nc=args.nc)]
    calibration = sample_genomes(n=args.calibration, seed=args.seed + 1000, spaces=spaces, nc=args.nc)
    before, seconds = len(table.layers), table.build_seconds

    def note(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    extend_layers(table, genomes, sizes=args.imgsz, out=out, progress=note)
    if args.calibration:
        calibrate(table, calibration, sizes=args.imgsz, out=out, progress=note)
    else:
        table.save(out)
    print(f"+{len(table.layers) - before} layers in {table.build_seconds - seconds:.0f} s")
    print(table_summary(table, out))
    return 0


def _latency_predict(args: argparse.Namespace) -> int:
    from detnas.architecture import genome_from_yaml
    from detnas.designs import NAMED_DESIGNS, named_design
    from detnas.evaluate.latency_table import load_table, predict_ms

    table = load_table(args.latency_table)
    for source in args.models:
        genome = named_design(source) if source in NAMED_DESIGNS else genome_from_yaml(source)
        print(
            f"{source}  {genome.id}  {predict_ms(genome, table, imgsz=args.imgsz):.2f} ms predicted "
            f"({table.describe()}, {args.imgsz} px)"
        )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from detnas.cli.common import non_negative_int, number_at_least, parse_imgsz, positive_int

    latency = subparsers.add_parser("latency", help="per-device latency lookup tables and predictions from them")
    cmds = latency.add_subparsers(dest="latency_command", required=True, metavar="{build-table,predict}")
    b = cmds.add_parser(
        "build-table",
        help="time every layer configuration of sampled genomes on this machine (resumable) and fit the constants",
        description="Measure, on this machine, every distinct layer configuration (module, repeats, arguments, input "
        "shapes) of the shipped designs and seeded samples of the space at each --imgsz, each once, warm, median of "
        "--runs; then whole networks of separate calibration genomes, to fit the graph-overhead constants. Written "
        "as it goes: run it again with the same --out to resume or extend (more --samples, another --seed or size).",
    )
    b.add_argument("--out", required=True, metavar="TABLE.json", help="table file (created, or resumed and extended)")
    b.add_argument("--backend", choices=["onnx", "torch"], default="onnx", help="default onnx (ONNX Runtime CPU)")
    b.add_argument("--threads", type=positive_int, default=1, help="intra-op threads, as the target runs (default 1)")
    b.add_argument(
        "--clock",
        choices=["auto", "wall", "cpu"],
        default="auto",
        help="wall: elapsed time; cpu: the timing thread's CPU time, which with 1 thread is the same figure without "
        "the time other processes took on a shared machine (default auto: cpu with --threads 1, else wall)",
    )
    b.add_argument(
        "--imgsz", type=parse_imgsz, nargs="+", default=[320], help="input sizes, multiples of 32 (default 320)"
    )
    b.add_argument(
        "--samples", type=non_negative_int, default=40, help="sampled genomes whose layers to time, >= 0 (default 40)"
    )
    b.add_argument("--space", choices=["anchored", "full", "both"], default="both", help="spaces sampled (both)")
    b.add_argument("--seed", type=int, default=0, help="seed of the samples; calibration uses seed + 1000")
    b.add_argument(
        "--calibration",
        type=non_negative_int,
        default=8,
        help="whole networks per size to fit constants; 0 skips the fit (default 8)",
    )
    b.add_argument("--designs", action=argparse.BooleanOptionalAction, default=True, help="include shipped designs")
    b.add_argument("--arch", nargs="*", metavar="YAML", help="detnas YAMLs whose layers must be in the table")
    b.add_argument("--nc", type=positive_int, default=80, help="class count of the Detect head (default 80)")
    b.add_argument(
        "--runs",
        type=number_at_least(2),
        default=None,
        help=f"timed runs per layer, >= 2 (default {DEFAULT_TABLE_RUNS}; a resumed table keeps its own)",
    )
    b.add_argument(
        "--warmup",
        type=non_negative_int,
        default=None,
        help=f"warm-up runs per layer, >= 0 (default {DEFAULT_TABLE_WARMUP}; a resumed table keeps its own)",
    )
    b.set_defaults(func=_latency_build_table)
    p = cmds.add_parser("predict", help="predicted latency of designs or detnas YAMLs from a table")
    p.add_argument("models", nargs="+", metavar="MODEL", help="named design (yolo11n ...) or detnas YAML")
    p.add_argument("--latency-table", required=True, metavar="TABLE.json", help="table of 'latency build-table'")
    p.add_argument("--imgsz", type=parse_imgsz, default=320, help="input size, a multiple of 32 (default 320)")
    p.set_defaults(func=_latency_predict)
