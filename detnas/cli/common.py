"""Argument types and resolvers shared by several commands: sizes, subsets, data, parents, recipes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detnas.errors import InputError
from detnas.evaluate.recipe import Recipe


class Parser(argparse.ArgumentParser):
    """argparse with a usage mistake reported as one ``error:`` line (exit 2); sub-parsers inherit the class."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def number_at_least(minimum: float, *, kind: type = int, above: bool = False):
    """An argparse type: a ``kind`` number >= ``minimum`` (> with ``above``); out of range is a usage error."""
    word = "an integer" if kind is int else "a number"
    bound = f"> {minimum}" if above else f">= {minimum}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {word}") from None
        if value < minimum or (above and value == minimum) or value != value:  # value != value: NaN
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {word} {bound}")
        return value

    parse.__name__ = f"{kind.__name__} {bound}"
    return parse


positive_int = number_at_least(1)
non_negative_int = number_at_least(0)
positive_float = number_at_least(0, kind=float, above=True)
non_negative_float = number_at_least(0, kind=float)


def number_in_range(low: float, high: float, *, kind: type = float):
    """An argparse type: a ``kind`` number from ``low`` to ``high`` (both included); out of range is a usage error."""
    word = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {word}") from None
        if not low <= value <= high:  # NaN fails too
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {word} from {low} to {high}")
        return value

    parse.__name__ = f"{kind.__name__} in [{low}, {high}]"
    return parse


unit_interval = number_in_range(0, 1)  # thresholds: --conf, --iou


def device(text: str) -> str:
    """``--device``: cpu, mps, a CUDA index or list (0, 0,1, cuda:0) that exists here; npu/xpu/... go to Ultralytics.

    CUDA indices are checked now (torch is imported only for them) so that a wrong one is one usage line instead of
    Ultralytics' several-line message after the model has loaded."""
    spec = text.strip().lower()
    if spec in ("", "cpu", "mps", "mps:0") or spec.startswith(("npu", "xpu", "tpu", "intel", "vulkan")):
        return text.strip()
    parts = spec.removeprefix("cuda:").replace(" ", "").split(",")
    parts = ["0" if p == "cuda" else p for p in parts]
    if not all(p.isdigit() or p == "-1" for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device: give cpu, mps, a CUDA index (0), a list (0,1) or cuda:0"
        )
    import torch

    count = torch.cuda.device_count()
    missing = [p for p in parts if (p == "-1" and not count) or (p.isdigit() and int(p) >= count)]
    if missing:
        seen = "no CUDA device is visible" if not count else f"CUDA devices 0 to {count - 1} are visible"
        raise argparse.ArgumentTypeError(f"{text}: no such CUDA device here ({seen}); use cpu or a visible index")
    return text.strip()


def existing_folder(text: str) -> str:
    """A folder that exists (``--weights-dir``); the text is returned as given."""
    path = Path(text).expanduser()
    if not path.is_dir():
        state = "is a file, not a folder" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text} {state}: give the folder that holds the weights")
    return text


def looked_up_by_name(model: str) -> bool:
    """Whether a MODEL argument is a name searched in the weights folders (yolo11n, yolo11n.pt), not a path or YAML
    (the same split as :func:`detnas.models.resolve_model`)."""
    path = Path(str(model).strip()).expanduser()
    return not path.exists() and len(path.parts) == 1 and path.suffix.lower() not in (".yaml", ".yml")


def check_weights_dir(weights_dir: str | None, models: list[str]) -> None:
    """``--weights-dir`` looks up model names only: refuse it when every MODEL is a path, which it would not change."""
    if weights_dir is not None and not any(looked_up_by_name(m) for m in models):
        raise InputError(
            f"--weights-dir looks up model names (yolo11n, ...), and {models[0]} is a path: drop --weights-dir"
        )


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


def parse_subset(text: str) -> int | float:
    """``--subset``: a count of images ('64') or a fraction ('0.25', '1.0')."""
    try:
        value = float(text)
    except ValueError:
        message = f"--subset takes a count (e.g. 64) or a fraction (e.g. 0.25), got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    return int(value) if value >= 1 and value == int(value) and "." not in text else value


def training_subset(text: str) -> int | float:
    """``--subset`` with its range checked: a count of images >= 1 ('64') or a fraction in (0, 1] ('0.25')."""
    value = parse_subset(text)
    if isinstance(value, int) or 0 < value <= 1:  # parse_subset returns ints >= 1 only; NaN fails the test
        return value
    raise argparse.ArgumentTypeError(
        f"{text} is out of range: give a count of images >= 1 (e.g. 64) or a fraction in (0, 1] (e.g. 0.25)"
    )


def recipe_from_args(args: argparse.Namespace, *, fine_tune: bool = False, scratch: dict | None = None) -> Recipe:
    """The proxy recipe that ``detnas evaluate`` and ``detnas search`` flags describe (same flag names).

    Flags left unset take the fine-tune defaults when candidates inherit trained weights, else ``scratch``."""
    from detnas.evaluate.recipe import fine_tune_recipe

    given = {
        "epochs": args.epochs,
        "imgsz": args.imgsz,
        "batch": args.batch,
        "subset": args.subset,
        "seed": args.seed,
        "time_limit_s": args.time_limit,
        "head_probe": getattr(args, "head_probe", None),
        "distill": getattr(args, "distill", None),
    }
    if fine_tune:
        return fine_tune_recipe(**{k: v for k, v in given.items() if v is not None})
    return Recipe(**((scratch or {}) | {k: v for k, v in given.items() if v is not None}))


