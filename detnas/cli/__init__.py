"""The ``detnas`` command line: one sub-command per job, ``--help`` on each."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from detnas.errors import SearchError

# Ultralytics must never pip-install or download behind the user's back; users may still override these.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")


def build_parser() -> argparse.ArgumentParser:
    """Every command's parser; each ``detnas.cli.<group>`` module registers its own."""
    from detnas import __version__
    from detnas.cli import benchmark, evaluate, latency, parent, predict, search, space, train
    from detnas.cli.common import Parser

    parser = Parser(prog="detnas", description="Detector architecture search on Ultralytics.")
    parser.add_argument("--version", action="version", version=f"detnas {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    registrars: list[Callable[[argparse._SubParsersAction], None]] = [
        space.add_parser,
        evaluate.add_parser,
        search.add_parser,
        parent.add_parser,
        latency.add_parser,
        benchmark.add_parser,
        predict.add_parser,
        train.add_train_parser,
        train.add_export_parser,
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
