"""What a CPU user deploys: a checkpoint turned into an OpenVINO IR or an ONNX Runtime model, FP32 or INT8.

Every artifact is written by the libraries' own tools; detnas adds only what they lack:

- ``openvino`` ``fp32``: Ultralytics' OpenVINO export (static batch 1 at ``imgsz``).
- ``openvino`` ``int8``: Ultralytics' OpenVINO export with ``quantize=8``, which quantizes with NNCF (mixed preset,
  Detect head's box decoding and sigmoid kept float), calibrated on detnas's seeded calibration images from the
  data's *train* split (a data YAML listing them is written for Ultralytics). ``variant="stock"`` instead lets
  Ultralytics choose: its own calibration loader over ``data`` (the train split, ``fraction`` of it, in file order)
  -- what ``yolo export format=openvino int8=True`` does, kept off the val images that mAP is measured on.
- ``onnxruntime`` ``fp32``: Ultralytics' ONNX export (onnxslim-simplified), as every detnas ONNX timing uses it.
- ``onnxruntime`` ``int8``: ``onnxruntime.quantization.quantize_static`` on that export: QDQ format, per-channel
  INT8 weights, MinMax calibration on the same seeded images (letterboxed as Ultralytics predicts), and the Detect
  head's box decoding (DFL, distance-to-box arithmetic, sigmoid, concatenations) kept float -- one INT8 scale over
  pixel coordinates and class probabilities would round the scores away -- and, by default, the stem (the first two
  layers, :data:`ORT_FLOAT_GROUPS`), which measurement showed costs mAP quantized and saves no time.

Beside every artifact ``deploy.json`` (inside an OpenVINO folder; ``<name>.deploy.json`` beside an ``.onnx``) records
the source weights, runtime, precision, size, and for INT8 the calibration record: data, split, seed, count and the
image files used.

OpenVINO defaults to bfloat16 inference for float operations on CPUs with AVX512-BF16 (this machine), which would
make an "FP32" IR something else; every OpenVINO figure here (latency and mAP) compiles with
``INFERENCE_PRECISION_HINT=f32`` (:data:`OPENVINO_CONFIG`), so the precision column means what it says.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import random
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from detnas.errors import InputError
from detnas.models import deploy_record_path, read_deploy_record

from .latency import OPENVINO_CONFIG, open_session, openvino_config, openvino_xml

__all__ = ["OPENVINO_CONFIG", "open_session", "openvino_config", "openvino_xml"]

RUNTIMES = ("onnxruntime", "openvino")
PRECISIONS = ("fp32", "int8")
VARIANTS = ("detnas", "stock")
CALIBRATION_COUNT = 64
CALIBRATION_SEED = 0
STOCK_FRACTION = 0.1  # Ultralytics' own calibration loader over the train split: coco_proxy's 688 -> 68 images
_PACKAGES = {"onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino", "nncf")}
_EXTRA = {"onnxruntime": "onnx", "openvino": "openvino"}


def runtime_available(runtime: str) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in _PACKAGES[runtime])


def require_runtime(runtime: str, precision: str = "fp32") -> None:
    """InputError (one line) for an unknown runtime or precision, or a runtime whose packages are not installed."""
    if runtime not in RUNTIMES:
        raise InputError(f"runtime {runtime!r} is not supported: choose one of {', '.join(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise InputError(
            f"precision {precision!r} is not supported for {runtime}: choose one of {', '.join(PRECISIONS)}"
        )
    missing = [name for name in _PACKAGES[runtime] if importlib.util.find_spec(name) is None]
    if missing:
        raise InputError(
            f"runtime {runtime} is not installed (missing {', '.join(missing)}): "
            f"pip install 'detnas[{_EXTRA[runtime]}]'"
        )


def design_deployment(arch: dict[str, Any], path: str | Path) -> tuple[str, str] | None:
    """``(precision, runtime)`` a design YAML is deployed at (``precision:`` / ``runtime:``, written from a genome's
    deploy genes), None when it has neither; InputError (one line) for one without the other or an unknown value."""
    precision, runtime = arch.get("precision"), arch.get("runtime")
    if precision is None and runtime is None:
        return None
    if precision not in PRECISIONS or runtime not in RUNTIMES:
        raise InputError(
            f"architecture YAML {path}: precision: {precision!r} and runtime: {runtime!r} go together, precision one "
            f"of {', '.join(PRECISIONS)}, runtime one of {', '.join(RUNTIMES)}"
        )
    return precision, runtime


# Latency backend of ``measure_latency`` that times each runtime's artifact.
LATENCY_BACKEND = {"onnxruntime": "onnx", "openvino": "openvino"}


# ---- calibration images --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Which images calibrated an INT8 artifact, and how they were chosen."""

    data: str
    split: str
    seed: int | None
    count: int
    images: list[str]
    chosen_by: str
    left_out: list[str] = field(default_factory=list)  # drawn but unreadable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _readable(path: Path) -> bool:
    import cv2

    try:
        return path.is_file() and path.stat().st_size > 0 and cv2.imread(str(path)) is not None
    except OSError:
        return False


