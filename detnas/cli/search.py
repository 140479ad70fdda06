"""``detnas search`` and ``detnas report``: run or resume a search, and write its report.

Every default shown by ``--help`` is read from the config dataclasses (``SearchConfig``, ``Recipe`` and its presets,
``ExecutorSpec``); a flag left unset takes that default, so there is one source for each.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from detnas.cli.common import (
    add_head_probe_argument,
    add_proxy_arguments,
    non_negative_float,
    number_at_least,
    parents_from,
    parse_imgsz,
    parse_sizes,
    positive_float,
    positive_int,
    recipe_from_args,
    resolve_data,
    resolve_parents,
    training_subset,
)
from detnas.cli.common import (
    device as device_arg,
)
from detnas.evaluate.recipe import FINE_TUNE_DEFAULTS, SCRATCH_SEARCH_DEFAULTS, Recipe
from detnas.genome import PRECISION_CHOICES, RUNTIME_CHOICES
from detnas.search.config import PRETRAINED_DATA, SCRATCH_DATA, SEARCH_SIZES, SearchConfig
from detnas.search.ray_executor import ExecutorSpec

SEARCH = {f.name: f.default for f in fields(SearchConfig)}
RECIPE = {f.name: f.default for f in fields(Recipe)}
EXECUTOR = {f.name: f.default for f in fields(ExecutorSpec)}
# What --resume may change: the budget and where candidates run. Everything else is the stored search's.
RESUMABLE = {"evaluations", "executor", "ray_address", "workers", "cpus_per_trial", "gpus_per_trial"}
NOT_SEARCH_SETTINGS = {"command", "func", "resume", "out"}


def _executor_spec(args: argparse.Namespace) -> ExecutorSpec:
    """Where candidates run: chosen per run, never stored (a resumed search may continue on another machine)."""
    given = {
        "kind": args.executor,
        "address": args.ray_address,
        "workers": args.workers,
        "cpus_per_trial": args.cpus_per_trial,
        "gpus_per_trial": args.gpus_per_trial,
    }
    return ExecutorSpec(**{k: v for k, v in given.items() if v is not None})


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The search options the user set (every option's parser default is None)."""
    return {k: v for k, v in vars(args).items() if k not in NOT_SEARCH_SETTINGS and v is not None}


def _resume(args: argparse.Namespace):
    from detnas.search.loop import Search

    given = _given(args)
    refused = sorted(set(given) - RESUMABLE)
    if args.out is not None:
        refused.insert(0, "out")
    if refused:
        flag = "--" + refused[0].replace("_", "-")
        raise ValueError(
            f"{flag} does not apply with --resume: a resumed search keeps its stored settings; only --evaluations "
            "and the executor options (--executor, --ray-address, --workers, --cpus-per-trial, --gpus-per-trial) "
            f"change. Drop {flag}, or start a new search with --out"
        )
    search = Search.open(args.resume, executor_factory=_executor_spec(args).build)
    if args.evaluations is not None and args.evaluations != search.config.evaluations:
        search.set_evaluations(args.evaluations)
        print(f"resume: budget now {args.evaluations} evaluations", file=sys.stderr)
    return search


