"""``detnas train`` and ``detnas export``: full training of a found design and export, through Ultralytics itself.

Training uses Ultralytics' trainer and run layout (``PROJECT/NAME/weights/best.pt``, ``results.csv``, ...); a found
design is a stock model YAML, so this is exactly ``yolo train model=front/<id>.yaml``. Export is Ultralytics' export;
the ``onnx`` extra of detnas holds what ``--format onnx`` needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detnas.models import load_model, resolve_model

DEFAULT_PROJECT = "runs/train"


@dataclass
class TrainResult:
    save_dir: Path
    best: Path | None
    last: Path | None
    metrics: dict[str, float]


def train(
    arch: str | Path,
    *,
    data: str | Path,
    epochs: int,
    imgsz: int | None = None,
    batch: int = 16,
    device: str = "cpu",
    project: str | Path = DEFAULT_PROJECT,
    name: str = "train",
    exist_ok: bool = False,
    workers: int | None = None,
    seed: int = 0,
    weights_dir: str | Path | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train an architecture YAML (or fine-tune a YOLO .pt) with Ultralytics' trainer; returns the run's files.

    Raises:
        ValueError / FileNotFoundError: one line for a bad model, data or setting (YOLO-NAS and TFLite cannot train).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if (imgsz is not None and imgsz < 32) or batch < 1:
        raise ValueError(f"need imgsz >= 32 and batch >= 1, got {imgsz} and {batch}")
    data = Path(data).expanduser()
    if not data.is_file():
        raise FileNotFoundError(f"data YAML {data} does not exist: pass an Ultralytics data YAML (--data)")
    from detnas.evaluate.data import load_data_yaml

    load_data_yaml(data)  # one-line error for a broken data YAML before the trainer starts
    resolved = resolve_model(arch, weights_dir=weights_dir)
    if resolved.kind == "nas":
        raise ValueError(f"{arch}: YOLO-NAS cannot be trained through Ultralytics (NAS is inference/val/export only)")
    if resolved.kind == "tflite":
        raise ValueError(f"{arch}: a TFLite export is inference-only; train its .pt or YAML instead")
    if resolved.kind == "yaml" and resolved.path is not None:
        from detnas.evaluate import check_arch_yaml

        check_arch_yaml(resolved.path)
    loaded = load_model(resolved)
    model = loaded.model
    kwargs: dict[str, Any] = {
        "data": str(data.resolve()),
        "epochs": epochs,
        "imgsz": imgsz or loaded.design_imgsz or 640,
        "batch": batch,
        "device": device,
        "project": str(Path(project).expanduser().resolve()),
        "name": name,
        "exist_ok": exist_ok,
        "seed": seed,
        "plots": overrides.pop("plots", False),
        **overrides,
    }
    if workers is not None:
        kwargs["workers"] = workers
    model.train(**kwargs)
    trainer = model.trainer
    save_dir = Path(trainer.save_dir)
    best, last = Path(trainer.best), Path(trainer.last)
    metrics = {k: float(v) for k, v in (getattr(trainer, "metrics", None) or {}).items() if _is_number(v)}
    return TrainResult(save_dir, best if best.is_file() else None, last if last.is_file() else None, metrics)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def export(
    model: str | Path,
    *,
    format: str = "onnx",
    imgsz: int | None = None,
    device: str = "cpu",
    weights_dir: str | Path | None = None,
    **overrides: Any,
) -> Path:
    """Export through Ultralytics (written beside the weights, as Ultralytics does); returns the exported path."""
    if imgsz is not None and imgsz < 32:
        raise ValueError(f"imgsz must be >= 32, got {imgsz}")
    loaded = load_model(model, weights_dir=weights_dir)
    imgsz = imgsz or loaded.design_imgsz or 640
    if loaded.kind == "tflite":
        raise ValueError(f"{model} is already an export (TFLite): export its .pt instead")
    if loaded.kind == "yaml":
        raise ValueError(f"{model} is an architecture without weights: train it first (detnas train), then export")
    try:
        exported = loaded.model.export(format=format, imgsz=imgsz, device=device, **overrides)
    except (ModuleNotFoundError, ImportError) as e:
        raise ValueError(
            f"export to {format} needs a missing package ({e}); for onnx: pip install 'detnas[onnx]'"
        ) from None
    if not exported:
        raise ValueError(f"export of {model} to {format} wrote nothing (see the Ultralytics log above)")
    return Path(exported)


def add_train_parser(subparsers) -> None:
    """``detnas train``: register the sub-command on an argparse sub-parsers object."""
    p = subparsers.add_parser(
        "train",
        help="full training of a found design (or any Ultralytics YAML / YOLO .pt) with Ultralytics' trainer",
        description="Train ARCH (a found design's front/<id>.yaml, any model YAML, or a YOLO .pt to fine-tune) with "
        "Ultralytics' trainer; the run lands in PROJECT/NAME as Ultralytics lays it out (weights/best.pt, ...).",
    )
    p.add_argument("arch", metavar="ARCH", help="model YAML, .pt checkpoint, or name")
    p.add_argument("--data", required=True, help="Ultralytics data YAML")
    p.add_argument("--epochs", type=int, required=True, help="training epochs")
    p.add_argument(
        "--imgsz", type=int, default=None, help="image size (default: a detnas design's searched size, else 640)"
    )
    p.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    p.add_argument("--device", default="cpu", help="cpu, 0, 0,1 ... (default cpu)")
    p.add_argument("--project", default=DEFAULT_PROJECT, help=f"runs folder (default {DEFAULT_PROJECT})")
    p.add_argument("--name", default="train", help="run name inside --project (default train; incremented if taken)")
    p.add_argument("--exist-ok", action="store_true", help="reuse PROJECT/NAME instead of incrementing the name")
    p.add_argument("--workers", type=int, default=None, help="dataloader workers (default: Ultralytics')")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--weights-dir", metavar="DIR", help="folder of named weights")
    p.add_argument(
        "--scratch",
        action="store_true",
        help="a front/<id>.yaml with its <id>.pt beside it starts from those inherited weights unless this is given",
    )
    p.set_defaults(func=_train_command)


def starting_weights(arch: str | Path, *, scratch: bool = False) -> Path | None:
    """The search's weights for a front YAML (``front/<id>.pt`` beside ``front/<id>.yaml``), unless ``scratch``."""
    path = Path(arch)
    if scratch or path.suffix.lower() not in (".yaml", ".yml"):
        return None
    weights = path.with_suffix(".pt")
    return weights if weights.is_file() else None


