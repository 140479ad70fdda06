"""YOLO-NAS S as a CPU user deploys it, for the deploy frontier: latency measured here, mAP Deci's published one.

No YOLO-NAS weights can be fetched here, but latency does not depend on weights. The architecture comes from
``modern-yolonas`` (Apache-2.0, a torch reimplementation whose state_dict keys are super-gradients'; the detnas extra
``yolonas``), built with seeded random weights and reparameterised as deployed: every QARepVGG block's 3x3, 1x1 and
identity branches merged into one convolution (``fuse_block_residual_branches``, what super-gradients'
``prep_model_for_conversion`` does: 19,053,888 -> 12,184,240 parameters).

The artifacts (:func:`export_yolo_nas`), written beside a deploy record like :mod:`detnas.evaluate.deployed`'s:

- the network's output in Ultralytics' detect layout, ``(1, 4 + 80, anchors)`` with xywh boxes in pixels and class
  probabilities (what ``ultralytics.NAS`` makes of YOLO-NAS), so Ultralytics validates the artifact like its own;
- ``onnxruntime`` ``fp32``: ``torch.onnx.export`` (static batch 1, opset 17), onnxslim-simplified as Ultralytics
  simplifies its own ONNX exports;
- ``openvino`` ``fp32``: that ONNX converted by OpenVINO, weights kept float32;
- ``openvino`` ``int8``: NNCF post-training quantization of that IR (mixed preset, fast bias correction: Ultralytics'
  settings), calibrated on detnas's seeded calibration images (:func:`detnas.evaluate.deployed.calibration_images`,
  letterboxed as Ultralytics predicts), the box decoding (DFL softmax, distance-to-box, sigmoid and what follows the
  prediction convolutions) kept float like Ultralytics keeps its Detect head's. Quantizing the decoding is not only
  worse: NNCF's graph then fails OpenVINO's shape inference.

With the user's own ``yolo_nas_s.pt`` (``weights``: a whole pickled YOLO-NAS module, as ``ultralytics.NAS`` loads
it) the same artifacts carry its weights instead, and their mAP can be measured like any other artifact's.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any

from detnas.errors import InputError

from .deployed import (
    CALIBRATION_COUNT,
    CALIBRATION_SEED,
    OPENVINO_CONFIG,
    Calibration,
    Deployed,
    calibration_images,
    check_export_request,
    letterbox_batch,
    record_path,
)

PACKAGE = "modern_yolonas"
DISTRIBUTION = "modern-yolonas"
MODEL = "yolo_nas_s"
CLASSES = 80
MODEL_SEED = 0
OPSET = 17
# Deci's YOLO-NAS S on COCO val2017 (mAP50-95): the FP16 row of its table stands for FP32 (the same float network),
# and its post-training INT8 row.
PUBLISHED_MAP = {"fp32": 0.475, "int8": 0.4703}
PUBLISHED_AS = {"fp32": "FP16 (47.5)", "int8": "INT8 (47.03)"}
PUBLISHED_IMGSZ = 640  # the size Deci evaluated at: no published figure stands for another size
MAP_SOURCE = "published (Deci, COCO val2017)"
ARTIFACTS = (("openvino", "fp32"), ("openvino", "int8"), ("onnxruntime", "fp32"))


def available() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def require() -> None:
    """InputError (one line) when modern-yolonas is not installed."""
    if not available():
        raise InputError(
            f"YOLO-NAS rows need the {DISTRIBUTION} package, which is not installed: pip install 'detnas[yolonas]'"
        )


def build(seed: int = MODEL_SEED):
    """YOLO-NAS S (80 classes) in eval mode, weights drawn with ``seed``, branches not yet fused."""
    import torch

    require()
    from modern_yolonas import yolo_nas_s

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = yolo_nas_s(pretrained=False, num_classes=CLASSES)
    return model.eval()


def reparameterise(model):
    """A copy of ``model`` as deployed: each QARepVGG block's branches merged into one convolution."""
    fused = copy.deepcopy(model).float().eval()
    blocks = [m for m in fused.modules() if hasattr(m, "fuse_block_residual_branches")]
    if not blocks:
        raise ValueError("no QARepVGG block to fuse: not a YOLO-NAS model")
    for block in blocks:
        block.fuse_block_residual_branches()
    return fused