def calibration_images(
    data: str | Path, *, count: int = CALIBRATION_COUNT, seed: int = CALIBRATION_SEED
) -> Calibration:
    """``count`` images drawn with ``seed`` from the train split of ``data`` (all of them when it has fewer).

    Raises InputError (one line) when the data YAML is bad, its train split is empty, or none of the drawn images can
    be read; a drawn image that cannot be read is left out (listed in ``left_out``) and the next one is drawn."""
    from detnas.evaluate.data import load_data_yaml

    if count < 1:
        raise InputError(f"calibration needs at least one image, got count {count}")
    try:
        spec = load_data_yaml(data)
    except (FileNotFoundError, ValueError) as e:
        raise InputError(f"calibration data: {e}") from None
    pool = sorted(spec.train_images)
    if not pool:
        raise InputError(f"calibration data {data}: its train split holds no images; pass a data YAML with images")
    order = list(pool)
    random.Random(seed).shuffle(order)
    chosen: list[Path] = []
    left_out: list[str] = []
    for path in order:
        if len(chosen) == count:
            break
        (chosen if _readable(path) else left_out).append(path)  # type: ignore[arg-type]
    if not chosen:
        raise InputError(
            f"calibration data {data}: none of the {len(pool)} train images can be read (e.g. {pool[0]}); "
            "pass a data YAML whose train images are readable"
        )
    return Calibration(
        data=str(Path(data).resolve()),
        split="train",
        seed=seed,
        count=len(chosen),
        images=[str(p) for p in chosen],
        chosen_by=f"detnas: seeded draw (random.Random({seed}).shuffle of the sorted train images)",
        left_out=[str(p) for p in left_out],
    )


def letterbox_batch(image: Path, imgsz: int):
    """One image as Ultralytics predicts it: letterboxed to ``imgsz`` (grey 114 padding), RGB, 0-1, NCHW float32."""
    import cv2
    import numpy as np
    from ultralytics.data.augment import LetterBox

    picture = cv2.imread(str(image))
    boxed = LetterBox((imgsz, imgsz), auto=False, stride=32)(image=picture)
    return np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


# ---- artifacts -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    """One deployable artifact: the file (``.onnx``) or folder (``*_openvino_model``) and its record."""

    path: Path
    runtime: str
    precision: str
    imgsz: int
    variant: str
    record: Path
    source: str
    calibration: dict[str, Any] | None = None


def record_path(artifact: Path) -> Path:
    return deploy_record_path(artifact)


def read_record(artifact: str | Path) -> dict[str, Any] | None:
    """The deploy record of an artifact detnas wrote (None for any other export)."""
    return read_deploy_record(artifact)


def runtime_of(artifact: str | Path) -> str | None:
    """``onnxruntime`` for an ``.onnx`` file, ``openvino`` for an OpenVINO IR (folder or ``.xml``), else None."""
    path = Path(artifact)
    if path.suffix.lower() == ".onnx":
        return "onnxruntime"
    if path.suffix.lower() == ".xml" or (path.is_dir() and any(path.glob("*.xml"))):
        return "openvino"
    return None


def _stage_checkpoint(weights: Path, workdir: Path) -> Path:
    """A copy of the weights in ``workdir`` for Ultralytics to export beside (it writes next to its source). The
    ``_export`` suffix keeps Ultralytics from renaming a stock asset name (``yolov5n.pt`` -> ``yolov5nu.pt``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    staged = workdir / f"{weights.stem}_export.pt"
    if not staged.is_file() or staged.stat().st_size != weights.stat().st_size:
        shutil.copy2(weights, staged)
    return staged


def _calibration_yaml(calibration: Calibration, names: dict[int, str], folder: Path) -> Path:
    """A data YAML whose train and val lists are the calibration images (Ultralytics calibrates on the val list)."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    listing = folder / "calibration_images.txt"
    listing.write_text("".join(f"{p}\n" for p in calibration.images))
    path = folder / "calibration.yaml"
    path.write_text(yaml.safe_dump({"path": str(folder), "train": listing.name, "val": listing.name, "names": names}))
    return path