def _train_command(args) -> int:
    arch = args.arch
    weights = starting_weights(arch, scratch=args.scratch)
    if weights is not None:
        print(f"starting from {weights} (the search's inherited, fine-tuned weights; --scratch to start fresh)")
        arch = str(weights)
    elif args.scratch and not str(arch).lower().endswith((".yaml", ".yml")):
        raise ValueError(f"--scratch applies to a model YAML, not {arch}: pass front/<id>.yaml to train from scratch")
    result = train(
        arch,
        data=args.data,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        project=args.project,
        name=args.name,
        exist_ok=args.exist_ok,
        workers=args.workers,
        seed=args.seed,
        weights_dir=args.weights_dir,
    )
    print(f"trained: {result.save_dir} (best {result.best}, last {result.last})")
    return 0


def add_export_parser(subparsers) -> None:
    """``detnas export``: register the sub-command on an argparse sub-parsers object."""
    p = subparsers.add_parser(
        "export",
        help="export a model with Ultralytics (default ONNX)",
        description="Export MODEL (.pt path or name) with Ultralytics' exporter; the file is written beside it.",
    )
    p.add_argument("model", metavar="MODEL", help="weights path or model name")
    p.add_argument("--format", default="onnx", help="Ultralytics export format (default onnx)")
    p.add_argument(
        "--imgsz", type=int, default=None, help="export size (default: a detnas design's searched size, else 640)"
    )
    p.add_argument("--device", default="cpu", help="export device (default cpu)")
    p.add_argument("--weights-dir", metavar="DIR", help="folder of named weights")
    p.set_defaults(func=_export_command)


def _export_command(args) -> int:
    path = export(args.model, format=args.format, imgsz=args.imgsz, device=args.device, weights_dir=args.weights_dir)
    print(f"exported: {path}")
    return 0
