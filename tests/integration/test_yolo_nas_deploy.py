"""YOLO-NAS S on the deploy frontier (detnas.evaluate.yolo_nas): the reparameterised network computes what the trained
one does, the INT8 IR is quantized and still tracks the FP32 one, a user's yolo_nas_s.pt travels into the artifact
(which Ultralytics then validates), and benchmarks/deploy_frontier.py turns every missing piece into one ``error:``
line. No YOLO-NAS weights exist here: the networks carry seeded random weights."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.helpers import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "deploy_frontier.py"
needs_yolo_nas = pytest.mark.skipif(
    importlib.util.find_spec("modern_yolonas") is None,
    reason="modern-yolonas is not installed (pip install 'detnas[yolonas]')",
)
OPENVINO_FIX = "pip install 'detnas[openvino]'"
needs_openvino = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None or importlib.util.find_spec("nncf") is None,
    reason="openvino and nncf are not installed (pip install 'detnas[openvino]')",
)


def _randomise_batch_norms(model, seed: int) -> None:
    """Every BatchNorm given drawn statistics and affine terms, so that fusing them has something to fold (freshly
    built, they are the identity), and every prediction convolution drawn weights (YOLO-NAS starts them at zero)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
        for name, module in model.named_modules():
            if name.endswith(("reg_pred", "cls_pred")):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator))