def _ultralytics_export(staged: Path, **kwargs: Any) -> Path:
    from ultralytics import YOLO

    try:
        out = YOLO(str(staged), task="detect").export(batch=1, dynamic=False, device="cpu", verbose=False, **kwargs)
    except (ModuleNotFoundError, ImportError) as e:
        hint = "pip install 'detnas[openvino]' or 'detnas[onnx]'"
        raise InputError(f"export needs a missing package ({e}); {hint}") from None
    if not out:
        raise RuntimeError(f"Ultralytics wrote no {kwargs.get('format')} export of {staged} (see its log)")
    return Path(out)


def _decode_nodes(graph) -> list[str]:
    """Names of the Detect head's box decoding in an Ultralytics ONNX graph: every node of the last module
    (``/model.<last>/``) outside its ``cv2``/``cv3`` convolution branches (DFL, reshapes, sigmoid, box arithmetic)."""
    import re

    index = max(
        (int(m.group(1)) for n in graph.node if (m := re.match(r"/model\.(\d+)/", n.name))),
        default=None,
    )
    if index is None:
        raise RuntimeError("the ONNX graph has no /model.<i>/ node names: not an Ultralytics export")
    head = f"/model.{index}/"
    return [n.name for n in graph.node if n.name.startswith(head) and not re.match(rf"{head}cv[23]\.", n.name)]


# Layer groups an ONNX Runtime INT8 artifact can keep in float besides the box decoding (always float), by the model
# YAML's layer indices: stem (the first two layers), stages (the rest of the backbone up to its last stage block),
# tail (backbone layers after that: SPPF, C2PSA), neck (every layer between backbone and Detect), head (the Detect
# head's cv2 box and cv3 class branches).
FLOAT_GROUPS = ("stem", "stages", "tail", "neck", "head")
# What ONNX Runtime INT8 keeps float by default besides the decoding. Measured on YOLO11n at 640 px
# (benchmarks/int8_float_groups.py): the stem float gains 0.016 mAP50-95 at no latency cost; stages gain 0.022 at
# +42% latency (and OpenVINO INT8 beats both); tail, neck and head branches move neither axis usefully.
ORT_FLOAT_GROUPS = ("stem",)


def layer_groups(model_yaml: dict[str, Any]) -> dict[str, list[int]]:
    """Layer indices of each of :data:`FLOAT_GROUPS` (head: the Detect layer) in an Ultralytics model YAML."""
    backbone, head = model_yaml["backbone"], model_yaml["head"]
    strided = [
        i for i, (_, _, module, args) in enumerate(backbone) if module == "Conv" and len(args) > 2 and args[2] == 2
    ]
    last_stage = (strided[-1] + 1) if strided else len(backbone) - 1
    detect = len(backbone) + len(head) - 1
    return {
        "stem": [0, 1],
        "stages": list(range(2, last_stage + 1)),
        "tail": list(range(last_stage + 1, len(backbone))),
        "neck": list(range(len(backbone), detect)),
        "head": [detect],
    }


def float_group_nodes(graph, model_yaml: dict[str, Any], groups: tuple[str, ...]) -> list[str]:
    """Names of the ONNX nodes of ``groups`` (see :data:`FLOAT_GROUPS`) in an Ultralytics export of ``model_yaml``."""
    import re

    unknown = [g for g in groups if g not in FLOAT_GROUPS]
    if unknown:
        raise InputError(f"float groups {unknown} are not known: choose from {', '.join(FLOAT_GROUPS)}")
    indices = layer_groups(model_yaml)
    wanted = {i for g in groups if g != "head" for i in indices[g]}
    detect = indices["head"][0]
    names = []
    for node in graph.node:
        match = re.match(r"/model\.(\d+)/", node.name)
        if match is None:
            continue
        layer = int(match.group(1))
        if layer in wanted or (
            "head" in groups and layer == detect and re.match(rf"/model\.{detect}/cv[23]\.", node.name)
        ):
            names.append(node.name)
    return names


