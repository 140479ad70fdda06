"""``detnas train`` and ``detnas export``: full training of a found design and export, through Ultralytics itself.

Training uses Ultralytics' trainer and run layout (``PROJECT/NAME/weights/best.pt``, ``results.csv``, ...); a found
design is a stock model YAML, so this is exactly ``yolo train model=front/<id>.yaml``. Export is Ultralytics' export;
the ``onnx`` extra of detnas holds what ``--format onnx`` needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detnas.models import EXPORT_KINDS, load_model, resolve_model

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
    data, _ = _checked_run_inputs(data, epochs=epochs, imgsz=imgsz, batch=batch, workers=workers)
    resolved = resolve_model(arch, weights_dir=weights_dir)
    if resolved.kind == "nas":
        raise ValueError(f"{arch}: YOLO-NAS cannot be trained through Ultralytics (NAS is inference/val/export only)")
    if resolved.kind in EXPORT_KINDS:
        raise ValueError(f"{arch}: a {resolved.kind} export is inference-only; train its .pt or YAML instead")
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


def distill_train(
    model_path: str | Path,
    *,
    teacher: str | Path,
    data: str | Path,
    epochs: int,
    imgsz: int | None = None,
    batch: int = 16,
    device: str = "cpu",
    project: str | Path = DEFAULT_PROJECT,
    name: str = "train",
    exist_ok: bool = False,
    seed: int = 0,
    label_weight: float = 1.0,
) -> TrainResult:
    """Train the weights ``model_path`` (a sliced design's ``front/<id>.pt``, any YOLO .pt) to reproduce ``teacher``
    (its parent) with ``detnas.evaluate.distill``, plus the labels' detection loss times ``label_weight`` (0: the
    images need no labels); writes ``PROJECT/NAME/weights/last.pt`` and ``distill.json``, then validates on the data.

    Raises:
        ValueError / FileNotFoundError: one line for a bad model, teacher, data or setting.
    """
    import json

    from detnas.evaluate.distill import DistillSettings, detect_head, distill
    from detnas.inherit.candidate import same_classes, save_checkpoint

    data, spec = _checked_run_inputs(data, epochs=epochs, imgsz=imgsz, batch=batch)
    if label_weight < 0:
        raise ValueError(f"--label-weight must be >= 0, got {label_weight}")
    student = _detection_weights(model_path, "ARCH")
    parent = _detection_weights(teacher, "--teacher")
    s_head, t_head = detect_head(student), detect_head(parent)
    if list(s_head.stride) != list(t_head.stride) or s_head.reg_max != t_head.reg_max:
        raise ValueError(
            f"{teacher}: its Detect head (strides {[int(x) for x in t_head.stride]}, reg_max {t_head.reg_max}) does "
            f"not match {model_path}'s ({[int(x) for x in s_head.stride]}, reg_max {s_head.reg_max}): distil from "
            "the design's parent"
        )
    names = dict(spec.names)
    classes = s_head.nc == t_head.nc == len(names) and same_classes(dict(parent.names), len(names), names)
    if s_head.nc != len(names):
        raise ValueError(
            f"{model_path} predicts {s_head.nc} classes but {data} has {len(names)}: search or fine-tune on this data "
            "first"
        )
    save_dir = Path(project).expanduser().resolve() / name
    if save_dir.exists() and not exist_ok:
        raise ValueError(f"{save_dir} exists: pass --exist-ok to reuse it or another --name")
    settings = DistillSettings(epochs=float(epochs), batch=batch, seed=seed, label_weight=label_weight)
    size = imgsz or 640
    report = distill(
        student,
        parent,
        data,
        imgsz=size,
        settings=settings,
        distill_classes=classes,
        device=device,
        log=print,
    )
    last = save_checkpoint(student, save_dir / "weights" / "last.pt", extra={"train_args": {"imgsz": size}})
    (save_dir / "distill.json").write_text(
        json.dumps(
            {
                "teacher": str(teacher),
                "student": str(model_path),
                "data": str(data),
                "imgsz": size,
                "report": report.to_dict(),
            },
            indent=2,
        )
    )
    from ultralytics import YOLO

    validated = YOLO(str(last)).val(
        data=str(data.resolve()),
        imgsz=size,
        batch=batch,
        device=device,
        plots=False,
        verbose=False,
        project=str(save_dir),
        name="val",
        exist_ok=True,
    )
    metrics = {k: float(v) for k, v in validated.results_dict.items() if _is_number(v)}
    return TrainResult(save_dir, None, last, metrics)


def _detection_weights(path: str | Path, what: str):
    """A .pt file's loaded model (one line naming the file when it is not one)."""
    resolved = resolve_model(path)
    if resolved.kind != "yolo" or resolved.path is None:
        raise ValueError(f"{what} {path}: distillation needs a trained .pt checkpoint, not a {resolved.kind} model")
    return load_model(resolved).model.model.float()


