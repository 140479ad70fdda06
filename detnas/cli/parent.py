"""``detnas parent train``: the over-sized parent that ``--proxy inherit`` slices candidate weights from."""

from __future__ import annotations

import argparse

from detnas.cli.common import device, parse_imgsz, positive_int
from detnas.search.config import SCRATCH_DATA


def _parent_train(args: argparse.Namespace) -> int:
    from detnas.cli.common import resolve_data
    from detnas.datasets import dataset_yaml
    from detnas.evaluate.parent import train_parent
    from detnas.evaluate.recipe import Recipe

    data = resolve_data(args.data) if args.data else dataset_yaml(SCRATCH_DATA)
    recipe = Recipe(epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, seed=args.seed)
    run = train_parent(data, args.out, recipe, device=args.device)
    state = "resumed and finished" if run.resumed else "finished"
    print(f"parent {state}: {run.weights} ({run.epochs_done} epochs, {run.seconds:.0f} s of training in all)")
    print(f"use it with: detnas search --proxy inherit --parent-run {args.out}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parent = subparsers.add_parser(
        "parent", help="the over-sized parent that --proxy inherit slices candidate weights from"
    )
    cmds = parent.add_subparsers(dest="parent_command", required=True, metavar="{train}")
    p = cmds.add_parser(
        "train",
        help="train the parent once (resumes an interrupted run in the same --out)",
        description="Train the parent of the search space (widest, deepest, largest-kernel genome) on the data; "
        "run it again with the same --out to resume after an interruption. Reused by every search that passes "
        "--parent-run DIR.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="parent folder (manifest, YAML, weights)")
    p.add_argument("--data", help=f"data YAML or dataset name (default {SCRATCH_DATA})")
    p.add_argument("--epochs", type=positive_int, default=6, help="training epochs, >= 1 (default 6)")
    p.add_argument(
        "--imgsz", type=parse_imgsz, default=128, help="image size, a multiple of 32; use the search's (default 128)"
    )
    p.add_argument("--batch", type=positive_int, default=16, help="batch size, >= 1 (default 16)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--device", type=device, default="cpu", help="training device: cpu, 0, cuda:0 ... (default cpu)")
    p.set_defaults(func=_parent_train)