def quantize_onnx(
    fp32: Path,
    out: Path,
    calibration: Calibration,
    imgsz: int,
    float_nodes: tuple[str, ...] = (),
    float_scope: str = "",
) -> dict[str, Any]:
    """ONNX Runtime static quantization of ``fp32`` into ``out``, the box decoding and ``float_nodes`` (named
    ``float_scope``) kept float; returns the settings it used."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model = onnx.load(str(fp32))
    decode = _decode_nodes(model.graph)
    excluded = decode + [n for n in float_nodes if n not in set(decode)]
    input_name = model.graph.input[0].name
    del model

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.images = iter(calibration.images)

        def get_next(self):
            image = next(self.images, None)
            return None if image is None else {input_name: letterbox_batch(Path(image), imgsz)}

    settings = {
        "quant_format": "QDQ",
        "per_channel": True,
        "weight_type": "QInt8",
        "activation_type": "QUInt8",
        "calibrate_method": "MinMax",
        "float_nodes": len(excluded),
        "float_scope": "Detect box decoding (DFL, box arithmetic, sigmoid, concatenations)"
        + (f"; {float_scope}" if float_scope else ""),
    }
    quantize_static(
        str(fp32),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=excluded,
    )
    return settings


def check_export_request(runtime: str, precision: str, imgsz: int, data: str | Path | None) -> None:
    """What every export refuses before it writes anything, in one line: a runtime that is not installed, a size
    the networks cannot take, INT8 without calibration data."""
    require_runtime(runtime, precision)
    if imgsz < 32 or imgsz % 32:
        raise InputError(f"imgsz must be a positive multiple of 32, got {imgsz}")
    if precision == "int8" and data is None:
        raise InputError("INT8 needs calibration images: pass --data (a data YAML; its train split calibrates)")


def export_deployable(
    weights: str | Path,
    *,
    runtime: str,
    precision: str,
    imgsz: int,
    out: str | Path,
    data: str | Path | None = None,
    count: int = CALIBRATION_COUNT,
    seed: int = CALIBRATION_SEED,
    variant: str = "detnas",
    stock_fraction: float = STOCK_FRACTION,
    float_groups: tuple[str, ...] | None = None,
) -> Deployed:
    """Turn a detection checkpoint into the deployable of ``runtime`` at ``precision`` and ``imgsz`` inside ``out``.

    INT8 needs ``data`` (its train split calibrates). ``variant="stock"`` (OpenVINO INT8 only) is Ultralytics' own
    INT8 export with its own choice of calibration images. Raises InputError (one line) for a runtime not installed,
    an unsupported runtime / precision / variant, a missing or empty calibration set. ``float_groups`` (ONNX Runtime
    INT8 only): layer groups kept float besides the box decoding (:data:`FLOAT_GROUPS`); None: the measured default
    :data:`ORT_FLOAT_GROUPS`, ``()``: the decoding alone."""
    check_export_request(runtime, precision, imgsz, data)
    if float_groups and (runtime, precision) != ("onnxruntime", "int8"):
        raise InputError("float groups apply to ONNX Runtime INT8 only: drop them or use --runtime onnxruntime")
    if variant not in VARIANTS:
        raise InputError(f"variant {variant!r} is not one of {', '.join(VARIANTS)}")
    if variant == "stock" and (runtime, precision) != ("openvino", "int8"):
        raise InputError("the stock variant is Ultralytics' OpenVINO INT8 export: use runtime openvino, precision int8")
    weights = Path(weights).expanduser()
    from detnas.models import check_checkpoint

    if weights.is_dir() or weights.suffix.lower() in (".onnx", ".tflite", ".xml"):
        raise InputError(f"{weights} is already an export: export its .pt checkpoint instead")
    check_checkpoint(weights)  # one line for a missing, damaged or non-detection .pt
    calibration: Calibration | None = None
    if precision == "int8" and variant == "detnas":  # checked before anything is written
        calibration = calibration_images(data, count=count, seed=seed)  # type: ignore[arg-type]
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    staged = _stage_checkpoint(weights.resolve(), out / "staging")
    extra: dict[str, Any] = {}
    try:
        if runtime == "openvino":
            kwargs: dict[str, Any] = {"format": "openvino", "imgsz": imgsz}
            if precision == "int8" and calibration is not None:
                names = _names_of(weights)
                kwargs |= {"quantize": 8, "data": str(_calibration_yaml(calibration, names, out / "calibration"))}
            elif precision == "int8":  # stock: Ultralytics' own loader over the train split
                kwargs |= {"quantize": 8, "data": str(Path(data).resolve()), "split": "train"}  # type: ignore[arg-type]
                kwargs |= {"fraction": stock_fraction}
            exported = _ultralytics_export(staged, **kwargs)
            target = out / f"{weights.stem}_{precision}_{imgsz}_openvino_model"
            if variant == "stock":
                target = out / f"{weights.stem}_{precision}_stock_{imgsz}_openvino_model"
                calibration = _stock_calibration(data, stock_fraction, imgsz)  # type: ignore[arg-type]
            extra = {"openvino_config": OPENVINO_CONFIG, "exporter": "ultralytics", "quantizer": "nncf"}
        else:
            exported = _ultralytics_export(staged, format="onnx", imgsz=imgsz, simplify=True)
            target = out / f"{weights.stem}_{precision}_{imgsz}.onnx"
            if precision == "int8":
                assert calibration is not None
                groups = ORT_FLOAT_GROUPS if float_groups is None else float_groups
                kept: tuple[str, ...] = ()
                if groups:
                    import onnx

                    from detnas.inherit.checkpoint import load_parent

                    yaml_dict = load_parent(weights).model.yaml
                    kept = tuple(float_group_nodes(onnx.load(str(exported)).graph, yaml_dict, groups))
                if float_groups is not None:  # not the default: the file name says what stayed float
                    target = out / f"{weights.stem}_{precision}_{imgsz}_float-{'-'.join(groups) or 'decode'}.onnx"
                scope = f"float groups {', '.join(groups)} ({len(kept)} nodes)" if groups else ""
                extra = {"quantization": quantize_onnx(exported, target.with_suffix(".tmp.onnx"), calibration, imgsz,
                                                       kept, scope)}  # fmt: skip
                exported.unlink()
                exported = target.with_suffix(".tmp.onnx")
            extra |= {"exporter": "ultralytics"}
        _replace(exported, target)
    finally:
        shutil.rmtree(out / "staging", ignore_errors=True)
    record = {
        "source": str(weights.resolve()),
        "runtime": runtime,
        "precision": precision,
        "imgsz": imgsz,
        "variant": variant,
        "calibration": calibration.to_dict() if calibration else None,
        "versions": _versions(runtime),
        **extra,
    }
    path = record_path(target)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return Deployed(target, runtime, precision, imgsz, variant, path, str(weights.resolve()), record["calibration"])


def _stock_calibration(data: str | Path, fraction: float, imgsz: int) -> Calibration:
    """The images Ultralytics' own calibration loader took: the first ``fraction`` of the train split in its order."""
    from detnas.evaluate.data import load_data_yaml

    train = sorted(str(p) for p in load_data_yaml(data).train_images)  # Ultralytics sorts the image list too
    images = train[: round(len(train) * fraction)]
    return Calibration(
        data=str(Path(data).resolve()),
        split="train",
        seed=None,
        count=len(images),
        images=images,
        chosen_by=f"ultralytics: export(format='openvino', quantize=8, data=..., split='train', fraction={fraction}) "
        "(the first images of the split in file order)",
    )


