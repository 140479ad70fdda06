"""Model resolution and loading for benchmark, predict, train and export: one rule for every command.

A model is given as a path (``.pt`` checkpoint, ``.yaml`` architecture, ``.tflite``, ``.onnx`` or OpenVINO
``*_openvino_model`` export, e.g. what ``detnas export --runtime`` writes) or as a name
(``yolo11n``, ``yolov8n.pt``, ``yolo_nas_s``). A name is looked up, in order, in ``--weights-dir``, in
``$DETNAS_WEIGHTS`` and in Ultralytics' own ``SETTINGS["weights_dir"]``; only when Ultralytics may go online
(``YOLO_OFFLINE`` unset and the network reachable) is an official asset downloaded. Offline, a missing file ends in
one line that names the file and the folder to put it in.

YOLO models load through ``ultralytics.YOLO``, YOLO-NAS through ``ultralytics.NAS`` (which unpickles a
super-gradients module, so the ``super_gradients`` package must be importable). A ``.pt`` is read and checked first
(:func:`check_checkpoint`): Ultralytics lets a damaged file or a classification model through to a traceback deep in
prediction or validation, where every command here must end in one ``error: <file>: <problem>; <fix>`` line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

WEIGHTS_ENV = "DETNAS_WEIGHTS"
ModelKind = Literal["yolo", "nas", "tflite", "yaml", "onnx", "openvino"]
EXPORT_KINDS = ("tflite", "onnx", "openvino")  # inference-only files with a fixed input size
DEPLOY_RECORD = "deploy.json"  # what detnas.evaluate.deployed writes beside (or inside) an artifact
WEIGHT_SUFFIXES = (".pt", ".tflite")
YAML_SUFFIXES = (".yaml", ".yml")
_NAS_INSTALL_HINT = "install the yolonas recipe: scripts/install_yolonas.sh VENV (super-gradients 3.7.1)"


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model comes from and how it loads; ``path`` is None only for a stock YAML name (``yolo11n.yaml``)."""

    spec: str
    kind: ModelKind
    path: Path | None
    name: str


@dataclass
class LoadedModel:
    """An Ultralytics ``Model`` (YOLO or NAS) with what the commands need to know about it."""

    resolved: ResolvedModel
    model: Any  # ultralytics.YOLO | ultralytics.NAS
    names: dict[int, str] = field(default_factory=dict)
    fixed_imgsz: int | None = None  # exports with a fixed input size (TFLite): predict/val must use it
    precision: str = "fp32"

    @property
    def kind(self) -> ModelKind:
        return self.resolved.kind

    @property
    def design_imgsz(self) -> int | None:
        """The input size a detnas design was searched at (``imgsz:`` in its YAML, kept in its checkpoints)."""
        spec = getattr(getattr(self.model, "model", None), "yaml", None)
        size = spec.get("imgsz") if isinstance(spec, dict) else None
        return size if isinstance(size, int) and size >= 32 else None

    @property
    def design_deployment(self) -> tuple[str, str] | None:
        """``(precision, runtime)`` a detnas design was searched at (its deploy genes, kept in its checkpoints as
        ``precision:`` / ``runtime:``); None for a design searched without them and any other model."""
        spec = getattr(getattr(self.model, "model", None), "yaml", None)
        if not isinstance(spec, dict):
            return None
        precision, runtime = spec.get("precision"), spec.get("runtime")
        return (precision, runtime) if isinstance(precision, str) and isinstance(runtime, str) else None


def ultralytics_weights_dir() -> Path:
    """Ultralytics' own weights folder (``yolo settings weights_dir=...``)."""
    from ultralytics.utils import SETTINGS

    return Path(SETTINGS["weights_dir"])


def shared_weights_dir() -> Path | None:
    """``../shared/weights/pt`` beside the checkout (COCO-trained float checkpoints), when it exists."""
    path = (Path(__file__).resolve().parents[1] / ".." / "shared" / "weights" / "pt").resolve()
    return path if path.is_dir() else None