def deployed_network(weights: str | Path | None = None, *, seed: int = MODEL_SEED):
    """YOLO-NAS S reparameterised as deployed, with its class names: seeded random weights, or a user's
    ``yolo_nas_s.pt`` (a whole pickled YOLO-NAS module, as ``ultralytics.NAS`` loads it: from super-gradients, or
    saved from modern-yolonas; as trained or already reparameterised), loaded strictly. InputError (one line) for
    weights that are missing, not YOLO-NAS, or not YOLO-NAS S with 80 classes."""
    if weights is None:
        return reparameterise(build(seed)), _coco_names()
    from detnas.models import load_model

    path = Path(weights).expanduser()
    if not path.is_file():
        raise InputError(f"YOLO-NAS weights {path} not found: pass the path of a yolo_nas_s.pt")
    model = build(seed)
    try:
        loaded = load_model(str(path))
    except (FileNotFoundError, ValueError) as e:
        raise InputError(str(e).splitlines()[0]) from None
    if loaded.kind != "nas":
        raise InputError(f"{path} is not a YOLO-NAS model (it loads as {loaded.kind}): pass a yolo_nas_s.pt")
    state = loaded.model.model.state_dict()
    names = {int(k): str(v) for k, v in loaded.names.items()}
    try:
        model.load_state_dict(state, strict=True)
        return reparameterise(model), names
    except RuntimeError:
        pass
    fused = reparameterise(model)
    try:
        fused.load_state_dict(state, strict=True)
    except RuntimeError:
        raise InputError(
            f"{path}: its weights are not YOLO-NAS S's with {CLASSES} classes (state_dict keys or shapes differ)"
        ) from None
    return fused, names


def detect_layout(model):
    """``model`` wrapped so that it returns Ultralytics' detect layout: ``(batch, 4 + classes, anchors)``, boxes as
    centre x, centre y, width, height in input pixels, then class probabilities."""
    import torch

    class UltralyticsLayout(torch.nn.Module):
        def __init__(self, network) -> None:
            super().__init__()
            self.model = network

        def forward(self, x):
            boxes, scores = self.model(x)  # xyxy pixels, probabilities
            xywh = torch.cat(((boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]), -1)
            return torch.cat((xywh, scores), -1).permute(0, 2, 1)

    return UltralyticsLayout(model).eval()


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def gflops(model, imgsz: int) -> float:
    """Multiply-adds x 2 at ``imgsz`` (thop at the full input size, as detnas counts YOLO-NAS elsewhere)."""
    import thop
    import torch

    macs = thop.profile(copy.deepcopy(model), inputs=(torch.zeros(1, 3, imgsz, imgsz),), verbose=False)[0]
    return round(2 * macs / 1e9, 4)


def export_onnx(network, imgsz: int, path: Path) -> Path:
    """ONNX of ``network`` (already in the detect layout) at ``imgsz``, static batch 1, onnxslim-simplified when
    onnxslim is installed."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 3, imgsz, imgsz)
    with torch.no_grad():
        torch.onnx.export(network, example, str(path), opset_version=OPSET, input_names=["images"],
                          output_names=["output0"], dynamo=False)  # fmt: skip
    if importlib.util.find_spec("onnxslim") is not None:
        import onnx
        import onnxslim

        onnx.save(onnxslim.slim(onnx.load(str(path))), str(path))
    return path


def decode_ops(ov_model) -> list[str]:
    """Friendly names of every operation downstream of the prediction convolutions (``heads.head<i>.reg_pred`` and
    ``cls_pred``): DFL softmax and projection, distance-to-box, sigmoid, the layout's concatenations. Found by the
    graph, not by name patterns, so a renamed node cannot slip into INT8."""
    seeds = [op for op in ov_model.get_ordered_ops()
             if re.search(r"/heads/head\d+/(reg|cls)_pred/Conv$", op.get_friendly_name())]  # fmt: skip
    if not seeds:
        raise RuntimeError("the IR has no /heads/head<i>/(reg|cls)_pred/Conv node: not a YOLO-NAS export")
    found: dict[str, None] = {}
    todo = list(seeds)
    while todo:
        for output in todo.pop().outputs():
            for consumer in output.get_target_inputs():
                node = consumer.get_node()
                name = node.get_friendly_name()
                if node.get_type_name() != "Result" and name not in found:
                    found[name] = None
                    todo.append(node)
    return sorted(found)


def _metadata(imgsz: int, names: dict[int, str]) -> dict[str, Any]:
    """What Ultralytics reads beside an export (``metadata.yaml``) to run it as a detector."""
    return {"description": "YOLO-NAS S (modern-yolonas), exported by detnas", "stride": 32, "task": "detect",
            "batch": 1, "imgsz": [imgsz, imgsz], "names": names, "args": {"batch": 1, "nms": False, "dynamic": False},
            "channels": 3, "end2end": False}  # fmt: skip


def _coco_names() -> dict[int, str]:
    from ultralytics.utils import YAML
    from ultralytics.utils.checks import check_yaml

    return {int(k): str(v) for k, v in YAML.load(check_yaml("coco.yaml"))["names"].items()}


def _save_ir(ov_model, folder: Path, metadata: dict[str, Any]) -> Path:
    import openvino as ov
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov_model, str(folder / f"{MODEL}.xml"), compress_to_fp16=False)
    (folder / "metadata.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    return folder


def quantize_ir(ov_model, calibration: Calibration, imgsz: int):
    """NNCF INT8 of an FP32 YOLO-NAS IR (see the module's doc); returns the quantized model and the settings used."""
    import logging

    import nncf

    samples = [letterbox_batch(Path(image), imgsz) for image in calibration.images]
    excluded = decode_ops(ov_model)
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.WARNING)  # not one INFO line per operation it leaves float
    try:
        quantized = nncf.quantize(
            ov_model,
            nncf.Dataset(samples),
            preset=nncf.QuantizationPreset.MIXED,
            subset_size=len(samples),
            ignored_scope=nncf.IgnoredScope(names=excluded),
        )
    finally:
        logger.setLevel(level)
    settings = {
        "quantizer": "nncf",
        "preset": "mixed",
        "subset_size": len(samples),
        "float_ops": len(excluded),
        "float_scope": "box decoding after the prediction convolutions (DFL, distance-to-box, sigmoid)",
    }
    return quantized, settings


