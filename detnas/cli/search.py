"""``detnas search`` and ``detnas report``: run or resume a search, and write its report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detnas.cli.common import DEFAULT_SEARCH_SIZES, add_proxy_arguments, parse_sizes, parse_subset


def _search(args: argparse.Namespace) -> int:
    from detnas.search.loop import Constraints, Search, SearchConfig
    from detnas.search.ray_executor import ExecutorSpec
    from detnas.search.report import write_outputs

    # Where candidates run is chosen per run, never stored: a resumed search may continue on another machine/cluster.
    spec = ExecutorSpec(args.executor, args.ray_address, args.workers, args.cpus_per_trial, args.gpus_per_trial)
    if args.resume:
        search = Search.open(args.resume, executor_factory=spec.build)
    else:
        if not args.out:
            raise ValueError("--out DIR is required for a new search (or --resume DIR to continue one)")
        from detnas.cli.common import recipe_from_args, resolve_data, resolve_parents
        from detnas.datasets import dataset_yaml
        from detnas.evaluate import load_data_yaml
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
    from detnas.search.loop import RunFolderLock

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
    from detnas.search.loop import STORE_NAME
    from detnas.search.report import write_outputs
    from detnas.search.store import Store

    folder = Path(args.folder)
    if not (folder / STORE_NAME).is_file():
        raise FileNotFoundError(f"{folder} holds no search ({STORE_NAME} missing): pass a folder made by detnas search")
    outputs = write_outputs(folder, Store(folder / STORE_NAME))
    print(outputs["report"].read_text())
    return 0


DEFAULT_SEARCH_DATA = "coco_mini"  # from scratch: small enough for 2 epochs per candidate
DEFAULT_PRETRAINED_DATA = "coco_proxy"  # inheriting COCO weights: 688 train images to fine-tune on, 318 to score


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from detnas.designs import NAMED_DESIGNS

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
