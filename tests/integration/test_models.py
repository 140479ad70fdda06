"""Model resolution and loading: path, weights folder, $DETNAS_WEIGHTS, name, and the one-line error when missing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detnas.models import WEIGHTS_ENV, load_model, resolve_model, weights_dirs


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory, make_yolo_asset) -> Path:
    folder = tmp_path_factory.mktemp("weights")
    make_yolo_asset(folder / "yolo11n.pt")
    return folder


def test_official_checkpoint_layout(weights: Path) -> None:
    ckpt = torch.load(weights / "yolo11n.pt", map_location="cpu", weights_only=False)
    assert {"model", "train_args", "date", "version"} <= set(ckpt) and ckpt["epoch"] == -1
    assert next(ckpt["model"].parameters()).dtype == torch.float16


def test_resolve_path_name_and_env(weights: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    by_path = resolve_model(weights / "yolo11n.pt")
    assert by_path.kind == "yolo" and by_path.path == (weights / "yolo11n.pt").resolve()
    for spec in ("yolo11n", "yolo11n.pt"):
        resolved = resolve_model(spec, weights_dir=weights)
        assert resolved.path == (weights / "yolo11n.pt").resolve() and resolved.name == "yolo11n"
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    assert resolve_model("yolo11n").path == (weights / "yolo11n.pt").resolve()
    assert weights_dirs(tmp_path)[:2] == [tmp_path.resolve(), weights.resolve()]  # the argument comes first


def test_missing_weights_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    # names that no weights folder here holds (../shared/weights/pt ships yolo11n, yolov8n and yolov5nu)
    for name, file_name in (("yolo11m", "yolo11m.pt"), ("yolo_nas_s", "yolo_nas_s.pt"), ("yolo26n", "yolo26n.pt")):
        with pytest.raises(FileNotFoundError) as info:
            resolve_model(name, weights_dir=tmp_path)
        message = str(info.value)
        assert "\n" not in message and file_name in message and str(tmp_path) in message and "offline" in message
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model(tmp_path / "nope" / "model.pt")
    with pytest.raises(ValueError, match="suffix"):
        resolve_model(Path(__file__))


def test_load_by_name_predicts(weights: Path, coco8: Path) -> None:
    loaded = load_model("yolo11n", weights_dir=weights)
    assert loaded.kind == "yolo" and len(loaded.names) == 80
    image = next((coco8.parent / "coco8" / "images" / "val").glob("*.jpg"))
    assert len(loaded.model.predict(str(image), imgsz=64, verbose=False)) == 1


def test_pickled_module_is_nas_kind(tmp_path: Path) -> None:
    """A whole pickled module (how yolo_nas_s.pt is saved) is routed to ultralytics.NAS, whatever its name."""
    path = tmp_path / "custom.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    assert resolve_model(path).kind == "nas"
    assert resolve_model(path.rename(tmp_path / "yolo_nas_s.pt")).kind == "nas"


def test_nas_without_super_gradients_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pickle naming super-gradients classes, loaded where super_gradients is absent: one line with the fix."""
    import sys
    import types

    from detnas.models import super_gradients_available

    if super_gradients_available():
        pytest.skip("super_gradients is installed here: tests/test_yolonas.py covers loading")
    stub = types.ModuleType("super_gradients")
    stub.YoloNAS_S = type("YoloNAS_S", (torch.nn.Module,), {"__module__": "super_gradients"})
    monkeypatch.setitem(sys.modules, "super_gradients", stub)
    path = tmp_path / "yolo_nas_s.pt"
    torch.save(stub.YoloNAS_S(), path)
    monkeypatch.delitem(sys.modules, "super_gradients")
    with pytest.raises(ValueError, match="needs the super_gradients package.*install_yolonas.sh"):
        load_model(path)
    linear = tmp_path / "linear.pt"
    torch.save(torch.nn.Linear(2, 2), linear)  # a pickled module that is no YOLO-NAS
    with pytest.raises(ValueError, match="not a YOLO-NAS model"):
        load_model(linear)


def test_tflite_metadata_when_litert_installed(datasets: Path) -> None:
    from detnas.models import litert_available

    path = datasets.parent / "weights" / "tflite_int8" / "yolo11n_integer_quant.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    if not litert_available():
        with pytest.raises(ValueError, match="ai-edge-litert"):
            load_model(path)
        return
    loaded = load_model(path)
    assert loaded.kind == "tflite" and loaded.precision == "int8" and loaded.fixed_imgsz == 640


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from detnas.cli import build_parser

    parser = build_parser()
    for command in ("benchmark", "predict", "train", "export"):
        with pytest.raises(SystemExit) as info:
            parser.parse_args([command, "--help"])
        assert info.value.code == 0
        assert "usage: detnas " + command in capsys.readouterr().out
    args = parser.parse_args(["predict", "yolo11n", "a.jpg", "--out", "x"])
    assert callable(args.func)