def _checked_run_inputs(data: str | Path, *, epochs: int, imgsz: int | None, batch: int, workers: int | None = None):
    """The settings every training command shares, checked before anything loads: one line for each bad one.
    Returns the data YAML's path and its parsed spec (a broken YAML fails here, not inside the trainer)."""
    from detnas.evaluate.data import load_data_yaml

    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if (imgsz is not None and (imgsz < 32 or imgsz % 32)) or batch < 1:
        raise ValueError(f"need imgsz a positive multiple of 32 and batch >= 1, got {imgsz} and {batch}")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    data = Path(data).expanduser()
    if not data.is_file():
        raise FileNotFoundError(f"data YAML {data} does not exist: pass an Ultralytics data YAML (--data)")
    return data, load_data_yaml(data)


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
    if loaded.kind in EXPORT_KINDS:
        raise ValueError(f"{model} is already an export ({loaded.kind}): export its .pt instead")
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


def export_deployed(
    model: str | Path,
    *,
    runtime: str | None,
    precision: str | None,
    imgsz: int | None = None,
    data: str | Path | None = None,
    out: str | Path | None = None,
    calibration_images: int | None = None,
    seed: int | None = None,
    weights_dir: str | Path | None = None,
):
    """``detnas export MODEL --runtime R --precision P``: the deployable of ``detnas.evaluate.deployed`` and its
    record, in ``out`` (default: ``<stem>_<runtime>_<precision>_<imgsz>/`` beside the weights).

    INT8 calibrates on the train split of ``data``; for a search's ``front/<id>.pt`` that defaults to the run's own
    search data. A design searched with deploy genes (``precision`` / ``runtime``) is deployed as it was searched:
    ``runtime`` and ``precision`` None take its genes, and others than its own are refused, since its mAP and latency
    were measured on that artifact. Without genes, ``precision`` None means fp32. Raises InputError (one line) for a
    runtime that is not installed, an unsupported runtime or precision, one the design was not searched at, a
    calibration set that is empty or unreadable, or a model that is not a checkpoint."""
    from detnas.errors import InputError
    from detnas.evaluate.deployed import CALIBRATION_COUNT, CALIBRATION_SEED, export_deployable, require_runtime

    if runtime is not None:
        require_runtime(runtime, precision or "fp32")  # before loading anything
    if precision is not None and precision != "int8" and (data, calibration_images, seed) != (None, None, None):
        raise InputError("--data, --calibration-images and --seed calibrate INT8: drop them for --precision fp32")
    if imgsz is not None and (imgsz < 32 or imgsz % 32):
        raise InputError(f"imgsz must be a positive multiple of 32, got {imgsz}")
    loaded = load_model(model, weights_dir=weights_dir)
    if loaded.kind in EXPORT_KINDS:
        raise InputError(f"{model} is already an export ({loaded.kind}): export its .pt instead")
    if loaded.kind != "yolo" or loaded.resolved.path is None:
        what = "an architecture without weights: train it first (detnas train)" if loaded.kind == "yaml" else "not"
        raise InputError(f"{model} is {what} an Ultralytics detection checkpoint (.pt) to deploy")
    weights = loaded.resolved.path
    searched = loaded.design_deployment
    if searched is not None:
        for flag, asked, own in (("--precision", precision, searched[0]), ("--runtime", runtime, searched[1])):
            if asked is not None and asked != own:
                raise InputError(
                    f"{model} was searched as {searched[0]} on {searched[1]}: its mAP and latency are that "
                    f"artifact's, not {flag} {asked}'s; drop --precision/--runtime to export it as searched"
                )
        precision, runtime = searched
        require_runtime(runtime, precision)
    elif runtime is None:
        raise InputError(f"{model} carries no deploy genes: pass --runtime onnxruntime|openvino")
    precision = precision or "fp32"
    if precision != "int8" and (data is not None or calibration_images is not None or seed is not None):
        raise InputError("--data, --calibration-images and --seed calibrate INT8: drop them for --precision fp32")
    size = imgsz or loaded.design_imgsz or 640
    if precision == "int8" and data is None:
        data = _run_data(weights)
        if data is None:
            raise InputError(
                f"INT8 needs calibration images: pass --data (a data YAML; {CALIBRATION_COUNT} images of its train "
                "split are drawn)"
            )
    target = Path(out).expanduser() if out else weights.parent / f"{weights.stem}_{runtime}_{precision}_{size}"
    return export_deployable(
        weights,
        runtime=runtime,
        precision=precision,
        imgsz=size,
        out=target,
        data=data,
        count=CALIBRATION_COUNT if calibration_images is None else calibration_images,
        seed=CALIBRATION_SEED if seed is None else seed,
    )


def _run_data(weights: Path) -> Path | None:
    """The search data of the run whose ``front/`` holds ``weights`` (None when it is not a front design)."""
    run = weights.parent.parent
    if weights.parent.name != "front":
        return None
    from detnas.search.loop import STORE_NAME
    from detnas.search.store import Store

    if not (run / STORE_NAME).is_file():
        return None
    store = Store(run / STORE_NAME)
    try:
        data = (store.get_meta("config") or {}).get("data")
    finally:
        store.close()
    return Path(data) if data and Path(data).is_file() else None


def starting_weights(arch: str | Path, *, scratch: bool = False) -> Path | None:
    """The search's weights for a front YAML (``front/<id>.pt`` beside ``front/<id>.yaml``), unless ``scratch``."""
    path = Path(arch)
    if scratch or path.suffix.lower() not in (".yaml", ".yml"):
        return None
    weights = path.with_suffix(".pt")
    return weights if weights.is_file() else None