def _names_of(weights: Path) -> dict[int, str]:
    from detnas.inherit.checkpoint import load_parent

    return {int(k): str(v) for k, v in load_parent(weights).names.items()}


def _replace(source: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    shutil.move(str(source), str(target))


def _versions(runtime: str) -> dict[str, str]:
    from detnas.evaluate.environment import package_versions

    return package_versions((*_PACKAGES[runtime], "ultralytics", "torch"))


# ---- running and validating an artifact ----------------------------------------------------------------------------


@contextlib.contextmanager
def openvino_f32() -> Iterator[None]:
    """While open, Ultralytics' OpenVINO backend compiles every IR with its own config plus float32 inference
    precision (it leaves the CPU default, bfloat16 here), so validation runs what :func:`open_session` times."""
    from functools import partial

    from ultralytics.nn.backends.openvino import OpenVINOBackend

    original = OpenVINOBackend.load_model

    def load_model(self, weight):
        original(self, weight)
        compile_model = self.compile_model
        config = dict(compile_model.keywords.get("config") or {}) | {"INFERENCE_PRECISION_HINT": "f32"}
        self.compile_model = partial(
            compile_model.func, device_name=compile_model.keywords["device_name"], config=config
        )
        core = compile_model.func.__self__
        xml = openvino_xml(weight)
        self.ov_compiled_model = self.compile_model(
            core.read_model(model=str(xml), weights=str(xml.with_suffix(".bin")))
        )

    OpenVINOBackend.load_model = load_model
    try:
        yield
    finally:
        OpenVINOBackend.load_model = original


def validate_deployed(artifact: str | Path, data_yaml: Path, *, imgsz: int, save_dir: Path, batch: int = 1, **kwargs):
    """pycocotools mAP of the artifact's own detections (``detnas.evaluate.metrics.run_validation``, which hands the
    file or folder to Ultralytics' validator); OpenVINO in float32 inference precision (:func:`openvino_f32`)."""
    from detnas.evaluate.metrics import run_validation

    context = openvino_f32() if runtime_of(artifact) == "openvino" else contextlib.nullcontext()
    with context:
        return run_validation(
            Path(artifact), data_yaml, imgsz=imgsz, batch=batch, device="cpu", save_dir=save_dir, **kwargs
        )