@needs_yolo_nas
@pytest.mark.slow
def test_reparameterised_network_equals_the_trained_one_with_fewer_parameters() -> None:
    import torch

    from detnas.evaluate import yolo_nas

    model = yolo_nas.build(seed=0)
    _randomise_batch_norms(model, seed=1)
    fused = yolo_nas.reparameterise(model)
    assert yolo_nas.parameter_count(model) == 19_053_888
    assert yolo_nas.parameter_count(fused) == 12_184_240  # super-gradients' prep_model_for_conversion count
    assert not any(hasattr(m, "branch_1x1") for m in fused.modules())
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        (boxes, scores), (fused_boxes, fused_scores) = model(x), fused(x)
    assert scores.std() > 1e-3 and boxes.std() > 1.0  # the outputs vary: the comparison below is not vacuous
    torch.testing.assert_close(fused_boxes, boxes, rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(fused_scores, scores, rtol=1e-4, atol=1e-6)
    key = "heads.head1.stem.seq.conv.weight"
    assert yolo_nas.build(seed=0).state_dict()[key].equal(yolo_nas.build(seed=0).state_dict()[key])  # seeded


@needs_yolo_nas
@needs_openvino
@pytest.mark.slow
def test_int8_ir_is_quantized_runs_and_tracks_fp32(coco8: Path, tmp_path: Path) -> None:
    import json

    import numpy as np
    import openvino as ov

    from detnas.evaluate import yolo_nas
    from detnas.evaluate.deployed import OPENVINO_CONFIG, letterbox_batch, open_session
    from detnas.evaluate.yolo_nas import export_yolo_nas

    size = 128
    fp32 = export_yolo_nas(runtime="openvino", precision="fp32", imgsz=size, out=tmp_path)
    int8 = export_yolo_nas(runtime="openvino", precision="int8", imgsz=size, out=tmp_path, data=coco8, count=4)
    record = json.loads(int8.record.read_text())
    assert record["calibration"]["count"] == 4 and record["calibration"]["split"] == "train"
    assert record["variant"] == "published" and record["params"] == 12_184_240 and record["gflops"] > 0
    assert (int8.path / "metadata.yaml").is_file() and (int8.path / f"{yolo_nas.MODEL}.xml").is_file()
    core = ov.Core()
    quantized = core.read_model(str(int8.path / f"{yolo_nas.MODEL}.xml"))
    kinds = {op.get_type_name() for op in quantized.get_ordered_ops()}
    assert "FakeQuantize" in kinds and "FakeQuantize" not in {
        op.get_type_name() for op in core.read_model(str(fp32.path / f"{yolo_nas.MODEL}.xml")).get_ordered_ops()
    }
    float_ops = set(yolo_nas.decode_ops(core.read_model(str(fp32.path / f"{yolo_nas.MODEL}.xml"))))
    assert record["quantization"]["float_ops"] == len(float_ops) > 0
    assert any("Softmax" in name for name in float_ops) and any("Sigmoid" in name for name in float_ops)

    image = next((coco8.parent / "coco8" / "images" / "val").glob("*.jpg"))
    x = letterbox_batch(image, size)
    compiled = [core.compile_model(str(d.path / f"{yolo_nas.MODEL}.xml"), "CPU", OPENVINO_CONFIG) for d in (fp32, int8)]
    outputs = [c(x)[0] for c in compiled]
    assert outputs[0].shape == outputs[1].shape == (1, 84, (size // 8) ** 2 + (size // 16) ** 2 + (size // 32) ** 2)
    logits = [np.log(o[0, 4:]) - np.log1p(-o[0, 4:]) for o in outputs]  # scores back to logits
    assert np.corrcoef(logits[0].ravel(), logits[1].ravel())[0, 1] > 0.98
    assert np.abs(outputs[0][0, :4] - outputs[1][0, :4]).max() < 0.05 * size  # boxes within 5% of the image
    run, backend = open_session(int8.path, "openvino", 1)  # what the frontier protocol times
    run()
    assert "f32" in backend


@needs_yolo_nas
@needs_openvino
@pytest.mark.slow
def test_user_weights_reach_the_artifact_and_ultralytics_validates_it(coco8: Path, tmp_path: Path) -> None:
    import numpy as np
    import openvino as ov
    import torch
    from ultralytics import NAS

    from detnas.evaluate import yolo_nas
    from detnas.evaluate.data import find_coco_annotations, load_data_yaml
    from detnas.evaluate.deployed import OPENVINO_CONFIG, validate_deployed

    model = yolo_nas.build(seed=7)  # other weights than the default seed's
    _randomise_batch_norms(model, seed=2)
    model.heads.return_raw_outputs = True  # what ultralytics.NAS reads in eval mode
    names = yolo_nas._coco_names()
    model._class_names = [names[i] for i in range(80)]
    weights = tmp_path / "yolo_nas_s.pt"
    torch.save(model, weights)  # a whole pickled module, as the yolo_nas_s.pt asset is stored

    size = 64
    mine = yolo_nas.export_yolo_nas(runtime="openvino", precision="fp32", imgsz=size, out=tmp_path / "mine",
                                    weights=weights)  # fmt: skip
    random = yolo_nas.export_yolo_nas(runtime="openvino", precision="fp32", imgsz=size, out=tmp_path / "random")
    assert mine.variant == "measured" and random.variant == "published"
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = NAS(str(weights)).model(x).numpy()  # ultralytics.NAS's own output layout
    core = ov.Core()
    got = [core.compile_model(str(d.path / f"{yolo_nas.MODEL}.xml"), "CPU", OPENVINO_CONFIG)(x.numpy())[0]
           for d in (mine, random)]  # fmt: skip
    np.testing.assert_allclose(got[0], expected, rtol=1e-3, atol=1e-2)
    assert np.abs(got[1][:, 4:] - expected[:, 4:]).max() > 1e-3  # the default weights give other scores

    spec = load_data_yaml(coco8)
    coco = find_coco_annotations(spec.val_images)
    metrics = validate_deployed(mine.path, spec.yaml_path, imgsz=size, save_dir=tmp_path / "val", names=spec.names,
                                val_images=spec.val_images, coco_annotations=coco)  # fmt: skip
    # the measured row's mAP is pycocotools' on the artifact's own detections, like every other row's
    assert metrics.predictions > 0 and metrics.metric_source.startswith("pycocotools")


# ---- the benchmark script's bad input: one error line, exit status 2 ------------------------------------------------


def _script():
    return load_script(SCRIPT)


def _run(monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    script = _script()
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *argv])
    code = script.main()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _hide(monkeypatch, *packages: str) -> None:
    """Make ``packages`` look not installed to importlib.util.find_spec (how detnas checks for them)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in packages else real(name, *a))


def test_missing_yolo_nas_package_is_one_error_line_when_asked_for(monkeypatch, capsys) -> None:
    _hide(monkeypatch, "modern_yolonas")
    code, _, err = _run(monkeypatch, capsys, "--checkpoints", "--yolo-nas")
    assert code == 2 and err.strip() == (
        "error: YOLO-NAS rows need the modern-yolonas package, which is not installed: pip install 'detnas[yolonas]'"
    )


def test_missing_yolo_nas_package_is_skipped_with_the_reason_by_default(monkeypatch, capsys) -> None:
    _hide(monkeypatch, "modern_yolonas")
    code, out, err = _run(monkeypatch, capsys, "--checkpoints")  # nothing else to do: the one error line says so
    assert "YOLO-NAS S rows skipped: modern-yolonas is not installed" in out
    assert code == 2 and err.strip() == ("error: nothing to measure: name --checkpoints, --run or add --yolo-nas")


@needs_yolo_nas  # the package is checked first
def test_missing_runtime_or_weights_is_one_error_line(monkeypatch, capsys, tmp_path: Path) -> None:
    with monkeypatch.context() as patch:
        _hide(patch, "nncf")
        code, _, err = _run(patch, capsys, "--checkpoints", "--yolo-nas")
    assert code == 2 and err.strip() == "error: runtime openvino is not installed (missing nncf): " + OPENVINO_FIX
    absent = tmp_path / "absent.pt"
    code, _, err = _run(monkeypatch, capsys, "--checkpoints", "--yolo-nas-weights", str(absent))
    assert code == 2 and err.strip() == f"error: YOLO-NAS weights {absent} not found: pass the path of a yolo_nas_s.pt"
    not_nas = tmp_path / "yolo_nas_s.pt"
    not_nas.write_bytes(b"not a pickle")
    code, _, err = _run(monkeypatch, capsys, "--checkpoints", "--yolo-nas-weights", str(not_nas))
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: ") and str(not_nas) in err
    code, _, err = _run(monkeypatch, capsys, "--checkpoints", "--no-yolo-nas", "--yolo-nas-weights", "x.pt")
    assert code == 2 and err.strip().startswith("error: --yolo-nas-weights and --no-yolo-nas contradict")
