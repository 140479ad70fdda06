"""``detnas space``: inspect the search space, sample it, write named designs."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path


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


def _renamed_by_ultralytics(path: Path) -> bool:
    """Ultralytics' check_file turns '...yolov5...u.yaml' into '....yaml' (yolov5nu.yaml -> yolov5n.yaml)."""
    text = str(path)
    return ("yolov5" in text or "yolov3" in text) and "u.yaml" in text


def _space_show(args: argparse.Namespace) -> int:
    from detnas.architecture import to_yaml
    from detnas.cost import genome_cost
    from detnas.designs import named_design

    if args.imgsz is not None and not args.out:
        raise ValueError("--imgsz sizes the GFLOPs printed with --out; the YAML printed here has none: drop --imgsz")
    args.imgsz = args.imgsz or 640
    genome = named_design(args.name, nc=args.nc)
    text = to_yaml(genome)
    if args.out:
        out = Path(args.out)
        if out.is_dir() or args.out.endswith("/"):  # a folder: write NAME.yaml into it
            out = out / f"{args.name}{'-detnas' if args.name.endswith('u') else ''}.yaml"
        if _renamed_by_ultralytics(out):
            raise ValueError(
                f"{out}: Ultralytics reads a YAML path holding 'yolov5' and ending in 'u.yaml' as its own YOLOv5 "
                f"config, not this file: name it otherwise (e.g. {out.with_name(out.stem + '-detnas.yaml')})"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        args.out = str(out)
        cost = genome_cost(genome, imgsz=args.imgsz)
        print(f"{args.name} ({genome.id}): params {cost.params:,}, GFLOPs@{args.imgsz} {cost.gflops:.2f} -> {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from detnas.cli.common import parse_imgsz, positive_int
    from detnas.designs import NAMED_DESIGNS

    space = subparsers.add_parser("space", help="inspect the search space, sample it, write named designs")
    cmds = space.add_subparsers(dest="space_command", required=True, metavar="{info,sample,show}")

    info = cmds.add_parser("info", help="dimensions, choices and size of the space")
    info.add_argument("--json", action="store_true", help="print the description as JSON")
    info.set_defaults(func=_space_info)

    sample = cmds.add_parser("sample", help="write N sampled architectures as YAML + JSON (id, genome, params, GFLOPs)")
    sample.add_argument("--n", type=positive_int, default=10, help="how many distinct genomes, >= 1 (default 10)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.add_argument("--out", required=True, help="output folder")
    sample.add_argument(
        "--imgsz", type=parse_imgsz, default=640, help="image size for GFLOPs, a multiple of 32 (default 640)"
    )
    sample.add_argument("--nc", type=positive_int, default=80, help="class count of the Detect head (default 80)")
    sample.set_defaults(func=_space_sample)

    show = cmds.add_parser("show", help="write the YAML of a named design (a seed and baseline of searches)")
    show.add_argument("name", choices=sorted(NAMED_DESIGNS), help="design name")
    show.add_argument("--out", help="YAML file to write (default: print it)")
    show.add_argument(
        "--imgsz",
        type=parse_imgsz,
        default=None,
        help="image size for the GFLOPs printed with --out, a multiple of 32 (default 640)",
    )
    show.add_argument("--nc", type=positive_int, default=80, help="class count of the Detect head (default 80)")
    show.set_defaults(func=_space_show)