def export_yolo_nas(
    *,
    runtime: str,
    precision: str,
    imgsz: int,
    out: str | Path,
    data: str | Path | None = None,
    count: int = CALIBRATION_COUNT,
    seed: int = CALIBRATION_SEED,
    model_seed: int = MODEL_SEED,
    weights: str | Path | None = None,
) -> Deployed:
    """The YOLO-NAS S artifact of ``runtime`` at ``precision`` and ``imgsz`` in ``out`` (see the module's doc).

    INT8 (OpenVINO only) needs ``data``, whose train split calibrates. ``weights``: a user's ``yolo_nas_s.pt``
    instead of seeded random weights. InputError (one line) for a package or runtime not installed, an unsupported
    runtime / precision, a bad size, missing calibration data or unusable weights."""
    require()
    check_export_request(runtime, precision, imgsz, data)
    if (runtime, precision) not in ARTIFACTS:
        raise InputError(f"YOLO-NAS {runtime} {precision} is not made here: choose one of "
                         f"{', '.join(f'{r} {p}' for r, p in ARTIFACTS)}")  # fmt: skip
    calibration = None
    if precision == "int8":  # drawn before anything is written
        calibration = calibration_images(data, count=count, seed=seed)  # type: ignore[arg-type]
    fused, names = deployed_network(weights, seed=model_seed)
    out = Path(out).expanduser().resolve()
    work = out / "staging"
    onnx_path = export_onnx(detect_layout(fused), imgsz, work / f"{MODEL}_{imgsz}.onnx")
    metadata = _metadata(imgsz, names)
    extra: dict[str, Any] = {}
    try:
        if runtime == "onnxruntime":
            import onnx

            proto = onnx.load(str(onnx_path))
            for key, value in metadata.items():  # Ultralytics reads an ONNX export's metadata from these
                entry = proto.metadata_props.add()
                entry.key, entry.value = key, str(value)
            target = out / f"{MODEL}_{precision}_{imgsz}.onnx"
            onnx.save(proto, str(target))
        else:
            import openvino as ov

            ov_model = ov.convert_model(str(onnx_path))
            if calibration is not None:
                ov_model, settings = quantize_ir(ov_model, calibration, imgsz)
                extra["quantization"] = settings
            target = out / f"{MODEL}_{precision}_{imgsz}_openvino_model"
            if target.exists():
                shutil.rmtree(target)
            _save_ir(ov_model, target, metadata)
            extra["openvino_config"] = OPENVINO_CONFIG
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from detnas.evaluate.environment import package_versions

    source = str(Path(weights).expanduser().resolve()) if weights is not None else f"{MODEL} random weights"
    record = {
        "source": source,
        "model": MODEL,
        "model_seed": None if weights is not None else model_seed,
        "reparameterised": "QARepVGG branches fused (fuse_block_residual_branches)",
        "params": parameter_count(fused),
        "gflops": gflops(fused, imgsz),
        "runtime": runtime,
        "precision": precision,
        "imgsz": imgsz,
        "variant": "measured" if weights is not None else "published",
        "output": "ultralytics detect layout (1, 84, anchors): xywh pixels, class probabilities",
        "calibration": calibration.to_dict() if calibration else None,
        "versions": package_versions((DISTRIBUTION, "torch", "onnx", "onnxslim", "onnxruntime", "openvino", "nncf")),
        "exporter": "torch.onnx (TorchScript) -> " + ("onnxslim" if runtime == "onnxruntime" else "openvino"),
        **extra,
    }
    path = record_path(target)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return Deployed(target, runtime, precision, imgsz, record["variant"], path, source, record["calibration"])
