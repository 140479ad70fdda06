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
    if (imgsz is not None and (imgsz < 32 or imgsz % 32)) or batch < 1:
        raise ValueError(f"need imgsz a positive multiple of 32 and batch >= 1, got {imgsz} and {batch}")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
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
    if imgsz is not None and (imgsz < 32 or imgsz % 32):
        raise ValueError(f"imgsz must be a positive multiple of 32, got {imgsz}")
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


def starting_weights(arch: str | Path, *, scratch: bool = False) -> Path | None:
    """The search's weights for a front YAML (``front/<id>.pt`` beside ``front/<id>.yaml``), unless ``scratch``."""
    path = Path(arch)
    if scratch or path.suffix.lower() not in (".yaml", ".yml"):
        return None
    weights = path.with_suffix(".pt")
    return weights if weights.is_file() else None
