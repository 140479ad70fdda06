"""The ``detnas`` command line: one sub-command per job, ``--help`` on each."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from detnas.errors import SearchError

# Ultralytics must never pip-install or download behind the user's back; users may still override these.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")


def _space_info(args: argparse.Namespace) -> int:
    from detnas.space import SearchSpace

    info = SearchSpace().describe()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"search space size: {info['size']:,} genomes (about 10^{info['log10_size']})")
    for section in ("backbone", "blocks", "neck"):
        print(f"\n{section}:")
        for key, value in info[section].items():
            print(f"  {key}: {value}")
    print(f"\nhead: {info['head']}")
    return 0


def _space_sample(args: argparse.Namespace) -> int:
    from detnas.architecture import write_yaml
    from detnas.cost import genome_cost
    from detnas.space import SearchSpace

    space = SearchSpace(nc=args.nc)
    rng = random.Random(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    while len(seen) < args.n:
        genome = space.sample(rng)
        if genome.id in seen:
            continue
        seen.add(genome.id)
        cost = genome_cost(genome, imgsz=args.imgsz)
        write_yaml(genome, out / f"{genome.id}.yaml")
        record = {"id": genome.id, "genome": genome.to_dict(), **cost.to_dict()}
        (out / f"{genome.id}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(
            f"{genome.id}  params {cost.params / 1e6:6.2f}M  GFLOPs@{args.imgsz} {cost.gflops:7.2f}  "
            f"{genome.neck.topology} P{genome.neck.min_level}-P5"
        )
    print(f"wrote {args.n} YAMLs and JSONs to {out}")
    return 0


def _space_show(args: argparse.Namespace) -> int:
    from detnas.architecture import to_yaml
    from detnas.cost import genome_cost
    from detnas.designs import named_design

    genome = named_design(args.name, nc=args.nc)
    text = to_yaml(genome)
    if args.out:
        out = Path(args.out)
        if out.is_dir() or args.out.endswith("/"):  # a folder: write NAME.yaml into it
            out = out / f"{args.name}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        args.out = str(out)
        cost = genome_cost(genome, imgsz=args.imgsz)
        print(f"{args.name} ({genome.id}): params {cost.params:,}, GFLOPs@{args.imgsz} {cost.gflops:.2f} -> {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def _add_space(subparsers: argparse._SubParsersAction) -> None:
    from detnas.designs import NAMED_DESIGNS

    space = subparsers.add_parser("space", help="inspect the search space, sample it, write named designs")
    cmds = space.add_subparsers(dest="space_command", required=True, metavar="{info,sample,show}")

    info = cmds.add_parser("info", help="dimensions, choices and size of the space")
    info.add_argument("--json", action="store_true", help="print the description as JSON")
    info.set_defaults(func=_space_info)

    sample = cmds.add_parser("sample", help="write N sampled architectures as YAML + JSON (id, genome, params, GFLOPs)")
    sample.add_argument("--n", type=int, default=10, help="how many distinct genomes (default 10)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.add_argument("--out", required=True, help="output folder")
    sample.add_argument("--imgsz", type=int, default=640, help="image size for GFLOPs (default 640)")
    sample.add_argument("--nc", type=int, default=80, help="class count of the Detect head (default 80)")
    sample.set_defaults(func=_space_sample)

    show = cmds.add_parser("show", help="write the YAML of a named design (a seed and baseline of searches)")
    show.add_argument("name", choices=sorted(NAMED_DESIGNS), help="design name")
    show.add_argument("--out", help="YAML file to write (default: print it)")
    show.add_argument("--imgsz", type=int, default=640, help="image size for GFLOPs (default 640)")
    show.add_argument("--nc", type=int, default=80, help="class count of the Detect head (default 80)")
    show.set_defaults(func=_space_show)


DEFAULT_SEARCH_SIZES = tuple(range(320, 641, 32))


def parse_sizes(text: str) -> tuple[int, ...]:
    """'320-640' (every 32 px), '320,416,512' or 'none'; argparse turns the ValueError into a usage error."""
    text = text.strip().lower()
    if text in ("none", ""):
        return ()
    try:
        if "-" in text:
            low, high = (int(v) for v in text.split("-"))
            sizes = tuple(range(low, high + 1, 32))
        else:
            sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size list: write 320-640, 320,416,512 or none") from None
    bad = [v for v in sizes if v < 320 or v > 640 or v % 32]
    if not sizes or bad:
        raise argparse.ArgumentTypeError(
            f"{text!r}: sizes must be multiples of 32 from 320 to 640 (e.g. 320-640 or 320,416,512)"
        )
    return sizes


def _search(args: argparse.Namespace) -> int:
    from detnas.ray_executor import ExecutorSpec
    from detnas.report import write_outputs
    from detnas.search import Constraints, Search, SearchConfig

    # Where candidates run is chosen per run, never stored: a resumed search may continue on another machine/cluster.
    spec = ExecutorSpec(args.executor, args.ray_address, args.workers, args.cpus_per_trial, args.gpus_per_trial)
    if args.resume:
        search = Search.open(args.resume, executor_factory=spec.build)
    else:
        if not args.out:
            raise ValueError("--out DIR is required for a new search (or --resume DIR to continue one)")
        from detnas.data_location import dataset_yaml
        from detnas.evaluate import load_data_yaml
        from detnas.evaluate.cli import recipe_from_args, resolve_data, resolve_parents
        from detnas.models import DEFAULT_PARENTS, default_parents
        from detnas.proxies import default_proxy, get_proxy

        parent_args = args.parent
        if parent_args is None and args.proxy in (None, "pretrained", "pretrained-zero"):
            parent_args = [str(p) for p in default_parents()]
            if not parent_args:
                print(
                    f"note: no COCO-trained checkpoints ({', '.join(n + '.pt' for n in DEFAULT_PARENTS)}) found in "
                    "$DETNAS_WEIGHTS, Ultralytics' weights_dir or ../shared/weights/pt: candidates train from scratch; "
                    "add checkpoints with --parent yolo11n.pt ... to score real mAP",
                    file=sys.stderr,
                )
        default_data = DEFAULT_PRETRAINED_DATA if parent_args else DEFAULT_SEARCH_DATA
        data = resolve_data(args.data) if args.data else dataset_yaml(default_data)
        nc = load_data_yaml(data).nc
        parents = resolve_parents(parent_args, nc=nc)
        proxy = args.proxy or default_proxy(args.device, parents=bool(parents))
        recipe = recipe_from_args(args, fine_tune=get_proxy(proxy).inherits, scratch={"epochs": 2, "imgsz": 128})
        sizes = args.sizes
        if sizes is None:  # checkpoints: the input size is searched with the network, unless --imgsz pins it
            sizes = DEFAULT_SEARCH_SIZES if parents and args.imgsz is None else ()
        seeds = args.seeds
        if seeds is None:
            seeds = ["yolo11n"] + ([n for n in DEFAULT_PARENTS[1:] if any(p.stem == n for p in parents)])
        config = SearchConfig(
            data=str(data),
            evaluations=args.evaluations,
            population=args.population,
            tournament=args.tournament,
            strategy=args.strategy,
            seed=args.seed,
            seeds=tuple(seeds),
            recipe=recipe,
            device=args.device,
            latency_backend=args.latency_backend,
            constraints=Constraints(args.max_latency_ms, args.max_params, args.max_gflops),
            max_failures=args.max_failures,
            timeout_s=args.timeout,
            proxy=proxy,
            parents=tuple(str(p) for p in parents),
            space=args.space,
            imgsizes=tuple(sizes),
            latency_table=args.latency_table,
        )
        spec.check_device(config.device)  # before the run folder exists
        search = Search.create(args.out, config, executor_factory=spec.build)
    from detnas.search import RunFolderLock

    with RunFolderLock(search.folder):
        counts = search.run()
        search.measure_front()  # with --latency-table: the front's predicted designs measured for real
        outputs = write_outputs(search.folder, search.store)
    print(
        f"search {search.folder}: {counts['done']} done, {counts['failed']} failed, "
        f"{counts['infeasible']} infeasible (not trained)"
    )
    print(outputs["report"].read_text())
    return 0


def _report(args: argparse.Namespace) -> int:
    from detnas.report import write_outputs
    from detnas.search import STORE_NAME
    from detnas.store import Store

    folder = Path(args.folder)
    if not (folder / STORE_NAME).is_file():
        raise FileNotFoundError(f"{folder} holds no search ({STORE_NAME} missing): pass a folder made by detnas search")
    outputs = write_outputs(folder, Store(folder / STORE_NAME))
    print(outputs["report"].read_text())
    return 0


DEFAULT_SEARCH_DATA = "coco_mini"  # from scratch: small enough for 2 epochs per candidate
DEFAULT_PRETRAINED_DATA = "coco_proxy"  # inheriting COCO weights: 688 train images to fine-tune on, 318 to score


def _add_search(subparsers: argparse._SubParsersAction) -> None:
    from detnas.designs import NAMED_DESIGNS
    from detnas.evaluate.cli import add_proxy_arguments, parse_subset

    p = subparsers.add_parser(
        "search",
        help="evolutionary multi-objective search (mAP up, latency down) with a resumable SQLite store",
        description="Search architectures; every trained candidate is kept in DIR/search.sqlite.",
    )
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the search in DIR (its settings come from its store; the --executor flags are chosen anew)",
    )
    p.add_argument("--out", metavar="DIR", help="run folder of a new search")
    p.add_argument(
        "--data",
        help=f"Ultralytics data YAML or dataset name (default: {DEFAULT_PRETRAINED_DATA} with COCO-trained parents, "
        f"else {DEFAULT_SEARCH_DATA}; names are looked up in $DETNAS_DATASETS or ../shared/datasets)",
    )
    p.add_argument("--evaluations", type=int, default=8, help="candidates to train (default 8)")
    p.add_argument("--population", type=int, default=6, help="population of aging evolution (default 6)")
    p.add_argument("--tournament", type=int, default=None, help="tournament size (default: half the population)")
    p.add_argument(
        "--strategy",
        choices=["evolution", "random", "rl"],
        default="evolution",
        help="evolution (aging evolution), random, or rl (REINFORCE policy over the genes); default evolution",
    )
    p.add_argument(
        "--seeds",
        nargs="*",
        default=None,
        choices=sorted(NAMED_DESIGNS),
        help="named designs that seed the search (default yolo11n, plus yolov8n / yolov5nu when their checkpoints "
        "are parents)",
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default 1 fine-tuning inherited weights, else 2)"
    )
    p.add_argument(
        "--imgsz",
        type=int,
        default=None,
        help="training, mAP and latency image size (default 320 fine-tuning, else 128)",
    )
    p.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        metavar="SIZES",
        help="input sizes searched with the network, each candidate trained, scored and timed at its own: "
        "'320-640' (every 32 px), '320,416,512' or 'none' (every candidate at --imgsz). Default 320-640 with "
        "COCO-trained parents unless --imgsz is given, else none",
    )
    p.add_argument("--batch", type=int, default=16, help="training batch (default 16)")
    p.add_argument(
        "--subset",
        type=parse_subset,
        default=None,
        help="seeded training subset: N images or a fraction (default 128 fine-tuning inherited weights, else all)",
    )
    p.add_argument("--time-limit", type=float, default=None, help="per-candidate training time limit, seconds")
    p.add_argument("--timeout", type=float, default=None, help="per-candidate hard wall-clock limit, seconds")
    p.add_argument("--seed", type=int, default=0, help="random seed of the strategy and of the subset (default 0)")
    p.add_argument("--max-latency-ms", type=float, default=None, help="constraint checked before training")
    p.add_argument("--max-params", type=int, default=None, help="constraint checked before training")
    p.add_argument("--max-gflops", type=float, default=None, help="constraint checked before training")
    p.add_argument("--max-failures", type=int, default=5, help="stop after this many failures in a row (default 5)")
    p.add_argument("--device", default="cpu", help="training device: cpu, 0, 0,1 ... (default cpu)")
    p.add_argument("--latency-backend", choices=["torch", "onnx"], default="torch", help="default torch")
    p.add_argument(
        "--latency-table",
        metavar="TABLE.json",
        default=None,
        help="predict latency from a table of 'detnas latency build-table' (built here or on the target device) for "
        "the constraints and the objective; only the front is measured, and the report shows both figures",
    )
    add_proxy_arguments(p, default=None)
    p.add_argument(
        "--space",
        choices=["full", "anchored"],
        default=None,
        help="full: every gene; anchored: the checkpoints' block families, PAN P3-P5 neck and strided convs, with "
        "widths, depths, kernels and tail free (default anchored when candidates inherit from checkpoints)",
    )
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="where candidates train: local (one at a time, here) or ray (--workers at once, on this machine or a "
        "Ray cluster; pip install 'detnas[ray]'). Chosen anew on --resume (default local)",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        default=None,
        help="join this Ray cluster (auto, HOST:6379); default: start a private local Ray instance",
    )
    p.add_argument("--workers", type=int, default=1, help="candidates trained at once with --executor ray (default 1)")
    p.add_argument(
        "--cpus-per-trial",
        type=float,
        default=1.0,
        help="CPUs Ray reserves per candidate, also its torch threads (default 1)",
    )
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0.0,
        help="GPUs Ray reserves per candidate, with --device 0 (0.5: two share one GPU) (default 0)",
    )
    p.set_defaults(func=_search)

    r = subparsers.add_parser("report", help="markdown table of a search's Pareto front, its figure and statistics")
    r.add_argument("folder", metavar="DIR", help="run folder of a search")
    r.set_defaults(func=_report)


def _latency_build_table(args: argparse.Namespace) -> int:
    from detnas.architecture import genome_from_yaml
    from detnas.designs import NAMED_DESIGNS, named_design
    from detnas.latency_table import (
        calibrate,
        check_imgsz,
        extend_layers,
        open_or_create,
        sample_genomes,
        table_summary,
    )

    for size in args.imgsz:
        check_imgsz(size)
    out = Path(args.out)
    clock = args.clock if args.clock != "auto" else ("cpu" if args.threads == 1 else "wall")
    table = open_or_create(
        out, backend=args.backend, threads=args.threads, warmup=args.warmup, runs=args.runs, clock=clock
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
    from detnas.latency_table import check_imgsz, load_table, predict_ms

    check_imgsz(args.imgsz)
    table = load_table(args.latency_table)
    for source in args.models:
        genome = named_design(source) if source in NAMED_DESIGNS else genome_from_yaml(source)
        print(
            f"{source}  {genome.id}  {predict_ms(genome, table, imgsz=args.imgsz):.2f} ms predicted "
            f"({table.describe()}, {args.imgsz} px)"
        )
    return 0


def _add_latency(subparsers: argparse._SubParsersAction) -> None:
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
    b.add_argument("--threads", type=int, default=1, help="intra-op threads, as the target runs (default 1)")
    b.add_argument(
        "--clock",
        choices=["auto", "wall", "cpu"],
        default="auto",
        help="wall: elapsed time; cpu: the timing thread's CPU time, which with 1 thread is the same figure without "
        "the time other processes took on a shared machine (default auto: cpu with --threads 1, else wall)",
    )
    b.add_argument("--imgsz", type=int, nargs="+", default=[320], help="input sizes, multiples of 32 (default 320)")
    b.add_argument("--samples", type=int, default=40, help="sampled genomes whose layers to time (default 40)")
    b.add_argument("--space", choices=["anchored", "full", "both"], default="both", help="spaces sampled (both)")
    b.add_argument("--seed", type=int, default=0, help="seed of the samples; calibration uses seed + 1000")
    b.add_argument("--calibration", type=int, default=8, help="whole networks per size to fit constants (default 8)")
    b.add_argument("--designs", action=argparse.BooleanOptionalAction, default=True, help="include shipped designs")
    b.add_argument("--arch", nargs="*", metavar="YAML", help="detnas YAMLs whose layers must be in the table")
    b.add_argument("--nc", type=int, default=80, help="class count of the Detect head (default 80)")
    b.add_argument("--runs", type=int, default=30, help="timed runs per layer (default 30)")
    b.add_argument("--warmup", type=int, default=5, help="warm-up runs per layer (default 5)")
    b.set_defaults(func=_latency_build_table)
    p = cmds.add_parser("predict", help="predicted latency of designs or detnas YAMLs from a table")
    p.add_argument("models", nargs="+", metavar="MODEL", help="named design (yolo11n ...) or detnas YAML")
    p.add_argument("--latency-table", required=True, metavar="TABLE.json", help="table of 'latency build-table'")
    p.add_argument("--imgsz", type=int, default=320, help="input size (default 320)")
    p.set_defaults(func=_latency_predict)


def _parent_train(args: argparse.Namespace) -> int:
    from detnas.data_location import dataset_yaml
    from detnas.evaluate.cli import resolve_data
    from detnas.evaluate.parent import train_parent
    from detnas.evaluate.recipe import Recipe

    data = resolve_data(args.data) if args.data else dataset_yaml(DEFAULT_SEARCH_DATA)
    recipe = Recipe(epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, seed=args.seed)
    run = train_parent(data, args.out, recipe, device=args.device)
    state = "resumed and finished" if run.resumed else "finished"
    print(f"parent {state}: {run.weights} ({run.epochs_done} epochs, {run.seconds:.0f} s of training in all)")
    print(f"use it with: detnas search --proxy inherit --parent {args.out}")
    return 0


def _add_parent(subparsers: argparse._SubParsersAction) -> None:
    parent = subparsers.add_parser(
        "parent", help="the over-sized parent that --proxy inherit slices candidate weights from"
    )
    cmds = parent.add_subparsers(dest="parent_command", required=True, metavar="{train}")
    p = cmds.add_parser(
        "train",
        help="train the parent once (resumes an interrupted run in the same --out)",
        description="Train the parent of the search space (widest, deepest, largest-kernel genome) on the data; "
        "run it again with the same --out to resume after an interruption. Reused by every search that passes "
        "--parent DIR.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="parent folder (manifest, YAML, weights)")
    p.add_argument("--data", help=f"data YAML or dataset name (default {DEFAULT_SEARCH_DATA})")
    p.add_argument("--epochs", type=int, default=6, help="training epochs (default 6)")
    p.add_argument("--imgsz", type=int, default=128, help="image size; use the search's (default 128)")
    p.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--device", default="cpu", help="training device (default cpu)")
    p.set_defaults(func=_parent_train)


def build_parser() -> argparse.ArgumentParser:
    from detnas import __version__

    parser = argparse.ArgumentParser(prog="detnas", description="Detector architecture search on Ultralytics.")
    parser.add_argument("--version", action="version", version=f"detnas {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    from detnas.benchmark import add_benchmark_parser
    from detnas.evaluate.cli import add_evaluate_parser
    from detnas.predict import add_predict_parser
    from detnas.train_export import add_export_parser, add_train_parser

    registrars: list[Callable[[argparse._SubParsersAction], None]] = [
        _add_space,
        add_evaluate_parser,
        _add_search,
        _add_parent,
        _add_latency,
        add_benchmark_parser,
        add_predict_parser,
        add_train_parser,
        add_export_parser,
    ]
    for register in registrars:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:  # bad input: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SearchError as exc:  # a search that cannot go on: one line saying why and what to do
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