def add_proxy_arguments(p: argparse.ArgumentParser, *, default: str | None) -> None:
    """--proxy, --parent and --parent-run, shared by evaluate and search (default None: the search's own)."""
    from detnas.proxies import CPU_DEFAULT_PROXY, PRETRAINED_DEFAULT_PROXY, PROXIES

    shown = default or (
        f"{PRETRAINED_DEFAULT_PROXY} when candidates inherit from COCO-trained checkpoints (found or --parent), "
        f"else {CPU_DEFAULT_PROXY} on CPU (picked by the fidelity benchmark) and map on GPUs"
    )
    p.add_argument(
        "--proxy",
        choices=list(PROXIES),
        default=default,
        help=f"candidate score (default {shown}): "
        + "; ".join(f"{p.name}: {p.summary}" for p in PROXIES.values())
        + ". See docs on proxies for how well each ranks.",
    )
    parents = p.add_mutually_exclusive_group()
    parents.add_argument(
        "--parent",
        nargs="+",
        metavar="PT",
        help="COCO-trained Ultralytics checkpoints candidates inherit weights from (yolo11n.pt yolov8n.pt ...; "
        "default for search: yolo11n, yolov8n, yolov5nu found in $DETNAS_WEIGHTS, Ultralytics' weights_dir or "
        "../shared/weights/pt)",
    )
    parents.add_argument(
        "--parent-run",
        metavar="DIR",
        help="the folder of 'detnas parent train', the over-sized parent that --proxy inherit slices weights from",
    )


def add_head_probe_argument(p: argparse.ArgumentParser) -> None:
    """--head-probe and --distill, shared by evaluate and search."""
    from detnas.evaluate.recipe import DISTILL, HEAD_PROBE, Recipe

    p.add_argument(
        "--head-probe",
        choices=HEAD_PROBE,
        help="train a fresh class head on frozen inherited features before the fine-tune: auto (when the data's "
        f"classes are not the parent's), on, off (default {Recipe.head_probe})",
    )
    p.add_argument(
        "--distill",
        choices=DISTILL,
        help="after inheriting, distil the candidate from its parent (class and box outputs as targets, "
        "detnas.evaluate.distill) before the fine-tune: auto (sliced candidates on the parent's classes), on, off "
        f"(default {Recipe.distill})",
    )


def parents_from(args: argparse.Namespace) -> list[str] | None:
    """The --parent checkpoints or the --parent-run folder, each checked to be what its option takes."""
    if args.parent_run is not None:
        folder = Path(args.parent_run).expanduser()
        if folder.is_file():
            raise InputError(
                f"--parent-run {folder} is a file: checkpoints go to --parent; --parent-run takes the "
                "folder of 'detnas parent train'"
            )
        return [args.parent_run]
    for text in args.parent or ():
        if Path(text).expanduser().is_dir():
            raise InputError(
                f"--parent {text} is a folder: --parent takes checkpoint files (.pt); a 'detnas parent "
                "train' folder goes to --parent-run"
            )
    return args.parent


def parse_imgsz(text: str) -> int:
    """An input size: a positive multiple of 32 (the largest stride of the detection heads)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 32 or value % 32:
        raise argparse.ArgumentTypeError(f"{text} is out of range: give a multiple of 32, at least 32 (e.g. 320)")
    return value


def resolve_parents(
    texts: list[str] | None, *, nc: int | None = None, names: dict[int, str] | None = None
) -> list[Path]:
    """Check every --parent (checkpoint or parent folder) by loading it; InputError naming the first bad one.

    Prints a notice when the data's classes are not a parent's: the class predictions start fresh."""
    from detnas.inherit.candidate import same_classes
    from detnas.inherit.checkpoint import CheckpointError, load_parent

    paths = []
    for text in texts or []:
        try:
            parent = load_parent(Path(text).expanduser())
        except CheckpointError as e:
            raise InputError(str(e)) from None
        if nc is not None and not same_classes(parent.names, nc, names):
            what = f"{nc} classes" if parent.nc != nc else "other class names"
            print(
                f"note: {text} predicts {parent.nc} classes, the data has {what}: the class predictions of every "
                "candidate start fresh and first learn on frozen inherited features (the head probe; box and "
                "feature layers are inherited)",
                file=sys.stderr,
            )
        paths.append(Path(text).expanduser().resolve())
    return paths


def resolve_data(text: str) -> Path:
    """A data YAML path, or a dataset name (coco8, coco_mini, ...) looked up in the datasets folder."""
    path = Path(text).expanduser()
    if path.exists() or path.suffix in {".yaml", ".yml"} or "/" in text:
        return path
    from detnas.datasets import dataset_yaml

    try:
        return dataset_yaml(text)
    except FileNotFoundError as e:
        raise InputError(str(e)) from None
