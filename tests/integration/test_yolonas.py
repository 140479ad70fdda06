"""YOLO-NAS through ultralytics.NAS: opt-in, needs super-gradients (see scripts/install_yolonas.sh).

Run with:  scripts/install_yolonas.sh .venv-yolonas && \\
           YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false .venv-yolonas/bin/python -m pytest tests/integration/test_yolonas.py

No pre-trained YOLO-NAS weights can be fetched here, so the test builds YOLO-NAS-S with super-gradients (random init),
sets the 80 COCO class names and saves the whole module with torch.save, which is how the official yolo_nas_s.pt
asset is stored (ultralytics.NAS unpickles it with torch_load). Then it loads it by name from a weights folder,
predicts, validates, benchmarks and runs `detnas predict` on coco8.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("super_gradients") is None,
        reason="super_gradients is not installed: opt-in test, set up with scripts/install_yolonas.sh VENV",
    ),
]


@pytest.fixture(scope="module")
def nas_weights(coco8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    import yaml

    os.environ.setdefault("SUPER_GRADIENTS_LOG_DIR", str(tmp_path_factory.mktemp("sg_logs")))
    os.environ.setdefault("CRASH_HANDLER", "FALSE")
    from super_gradients.training import models

    names = yaml.safe_load(coco8.read_text())["names"]
    model = models.get("yolo_nas_s", num_classes=80)
    assert sum(p.numel() for p in model.parameters()) == 19_053_888
    model.set_dataset_processing_params(class_names=[names[i] for i in range(80)])  # NAS() reads _class_names
    model.eval()
    folder = tmp_path_factory.mktemp("weights")
    torch.save(model, folder / "yolo_nas_s.pt")
    return folder


def test_nas_loads_by_name_predicts_and_validates(nas_weights: Path, coco8: Path, tmp_path: Path) -> None:
    from ultralytics import NAS

    from detnas.models import load_model

    loaded = load_model("yolo_nas_s", weights_dir=nas_weights)
    assert loaded.kind == "nas" and isinstance(loaded.model, NAS) and loaded.names[0] == "person"
    image = next((coco8.parent / "coco8" / "images" / "val").glob("*.jpg"))
    results = loaded.model.predict(str(image), imgsz=128, conf=0.0001, verbose=False)
    assert len(results) == 1 and results[0].boxes.xyxy.shape[1] == 4
    metrics = loaded.model.val(
        data=str(coco8),
        imgsz=128,
        batch=4,
        device="cpu",
        project=str(tmp_path),
        name="val",
        plots=False,
        workers=0,
        verbose=False,
    )
    assert 0.0 <= metrics.box.map <= 1.0


def test_nas_benchmark_and_predict_rows(nas_weights: Path, coco8: Path, tmp_path: Path) -> None:
    from detnas.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(
        [
            "benchmark",
            "--models",
            "yolo_nas_s",
            "--data",
            str(coco8),
            "--imgsz",
            "64",
            "--out",
            str(tmp_path / "bench"),
            "--weights-dir",
            str(nas_weights),
            "--runs",
            "3",
            "--warmup",
            "1",
        ]
    )
    assert args.func(args) == 0
    row = json.loads((tmp_path / "bench" / "benchmark.json").read_text())["rows"][0]
    assert row["status"] == "ok", row["reason"]
    assert row["kind"] == "reference" and row["latency"]["fused"] is True  # reparameterised, as deployed
    assert row["params"] == 12_184_240 and row["gflops"] > 0 and 0.0 <= row["map50_95"] <= 1.0

    args = parser.parse_args(
        [
            "predict",
            "yolo_nas_s",
            str(coco8.parent / "coco8" / "images" / "val"),
            "--out",
            str(tmp_path / "pred"),
            "--weights-dir",
            str(nas_weights),
            "--imgsz",
            "64",
        ]
    )
    assert args.func(args) == 0
    assert len(list((tmp_path / "pred" / "images").iterdir())) == 4
    assert (tmp_path / "pred" / "detections.csv").is_file()


def test_nas_cannot_train(nas_weights: Path, coco8: Path) -> None:
    from detnas.deploy.train_export import train

    with pytest.raises(ValueError, match="YOLO-NAS cannot be trained"):
        train("yolo_nas_s", data=coco8, epochs=1, weights_dir=nas_weights)