def weights_dirs(weights_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for a model name, in order: the argument, ``$DETNAS_WEIGHTS``, Ultralytics' weights_dir,
    then ``../shared/weights/pt`` beside the checkout."""
    folders: list[Path] = []
    for entry in (weights_dir, os.environ.get(WEIGHTS_ENV), ultralytics_weights_dir(), shared_weights_dir()):
        if entry:
            path = Path(entry).expanduser().resolve()
            if path not in folders:
                folders.append(path)
    return folders


DEFAULT_PARENTS = ("yolo11n", "yolov8n", "yolov5nu")  # the COCO-trained checkpoints a search inherits from


def default_parents(weights_dir: str | Path | None = None) -> list[Path]:
    """The default parents' checkpoints found in the weights folders (first folder that has each name)."""
    found = []
    for name in DEFAULT_PARENTS:
        path = next((d / f"{name}.pt" for d in weights_dirs(weights_dir) if (d / f"{name}.pt").is_file()), None)
        if path is not None:
            found.append(path)
    return found


def is_nas_name(name: str) -> bool:
    return Path(name).stem.lower().startswith("yolo_nas")


def asset_file_name(spec: str) -> str:
    """``yolo11n`` -> ``yolo11n.pt``; Ultralytics' own renames too (``yolov5n.pt`` -> ``yolov5nu.pt``)."""
    from ultralytics.utils.checks import check_yolov5u_filename

    name = spec if Path(spec).suffix else f"{spec}.pt"
    return check_yolov5u_filename(name, verbose=False)


def may_download() -> bool:
    """True when Ultralytics would download: YOLO_OFFLINE unset/false and the network reachable."""
    from ultralytics.utils import is_online

    return is_online()


def _kind_of_path(path: Path) -> ModelKind:
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES:
        return "yaml"
    if suffix == ".tflite":
        return "tflite"
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".xml":
        return "openvino"
    if suffix == ".pt":
        return "nas" if is_nas_name(path.name) or _is_pickled_module(path) else "yolo"
    raise ValueError(
        f"model {path} has suffix {suffix!r}: give a .pt checkpoint, a .yaml architecture, or a .tflite, .onnx or "
        "*_openvino_model export"
    )


def _is_pickled_module(path: Path) -> bool:
    """A whole pickled nn.Module (the YOLO-NAS asset layout) rather than an Ultralytics checkpoint dict.

    Decided from the pickle's first opcodes without unpickling: a checkpoint dict starts with EMPTY_DICT.
    """
    import pickletools
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            pkl = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
            if pkl is None:
                return False
            data = archive.read(pkl)
    except (OSError, zipfile.BadZipFile):
        return False
    for opcode, _, _ in pickletools.genops(data):
        if opcode.name in {"PROTO", "FRAME"}:
            continue
        return opcode.name != "EMPTY_DICT"
    return False


def resolve_model(
    spec: str | Path, *, weights_dir: str | Path | None = None, download: bool | None = None
) -> ResolvedModel:
    """Find the file behind a model path or name.

    Raises:
        FileNotFoundError: one line naming the missing file and where to put it (offline, or no such asset).
        ValueError: an unsupported suffix.
    """
    text = str(spec).strip()
    if not text:
        raise ValueError("empty model name: give a path (.pt, .yaml, .tflite) or a name such as yolo11n")
    path = Path(text).expanduser()
    if path.is_file():
        return ResolvedModel(text, _kind_of_path(path), path.resolve(), path.stem)
    if path.is_dir():
        if any(path.glob("*.xml")):  # an OpenVINO IR folder
            return ResolvedModel(text, "openvino", path.resolve(), path.name)
        raise ValueError(
            f"{path}: is a folder, not a model; give a weights file, a YAML, an OpenVINO *_openvino_model folder or a "
            "model name"
        )
    if path.suffix.lower() in YAML_SUFFIXES:
        if len(path.parts) == 1 and _is_stock_yaml(path.name):
            return ResolvedModel(text, "yaml", None, path.stem)  # Ultralytics builds 'yolo11n.yaml' from its configs
        raise FileNotFoundError(f"architecture YAML {path} does not exist: pass the path of a model YAML")
    if len(path.parts) > 1 or "/" in text or os.sep in text:  # a path ('./x.pt' too), not a name: no folder search
        raise FileNotFoundError(f"{path}: the model file does not exist; check the path")
    file_name = asset_file_name(text)
    _kind_of_path(Path(file_name))  # suffix check
    folders = weights_dirs(weights_dir)
    for folder in folders:
        candidate = folder / file_name
        if candidate.is_file():
            return ResolvedModel(text, _kind_of_path(candidate), candidate, Path(file_name).stem)
    if download is None:
        download = may_download()
    if download and _is_ultralytics_asset(file_name):
        from ultralytics.utils.downloads import attempt_download_asset

        folders[0].mkdir(parents=True, exist_ok=True)
        fetched = Path(attempt_download_asset(folders[0] / file_name))
        if fetched.is_file():
            return ResolvedModel(text, _kind_of_path(fetched), fetched.resolve(), Path(file_name).stem)
    where = ", ".join(str(f) for f in folders)
    why = "no Ultralytics asset of that name" if not _is_ultralytics_asset(file_name) else "offline"
    raise FileNotFoundError(
        f"{file_name}: not found in {where} (not downloaded: {why}); put {file_name} in {folders[0]} "
        f"(or pass --weights-dir DIR / set {WEIGHTS_ENV})"
    )


def _is_ultralytics_asset(file_name: str) -> bool:
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

    return file_name in GITHUB_ASSETS_NAMES


def _is_stock_yaml(file_name: str) -> bool:
    try:
        from ultralytics.nn.tasks import yaml_model_load

        yaml_model_load(file_name)
    except Exception:  # noqa: BLE001 - any failure means "not a stock config"
        return False
    return True


def tflite_metadata(path: str | Path) -> dict[str, Any]:
    """Ultralytics metadata embedded in an export (names, imgsz, description), read without loading the model."""
    from ultralytics.nn.backends.base import BaseBackend

    return BaseBackend.read_metadata(Path(path)) or {}


def deploy_record_path(artifact: str | Path) -> Path:
    """Where detnas keeps an artifact's deploy record: inside an OpenVINO folder, ``<stem>.deploy.json`` beside a
    file."""
    artifact = Path(artifact)
    return artifact / DEPLOY_RECORD if artifact.is_dir() else artifact.with_name(f"{artifact.stem}.{DEPLOY_RECORD}")


def read_deploy_record(artifact: str | Path) -> dict[str, Any] | None:
    """The deploy record of an artifact detnas wrote (runtime, precision, size, calibration); None for other files."""
    import json

    try:
        record = json.loads(deploy_record_path(artifact).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _export_meta(path: Path) -> tuple[int | None, dict[int, str], str]:
    """Fixed input size, class names and precision of an Ultralytics export (its metadata; detnas's deploy record
    for the precision where there is one)."""
    import ast

    meta = tflite_metadata(path)

    def value(key: str) -> Any:
        raw = meta.get(key)
        if isinstance(raw, str):  # ONNX metadata keeps Python literals as strings
            try:
                return ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                return raw
        return raw

    imgsz = value("imgsz")
    fixed = int(max(imgsz)) if isinstance(imgsz, list | tuple) and imgsz else (int(imgsz) if imgsz else None)
    names = {int(k): str(v) for k, v in (value("names") or {}).items()}
    args = value("args") or {}
    record = read_deploy_record(path)
    if record and record.get("precision"):
        return fixed, names, str(record["precision"])
    quant = args.get("quantize") if isinstance(args, dict) else None
    precision = "int8" if quant == 8 or args.get("int8") else ("fp16" if quant == 16 or args.get("half") else "fp32")
    return fixed, names, precision


def load_model(spec: str | Path | ResolvedModel, *, weights_dir: str | Path | None = None) -> LoadedModel:
    """Load a model through ``ultralytics.YOLO`` or ``ultralytics.NAS``.

    Raises:
        FileNotFoundError / ValueError: see :func:`resolve_model`; ValueError (one line) when YOLO-NAS needs
        super-gradients or a TFLite file needs ai-edge-litert; CheckpointError (a ValueError) for a ``.pt`` that
        is unreadable or holds no detection model (see :func:`check_checkpoint`).
    """
    resolved = spec if isinstance(spec, ResolvedModel) else resolve_model(spec, weights_dir=weights_dir)
    source = str(resolved.path) if resolved.path is not None else resolved.spec
    if resolved.kind == "nas":
        return _load_nas(resolved, source)
    if resolved.kind == "yolo" and resolved.path is not None:
        check_checkpoint(resolved.path)
    from ultralytics import YOLO

    if resolved.kind == "tflite":
        require_litert()
        meta = tflite_metadata(source)
        imgsz = meta.get("imgsz")
        fixed = int(max(imgsz)) if isinstance(imgsz, list | tuple) and imgsz else (int(imgsz) if imgsz else None)
        names = {int(k): str(v) for k, v in (meta.get("names") or {}).items()}
        args = meta.get("args") or {}
        quant = "int8" if args.get("int8") else ("fp16" if args.get("half") else "fp32")
        model = YOLO(source, task=meta.get("task", "detect"))
        return LoadedModel(resolved, model, names, fixed_imgsz=fixed, precision=quant)
    if resolved.kind in ("onnx", "openvino"):
        require_export_runtime(resolved)
        fixed, names, precision = _export_meta(resolved.path)  # type: ignore[arg-type]
        model = YOLO(source, task="detect")
        return LoadedModel(resolved, model, names, fixed_imgsz=fixed, precision=precision)
    model = YOLO(source, task="detect")
    names = dict(getattr(model.model, "names", {}) or {})
    return LoadedModel(resolved, model, names)


def _load_nas(resolved: ResolvedModel, source: str) -> LoadedModel:
    """ultralytics.NAS unpickles the whole module: the package its classes live in must be importable
    (super_gradients for the official assets; modern_yolonas for models saved from that reimplementation)."""
    os.environ.setdefault("CRASH_HANDLER", "FALSE")  # super-gradients' import-time crash-report hook
    from ultralytics import NAS

    try:
        model = NAS(source)
    except ModuleNotFoundError as e:
        raise ValueError(
            f"{resolved.spec}: this YOLO-NAS file needs the {e.name or 'missing'} package to unpickle; "
            f"{_NAS_INSTALL_HINT}"
        ) from None
    except Exception as e:  # noqa: BLE001 - whatever NAS raises, the file is diagnosed in one line below
        problem = _pickled_module_problem(Path(source))  # unreadable, or a whole pickled Ultralytics model
        if problem is not None:
            raise problem from None
        raise ValueError(  # e.g. _class_names unset: NAS needs names saved with the model
            f"{resolved.spec} is not a YOLO-NAS model that ultralytics.NAS can load ({type(e).__name__}: "
            f"{_first_line(e)}); save it with its class names set (set_dataset_processing_params(class_names=...))"
        ) from None
    return LoadedModel(resolved, model, dict(model.model.names))


def require_export_runtime(resolved: ResolvedModel) -> None:
    """An ONNX or OpenVINO export needs its runtime (detnas extras ``onnx`` / ``openvino``): one line when missing."""
    import importlib.util

    package, extra = ("onnxruntime", "onnx") if resolved.kind == "onnx" else ("openvino", "openvino")
    if importlib.util.find_spec(package) is None:
        raise ValueError(
            f"{resolved.spec}: runtime {package} is not installed, which this {resolved.kind} export needs: "
            f"pip install 'detnas[{extra}]'"
        )


def require_litert() -> None:
    """TFLite inference needs the ai-edge-litert package (detnas extra ``tflite``)."""
    import importlib.util

    if importlib.util.find_spec("ai_edge_litert") is None:
        raise ValueError("TFLite models need the ai-edge-litert package: pip install 'detnas[tflite]'")


def litert_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ai_edge_litert") is not None


def super_gradients_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("super_gradients") is not None


# ---- checking a .pt before Ultralytics loads it ------------------------------------------------------------------

_TASK_NAMES = {  # guess_model_task's answer -> what to call the model in a message
    "classify": "classification",
    "segment": "segmentation",
    "semantic": "semantic-segmentation",
    "pose": "pose",
    "obb": "oriented-box",
    "depth": "depth-estimation",
}
_SAVE_HINT = "save the whole model with YOLO(...).save(path) or torch.save({'model': model}, path)"


def _first_line(error: BaseException) -> str:
    """The gist of an exception message: its first line, first sentence, at most 160 characters."""
    return (str(error).strip().splitlines() or [""])[0].split(". ")[0][:160]


def _read_pickle(path: Path) -> Any:
    """``torch.load`` of the whole file (old Ultralytics module paths mapped, as its own loader does), on the CPU.

    Raises CheckpointError for a file that cannot be read; ModuleNotFoundError passes through to the caller.
    """
    import torch
    from ultralytics.nn.tasks import temporary_modules

    from detnas.inherit.checkpoint import CheckpointError

    legacy = {
        "ultralytics.yolo.utils": "ultralytics.utils",
        "ultralytics.yolo.v8": "ultralytics.models.yolo",
        "ultralytics.yolo.data": "ultralytics.data",
    }
    attributes = {"pathlib.WindowsPath": "pathlib.PosixPath"} if os.name != "nt" else {}
    try:
        with temporary_modules(modules=legacy, attributes=attributes):
            return torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch reports damage as RuntimeError, EOFError, UnpicklingError, ...
        raise CheckpointError(
            f"{path}: cannot be read as a PyTorch checkpoint ({type(exc).__name__}: {_first_line(exc)}), so the "
            "file is empty, truncated or not a checkpoint; copy or download it again"
        ) from None


def _detection_problem(path: Path, model: Any) -> str | None:
    """Why ``model`` is no Ultralytics detection model, as '<file>: <problem>; <fix>'; None when it is one.

    Any architecture passes (fused, half precision, outside the detnas search space): prediction and benchmarking
    only need a YOLO detection head.
    """
    import torch
    from ultralytics.nn.modules.head import Detect
    from ultralytics.nn.tasks import guess_model_task

    layers = getattr(model, "model", None)
    if not isinstance(layers, torch.nn.Sequential) or len(layers) == 0:
        return f"{path}: holds a {type(model).__name__}, not an Ultralytics model; {_SAVE_HINT}"
    head = type(layers[-1]).__name__
    task = guess_model_task(model)
    if task != "detect":
        what = _TASK_NAMES.get(str(task), f"{task}")
        return (
            f"{path}: holds a {what} model ({type(model).__name__} ending in {head}), not a detection model; "
            "pass a detection checkpoint such as yolo11n.pt"
        )
    if not isinstance(layers[-1], Detect):
        return (
            f"{path}: the model ends in {head}, not a YOLO detection head; pass a YOLO detection checkpoint such "
            "as yolo11n.pt"
        )
    return None


def check_checkpoint(path: str | Path) -> None:
    """Raise CheckpointError (a ValueError; one line: the file, what is wrong, the fix) unless ``path`` is an
    Ultralytics checkpoint holding a detection model.

    Catches what Ultralytics' loader lets through to a traceback later (or, for a benchmark row, to an unreadable
    reason): a missing, empty, truncated or non-PyTorch file, a checkpoint without a model, a whole pickled module
    or state dict, and a classification, segmentation, pose or OBB model.
    """
    import torch

    from detnas.inherit.checkpoint import CheckpointError

    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder, not a checkpoint file" if path.is_dir() else "does not exist"
        raise CheckpointError(f"{path}: {what}; pass the path of an Ultralytics detection checkpoint (.pt)")
    try:
        ckpt = _read_pickle(path)
    except ModuleNotFoundError as exc:
        raise CheckpointError(
            f"{path}: needs the Python module {exc.name!r} to unpickle, which is not installed (it was not saved "
            "by Ultralytics; YOLOv5-repo checkpoints are not supported); use an Ultralytics checkpoint such as "
            "yolov5nu.pt"
        ) from None
    if isinstance(ckpt, torch.jit.ScriptModule):
        raise CheckpointError(f"{path}: is a TorchScript export, not a checkpoint; use the .pt it was exported from")
    model = None
    if isinstance(ckpt, dict):
        model = ckpt.get("ema") if ckpt.get("ema") is not None else ckpt.get("model")
    if not isinstance(model, torch.nn.Module):
        if isinstance(ckpt, torch.nn.Module):
            what = f"a whole pickled {type(ckpt).__name__} (torch.save(model, path))"
        elif isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            what = "a state_dict (tensors only)"
        else:
            what = f"a {type(ckpt).__name__} without a 'model' entry"
        raise CheckpointError(f"{path}: holds no Ultralytics checkpoint ({what}); {_SAVE_HINT}")
    problem = _detection_problem(path, model)
    if problem is not None:
        raise CheckpointError(problem)


def _pickled_module_problem(path: Path) -> Exception | None:
    """Why a file that ultralytics.NAS could not load is unusable, when it is not a YOLO-NAS question: unreadable,
    a state dict, or a whole pickled Ultralytics model (torch.save(model, path)) rather than a checkpoint. None
    otherwise."""
    import torch

    from detnas.inherit.checkpoint import CheckpointError

    try:
        obj = _read_pickle(path)
    except CheckpointError as exc:
        return exc
    except ModuleNotFoundError:
        return None
    if isinstance(obj, dict):  # an OrderedDict pickles like a module: a state dict saved with torch.save
        what = "a state_dict (tensors only)" if all(isinstance(v, torch.Tensor) for v in obj.values()) else "a dict"
        return CheckpointError(
            f"{path}: holds no Ultralytics checkpoint ({what} without a 'model' entry); {_SAVE_HINT}"
        )
    if not isinstance(getattr(obj, "model", None), torch.nn.Sequential):  # not an Ultralytics model: a YOLO-NAS case
        return None
    problem = _detection_problem(path, obj) or (
        f"{path}: holds a whole pickled {type(obj).__name__} (torch.save(model, path)), not an Ultralytics "
        f"checkpoint; {_SAVE_HINT}"
    )
    return CheckpointError(problem)