def _new_config(args: argparse.Namespace) -> tuple[SearchConfig, str]:
    """The config a new search runs with, every default resolved, and the line that states its mode."""
    from detnas.datasets import dataset_yaml
    from detnas.evaluate import load_data_yaml
    from detnas.models import DEFAULT_PARENTS, default_parents
    from detnas.proxies import default_proxy, get_proxy
    from detnas.search.config import Constraints, describe_mode

    device = args.device or SEARCH["device"]
    parent_args = parents_from(args)
    found = parent_args is None and args.proxy in (None, "pretrained", "pretrained-zero")
    if found:
        parent_args = [str(p) for p in default_parents()]
        if not parent_args:
            print(
                f"note: no COCO-trained checkpoints ({', '.join(n + '.pt' for n in DEFAULT_PARENTS)}) found in "
                "$DETNAS_WEIGHTS, Ultralytics' weights_dir or ../shared/weights/pt: candidates train from scratch; "
                "add checkpoints with --parent yolo11n.pt ... to score real mAP",
                file=sys.stderr,
            )
    data = resolve_data(args.data) if args.data else dataset_yaml(PRETRAINED_DATA if parent_args else SCRATCH_DATA)
    spec = load_data_yaml(data)
    parents = resolve_parents(parent_args, nc=spec.nc, names=spec.names)
    proxy = args.proxy or default_proxy(device, parents=bool(parents))
    if args.head_probe is not None and not get_proxy(proxy).inherits:
        raise ValueError(f"--head-probe does not apply: proxy {proxy!r} inherits no class head; drop --head-probe")
    if args.distill is not None and not get_proxy(proxy).inherits:
        raise ValueError(f"--distill does not apply: proxy {proxy!r} inherits from no parent; drop --distill")
    recipe = recipe_from_args(args, fine_tune=get_proxy(proxy).inherits, scratch=SCRATCH_SEARCH_DEFAULTS)
    sizes = args.sizes
    if sizes is None:  # checkpoints: the input size is searched with the network, unless --imgsz pins it
        sizes = SEARCH_SIZES if parents and args.imgsz is None else ()
    seeds = args.seeds
    if seeds is None:
        seeds = [*SEARCH["seeds"], *(n for n in DEFAULT_PARENTS[1:] if any(p.stem == n for p in parents))]
    latency_backend = args.latency_backend
    if args.latency_table:  # the table decides the backend: a search never mixes two backends' figures
        from detnas.evaluate.latency_table import load_table

        table = load_table(args.latency_table)
        if latency_backend not in (None, table.backend):
            raise ValueError(
                f"--latency-backend {latency_backend} disagrees with {args.latency_table}, built with "
                f"{table.backend}: drop --latency-backend (a table implies its own backend)"
            )
        latency_backend = table.backend
    settings = {
        "evaluations": args.evaluations,
        "population": args.population,
        "tournament": args.tournament,
        "strategy": args.strategy,
        "seed": args.seed,
        "max_failures": args.max_failures,
        "timeout_s": args.timeout,
        "space": args.space,
        "latency_backend": latency_backend,
        "latency_table": args.latency_table,
        "precisions": None if args.precisions is None else tuple(args.precisions),
        "runtimes": None if args.runtime is None else tuple(args.runtime),
    }
    config = SearchConfig(
        data=str(data),
        seeds=tuple(seeds),
        recipe=recipe,
        device=device,
        constraints=Constraints(args.max_latency_ms, args.max_params, args.max_gflops),
        proxy=proxy,
        parents=tuple(str(p) for p in parents),
        imgsizes=tuple(sizes),
        **{k: v for k, v in settings.items() if v is not None},
    )
    if config.runtimes:  # checked before a store is written: without its packages every candidate would fail
        from detnas.evaluate.deployed import require_runtime

        for runtime in config.runtimes:
            require_runtime(runtime)
    size_pinned = args.imgsz is not None and args.sizes is None and bool(parents)
    return config, describe_mode(config, parents_found=found and bool(parents), size_pinned=size_pinned)


