"""detnas train / predict / export on real data: a found-style design trained with Ultralytics' trainer, predictions
of every model kind written as annotated images + JSON/CSV, and an ONNX export that ONNX Runtime runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from detnas.cli import build_parser
from detnas.models import litert_available
from tests.helpers import TINY_FLAGS, detnas

pytestmark = pytest.mark.slow


def _run(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return args.func(args)


@pytest.fixture(scope="module")
def trained_design(coco8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detnas design YAML (what front/<id>.yaml holds) trained one epoch through `detnas train`."""
    from detnas.architecture import write_yaml
    from detnas.designs import yolov8n

    root = tmp_path_factory.mktemp("train")
    arch = write_yaml(yolov8n(), root / "design.yaml")
    assert (
        _run(
            "train",
            str(arch),
            "--data",
            str(coco8),
            *TINY_FLAGS,
            "--project",
            str(root / "runs"),
            "--name",
            "design",
            "--workers",
            "0",
        )
        == 0
    )
    run = root / "runs" / "design"
    assert (run / "results.csv").is_file() and (run / "args.yaml").is_file()  # Ultralytics' run layout
    return run / "weights" / "best.pt"


def test_train_writes_ultralytics_run(trained_design: Path) -> None:
    from ultralytics import YOLO

    assert trained_design.is_file()
    model = YOLO(str(trained_design))
    assert model.ckpt["train_args"]["epochs"] == 1 and model.ckpt["train_args"]["imgsz"] == 64


def _check_predictions(out: Path, images: list[Path]) -> list[dict]:
    annotated = sorted((out / "images").iterdir())
    assert [p.name for p in annotated] == sorted(p.name for p in images)
    assert all(p.stat().st_size > 1000 for p in annotated)
    payload = json.loads((out / "detections.json").read_text())
    with open(out / "detections.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(payload["detections"])
    assert list(rows[0]) == ["image", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2"] if rows else True
    for d in payload["detections"]:
        assert d["x1"] <= d["x2"] and d["y1"] <= d["y2"] and 0.0 <= d["confidence"] <= 1.0
    return payload["detections"]


def test_predict_each_model_kind(
    trained_design: Path, coco8: Path, datasets: Path, tmp_path: Path, make_yolo_asset
) -> None:
    folder = coco8.parent / "coco8" / "images" / "val"
    images = sorted(folder.glob("*.jpg"))
    weights = tmp_path / "weights"
    make_yolo_asset(weights / "yolo11n.pt")

    # a found design's .pt, a folder source, low threshold so a one-epoch model still writes rows
    assert (
        _run(
            "predict",
            str(trained_design),
            str(folder),
            "--out",
            str(tmp_path / "found"),
            "--imgsz",
            "64",
            "--conf",
            "0.0001",
        )
        == 0
    )
    _check_predictions(tmp_path / "found", images)

    # a YOLO .pt found by name in the weights folder, single-file sources
    assert (
        _run(
            "predict",
            "yolo11n",
            str(images[0]),
            str(images[1]),
            "--out",
            str(tmp_path / "yolo"),
            "--weights-dir",
            str(weights),
            "--imgsz",
            "64",
        )
        == 0
    )
    _check_predictions(tmp_path / "yolo", images[:2])

    tflite = datasets.parent / "weights" / "tflite_int8" / "yolo11n_integer_quant.tflite"
    if not (tflite.is_file() and litert_available()):
        pytest.skip("TFLite YOLO11n or ai-edge-litert absent")
    assert _run("predict", str(tflite), str(folder), "--out", str(tmp_path / "tflite")) == 0
    detections = _check_predictions(tmp_path / "tflite", images)
    assert json.loads((tmp_path / "tflite" / "detections.json").read_text())["imgsz"] == 640
    assert "person" in {d["class_name"] for d in detections}  # a COCO-trained model finds the people in coco8


def test_export_onnx_runs(trained_design: Path) -> None:
    import numpy as np
    import onnxruntime as ort

    from detnas.deploy.train_export import export

    path = export(trained_design, format="onnx", imgsz=64)
    assert path.suffix == ".onnx" and path.is_file()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    output = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, 64, 64), dtype=np.float32)})[0]
    assert output.shape[:2] == (1, 84)
    assert _run("export", str(trained_design), "--imgsz", "64") == 0


def test_bad_inputs_are_one_line(tmp_path: Path, coco8: Path, datasets: Path) -> None:
    from detnas.deploy.predict import predict
    from detnas.deploy.train_export import export, train

    with pytest.raises(FileNotFoundError, match="does not exist"):
        predict("yolo11n.yaml", [tmp_path / "missing.jpg"], out=tmp_path)
    with pytest.raises(FileNotFoundError, match="data YAML"):
        train("yolo11n.yaml", data=tmp_path / "none.yaml", epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        train("yolo11n.yaml", data=coco8, epochs=0)
    with pytest.raises(ValueError, match="without weights"):
        export("yolo11n.yaml")
    tflite = datasets.parent / "weights" / "tflite_int8" / "yolo11n_integer_quant.tflite"
    if tflite.is_file():
        with pytest.raises(ValueError, match="inference-only"):
            train(tflite, data=coco8, epochs=1)


def test_bad_checkpoint_is_one_line_in_every_command(
    bad_checkpoint, one_error_line, coco8: Path, tmp_path: Path
) -> None:
    """predict, train and export of a missing, corrupt, truncated, renamed-text or classification .pt."""
    image = next((coco8.parent / "coco8" / "images" / "val").glob("*.jpg"))
    path, says = bad_checkpoint.path, bad_checkpoint.says
    result = detnas("predict", str(path), str(image), "--out", str(tmp_path / "p"), "--imgsz", "64")
    one_error_line(result, path, says)
    assert not (tmp_path / "p" / "detections.json").exists()
    train = ["train", str(path), "--data", str(coco8), "--epochs", "1", "--imgsz", "64", "--project", str(tmp_path)]
    one_error_line(detnas(*train), path, says)
    one_error_line(detnas("export", str(path), "--imgsz", "64"), path, says)


def test_detection_model_outside_the_space_still_predicts(coco8: Path, tmp_path: Path, make_yolo_asset) -> None:
    """Benchmark and predict take any Ultralytics detection model; only inheritance needs a genome of the space."""
    from detnas.inherit.checkpoint import CheckpointError, load_parent_checkpoint

    path = make_yolo_asset(tmp_path / "p6.pt", "yolov8n-p6.yaml")  # a P6 level: no genome of the space
    with pytest.raises(CheckpointError):
        load_parent_checkpoint(path)
    image = next((coco8.parent / "coco8" / "images" / "val").glob("*.jpg"))
    result = detnas("predict", str(path), str(image), "--out", str(tmp_path / "p"), "--imgsz", "64")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "p" / "detections.json").is_file()