def _search(args: argparse.Namespace) -> int:
    from detnas.search.loop import RunFolderLock, Search
    from detnas.search.report import write_outputs

    if args.resume:
        search = _resume(args)
    else:
        if not args.out:
            raise ValueError("--out DIR is required for a new search (or --resume DIR to continue one)")
        spec = _executor_spec(args)
        config, mode = _new_config(args)
        spec.check_device(config.device)  # before the run folder exists
        search = Search.create(args.out, config, executor_factory=spec.build, mode=mode)
    with RunFolderLock(search.folder):
        print(f"mode: {search.mode}", file=sys.stderr, flush=True)
        counts = search.run()
        search.measure_front()  # with --latency-table: the front's predicted designs measured for real
        outputs = write_outputs(search.folder, search.store)
    print(
        f"search {search.folder}: {counts['done']} done, {counts['failed']} failed, "
        f"{counts['infeasible']} infeasible (not trained)"
    )
    print(outputs["report"].read_text())
    if counts["done"] == 0:
        print(f"error: no candidate of {search.folder} finished with a score: see the failures above", file=sys.stderr)
        return 1
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


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from detnas.designs import NAMED_DESIGNS
    from detnas.search.strategies import STRATEGIES

    fine, scratch = FINE_TUNE_DEFAULTS, SCRATCH_SEARCH_DEFAULTS
    p = subparsers.add_parser(
        "search",
        help="evolutionary multi-objective search (mAP up, latency down) with a resumable SQLite store",
        description="Search architectures; every trained candidate is kept in DIR/search.sqlite. The first line "
        "printed ('mode: ...') states what the search does once every default is resolved; report.md repeats it.",
    )
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the search in DIR with its stored settings; only --evaluations (a new budget) and the "
        "executor options may be given with it",
    )
    p.add_argument("--out", metavar="DIR", help="run folder of a new search")
    p.add_argument(
        "--data",
        help=f"Ultralytics data YAML or dataset name (default: {PRETRAINED_DATA} with COCO-trained parents, "
        f"else {SCRATCH_DATA}; names are looked up in $DETNAS_DATASETS or ../shared/datasets)",
    )
    p.add_argument(
        "--evaluations",
        type=positive_int,
        help=f"candidates to train (default {SEARCH['evaluations']}); with --resume, the new total budget",
    )
    p.add_argument(
        "--population", type=number_at_least(2), help=f"population of aging evolution (default {SEARCH['population']})"
    )
    p.add_argument("--tournament", type=positive_int, help="tournament size (default: half the population)")
    p.add_argument(
        "--strategy",
        choices=sorted(STRATEGIES),
        help="evolution (aging evolution), random, local (one-gene mutations of the Pareto front: the strong "
        "baseline) or rl (REINFORCE policy over the genes); "
        f"default {SEARCH['strategy']}",
    )
    p.add_argument(
        "--seeds",
        nargs="*",
        choices=sorted(NAMED_DESIGNS),
        help=f"named designs that seed the search (default {', '.join(SEARCH['seeds'])}, plus yolov8n / yolov5nu "
        "when their checkpoints are parents)",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        help=f"training epochs (default {fine['epochs']} fine-tuning inherited weights, else {scratch['epochs']})",
    )
    p.add_argument(
        "--imgsz",
        type=parse_imgsz,
        help=f"training, mAP and latency image size (default {fine['imgsz']} fine-tuning, else {scratch['imgsz']}); "
        "with checkpoints, giving it fixes every candidate at this size instead of searching sizes (the mode line "
        "says so)",
    )
    p.add_argument(
        "--sizes",
        type=parse_sizes,
        metavar="SIZES",
        help="input sizes searched with the network, each candidate trained, scored and timed at its own: "
        f"'320-640' (every 32 px), '320,416,512' or 'none' (every candidate at --imgsz). Default "
        f"{SEARCH_SIZES[0]}-{SEARCH_SIZES[-1]} with COCO-trained parents unless --imgsz is given, else none",
    )
    p.add_argument("--batch", type=positive_int, help=f"training batch (default {RECIPE['batch']})")
    p.add_argument(
        "--subset",
        type=training_subset,
        help=f"seeded training subset: N images or a fraction (default {fine['subset']} fine-tuning inherited "
        "weights, else all)",
    )
    p.add_argument("--time-limit", type=positive_float, help="per-candidate training time limit, seconds")
    p.add_argument("--timeout", type=positive_float, help="per-candidate hard wall-clock limit, seconds")
    p.add_argument("--seed", type=int, help=f"random seed of the strategy and of the subset (default {SEARCH['seed']})")
    p.add_argument("--max-latency-ms", type=positive_float, help="constraint checked before training")
    p.add_argument("--max-params", type=positive_int, help="constraint checked before training")
    p.add_argument("--max-gflops", type=positive_float, help="constraint checked before training")
    p.add_argument(
        "--max-failures",
        type=positive_int,
        help=f"stop after this many failures in a row (default {SEARCH['max_failures']})",
    )
    p.add_argument("--device", type=device_arg, help=f"training device: cpu, 0, 0,1 ... (default {SEARCH['device']})")
    p.add_argument(
        "--latency-backend",
        choices=["torch", "onnx"],
        help=f"how candidates are timed (default {SEARCH['latency_backend']}; with --latency-table, the table's)",
    )
    p.add_argument(
        "--latency-table",
        metavar="TABLE.json",
        help="predict latency from a table of 'detnas latency build-table' (built here or on the target device) for "
        "the constraints and the objective, with the table's backend; only the front is measured, and the report "
        "shows both figures",
    )
    p.add_argument(
        "--precisions",
        nargs="+",
        choices=list(PRECISION_CHOICES),
        metavar="PRECISION",
        help="search the deployed precision with the network (fp32, int8): each candidate is exported to its "
        "runtime at its precision (INT8 calibrated on seeded images of its training data) and scored (mAP) and "
        "timed as that artifact; seeds start at fp32 (default: not searched, every candidate FP32 on "
        "--latency-backend)",
    )
    p.add_argument(
        "--runtime",
        nargs="+",
        choices=list(RUNTIME_CHOICES),
        help="runtime(s) candidates are deployed on with --precisions (default openvino; several are searched as a "
        "gene); alone it means --precisions fp32",
    )
    add_proxy_arguments(p, default=None)
    add_head_probe_argument(p)
    p.add_argument(
        "--space",
        choices=["full", "anchored"],
        help="full: every gene; anchored: the checkpoints' block families, PAN P3-P5 neck and strided convs, with "
        "widths, depths, kernels and tail free (default anchored when candidates inherit from checkpoints, else full)",
    )
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="where candidates train: local (one at a time, here) or ray (--workers at once, on this machine or a "
        f"Ray cluster; pip install 'detnas[ray]'). Chosen anew on --resume (default {EXECUTOR['kind']})",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join this Ray cluster (auto, HOST:6379); default: start a private local Ray instance",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        help=f"candidates trained at once with --executor ray (default {EXECUTOR['workers']})",
    )
    p.add_argument(
        "--cpus-per-trial",
        type=positive_float,
        help=f"CPUs Ray reserves per candidate, also its torch threads (default {EXECUTOR['cpus_per_trial']:g})",
    )
    p.add_argument(
        "--gpus-per-trial",
        type=non_negative_float,
        help="GPUs Ray reserves per candidate, with --device 0 (0.5: two share one GPU) "
        f"(default {EXECUTOR['gpus_per_trial']:g})",
    )
    p.set_defaults(func=_search)

    r = subparsers.add_parser("report", help="markdown table of a search's Pareto front, its figure and statistics")
    r.add_argument("folder", metavar="DIR", help="run folder of a search")
    r.set_defaults(func=_report)
