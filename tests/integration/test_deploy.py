"""detnas export --runtime/--precision on the real YOLO11n: ONNX Runtime and OpenVINO artifacts, FP32 and INT8, with
their calibration record; detnas predict and detnas benchmark on the artifacts; the latency protocol on them; and
every bad input as one ``error:`` line with exit status 2."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from detnas.cli import main
from tests.helpers import shared_checkpoint

needs_openvino = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None or importlib.util.find_spec("nncf") is None,
    reason="openvino and nncf are not installed (pip install 'detnas[openvino]')",
)
needs_onnxruntime = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed (pip install 'detnas[onnx]')"
)
IMGSZ = 160


def _error_of(capsys, *argv: str) -> str:
    """Run ``detnas ARGV`` in-process, require exit status 2 and one ``error:`` line on stderr; return that line."""
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(list(argv)))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# ---- bad input: no export is written --------------------------------------------------------------------------------


def test_unsupported_runtime_or_precision_is_a_usage_error(capsys, tmp_path: Path) -> None:
    checkpoint = shared_checkpoint()
    assert "tensorrt" in _error_of(capsys, "export", str(checkpoint), "--runtime", "tensorrt")
    assert "fp16" in _error_of(capsys, "export", str(checkpoint), "--runtime", "openvino", "--precision", "fp16")
    assert "add --runtime" in _error_of(capsys, "export", str(checkpoint), "--precision", "int8")


@needs_onnxruntime
def test_int8_without_calibration_data_is_refused(capsys, tmp_path: Path) -> None:
    checkpoint = shared_checkpoint()
    line = _error_of(capsys, "export", str(checkpoint), "--runtime", "onnxruntime", "--precision", "int8",
                     "--out", str(tmp_path / "out"))  # fmt: skip
    assert "needs calibration images" in line and "--data" in line
    assert not (tmp_path / "out").exists()


def _data_yaml(folder: Path, images: list[Path]) -> Path:
    listing = folder / "train.txt"
    listing.write_text("".join(f"{p}\n" for p in images))
    (folder / "data.yaml").write_text(f"path: {folder}\ntrain: train.txt\nval: train.txt\nnames:\n  0: person\n")
    return folder / "data.yaml"


@needs_onnxruntime
def test_empty_or_unreadable_calibration_set_is_one_error_line(capsys, tmp_path: Path) -> None:
    checkpoint = shared_checkpoint()
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _error_of(capsys, "export", str(checkpoint), "--runtime", "onnxruntime", "--precision", "int8",
                     "--data", str(_data_yaml(empty, [])), "--out", str(tmp_path / "a"))  # fmt: skip
    assert "calibration data" in line
    broken = tmp_path / "broken" / "images"
    broken.mkdir(parents=True)
    (broken / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (broken / "zero.jpg").write_bytes(b"")
    line = _error_of(capsys, "export", str(checkpoint), "--runtime", "onnxruntime", "--precision", "int8",
                     "--data", str(_data_yaml(broken.parent, sorted(broken.iterdir()))),
                     "--out", str(tmp_path / "b"))  # fmt: skip
    assert "none of the 2 train images can be read" in line
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_runtime_that_is_not_installed_is_one_error_line(capsys, tmp_path: Path, monkeypatch) -> None:
    """Without openvino/nncf (hidden from the import system here), export and search name the extra to install and
    write nothing."""
    real_find_spec = importlib.util.find_spec

    def without_openvino(name: str, *args):
        return None if name.split(".")[0] in ("openvino", "nncf") else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_openvino)
    checkpoint = shared_checkpoint()
    line = _error_of(capsys, "export", str(checkpoint), "--runtime", "openvino", "--out", str(tmp_path / "ov"))
    assert "runtime openvino is not installed" in line and "pip install 'detnas[openvino]'" in line
    assert not (tmp_path / "ov").exists()
    line = _error_of(capsys, "search", "--data", "coco8", "--runtime", "openvino", "--precisions", "int8",
                     "--evaluations", "4", "--out", str(tmp_path / "run"))  # fmt: skip
    assert "openvino is not installed" in line
    assert not (tmp_path / "run" / "search.sqlite").exists()


def test_export_of_an_export_is_refused(capsys, tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not onnx")
    assert "is already an export" in _error_of(capsys, "export", str(fake), "--runtime", "onnxruntime")


# ---- the artifacts, end to end --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory, coco8: Path) -> dict[tuple[str, str], Path]:
    """YOLO11n exported by `detnas export` at 160 px to every runtime and precision; INT8 calibrated on coco8's
    train split (its 4 images)."""
    if importlib.util.find_spec("openvino") is None or importlib.util.find_spec("nncf") is None:
        pytest.skip("openvino and nncf are not installed (pip install 'detnas[openvino]')")
    checkpoint = shared_checkpoint()
    root = tmp_path_factory.mktemp("deploy")
    made = {}
    for runtime in ("onnxruntime", "openvino"):
        for precision in ("fp32", "int8"):
            out = root / f"{runtime}_{precision}"
            argv = ["export", str(checkpoint), "--runtime", runtime, "--precision", precision, "--imgsz", str(IMGSZ),
                    "--out", str(out)]  # fmt: skip
            if precision == "int8":
                argv += ["--data", str(coco8), "--seed", "3"]
            assert main(argv) == 0
            found = [p for p in out.iterdir() if p.suffix == ".onnx" or p.name.endswith("_openvino_model")]
            assert len(found) == 1, list(out.iterdir())
            made[(runtime, precision)] = found[0]
    return made


@pytest.mark.slow
def test_artifacts_carry_their_record_and_calibration(artifacts, coco8: Path) -> None:
    from detnas.evaluate.data import load_data_yaml
    from detnas.models import read_deploy_record

    train = {str(p) for p in load_data_yaml(coco8).train_images}
    for (runtime, precision), path in artifacts.items():
        record = read_deploy_record(path)
        assert record is not None, path
        assert (record["runtime"], record["precision"], record["imgsz"]) == (runtime, precision, IMGSZ)
        assert record["source"] == str(shared_checkpoint().resolve())
        if precision == "fp32":
            assert record["calibration"] is None
            continue
        calibration = record["calibration"]
        assert calibration["seed"] == 3 and calibration["split"] == "train"
        assert calibration["count"] == len(calibration["images"]) == len(train) == 4  # coco8: 4 train images
        assert set(calibration["images"]) == train
    onnx_int8 = read_deploy_record(artifacts[("onnxruntime", "int8")])["quantization"]
    assert onnx_int8["quant_format"] == "QDQ" and onnx_int8["per_channel"] and onnx_int8["float_nodes"] > 10


@pytest.mark.slow
def test_int8_graphs_are_quantized_and_fp32_ones_not(artifacts) -> None:
    import onnx
    import openvino as ov

    from detnas.evaluate.latency import openvino_xml

    def onnx_ops(path: Path) -> set[str]:
        return {n.op_type for n in onnx.load(str(path)).graph.node}

    assert "QuantizeLinear" in onnx_ops(artifacts[("onnxruntime", "int8")])
    assert "QuantizeLinear" not in onnx_ops(artifacts[("onnxruntime", "fp32")])
    # the stem (layers 0-1) stays float by default (detnas.evaluate.deployed.ORT_FLOAT_GROUPS), the stages do not
    graph = onnx.load(str(artifacts[("onnxruntime", "int8")])).graph
    dequantized = {out for n in graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    convs = {n.name: any(i in dequantized for i in n.input) for n in graph.node if n.op_type == "Conv"}
    stem = [q for name, q in convs.items() if name.startswith(("/model.0/", "/model.1/"))]
    stages = [q for name, q in convs.items() if name.startswith(("/model.2/", "/model.3/"))]
    assert stem and not any(stem) and stages and all(stages), convs
    core = ov.Core()

    def ov_ops(path: Path) -> set[str]:
        return {op.get_type_name() for op in core.read_model(str(openvino_xml(path))).get_ops()}

    assert "FakeQuantize" in ov_ops(artifacts[("openvino", "int8")])
    assert "FakeQuantize" not in ov_ops(artifacts[("openvino", "fp32")])


@pytest.mark.slow
def test_deployed_map_from_the_artifacts_own_detections(artifacts, coco_mini: Path, tmp_path: Path) -> None:
    """pycocotools mAP50-95 of each artifact on coco_mini val (COCO JSON): the two FP32 runtimes agree, INT8 stays
    close to FP32."""
    from detnas.evaluate.data import find_coco_annotations, load_data_yaml
    from detnas.evaluate.deployed import validate_deployed

    spec = load_data_yaml(coco_mini)
    coco = find_coco_annotations(spec.val_images)
    maps = {}
    for key, path in artifacts.items():
        metrics = validate_deployed(path, spec.yaml_path, imgsz=IMGSZ, save_dir=tmp_path / "_".join(key),
                                    names=spec.names, val_images=spec.val_images, coco_annotations=coco)  # fmt: skip
        assert metrics.metric_source == "pycocotools" and metrics.predictions > 0
        maps[key] = metrics.map50_95
    assert maps[("onnxruntime", "fp32")] > 0.1, maps
    assert abs(maps[("onnxruntime", "fp32")] - maps[("openvino", "fp32")]) < 0.005, maps
    for runtime in ("onnxruntime", "openvino"):
        assert maps[(runtime, "int8")] > maps[(runtime, "fp32")] - 0.06, maps


@pytest.mark.slow
def test_predict_and_benchmark_run_the_artifacts(artifacts, coco8: Path, tmp_path: Path, capsys) -> None:
    images = sorted((coco8.parent / "coco8" / "images" / "val").glob("*.jpg"))[:2]
    for (runtime, precision), path in artifacts.items():
        out = tmp_path / f"predict_{runtime}_{precision}"
        assert main(["predict", str(path), *map(str, images), "--out", str(out)]) == 0
        payload = json.loads((out / "detections.json").read_text())
        assert (
            payload["precision"] == precision
            and payload["imgsz"] == IMGSZ
            and payload["kind"] == runtime.replace("onnxruntime", "onnx")
        )
        assert payload["detections"], f"{runtime} {precision} found nothing on coco8"
    assert "fixed size" in _error_of(capsys, "predict", str(artifacts[("openvino", "int8")]), str(images[0]),
                                     "--out", str(tmp_path / "x"), "--imgsz", "320")  # fmt: skip
    models = [str(artifacts[("onnxruntime", "int8")]), str(artifacts[("openvino", "int8")])]
    bench = tmp_path / "bench"
    assert main(["benchmark", "--models", *models, "--data", str(coco8), "--out", str(bench), "--runs", "5"]) == 0
    rows = json.loads((bench / "benchmark.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["ok", "ok"], rows
    assert {r["latency_backend"] for r in rows} == {"onnx", "openvino"}
    assert all(r["precision"] == "int8" and r["imgsz"] == IMGSZ and r["latency_ms"] > 0 for r in rows)
    assert all(r["params"] and r["params"] > 2e6 for r in rows)  # the float architecture of the recorded source


@pytest.mark.slow
def test_frontier_protocol_times_deployed_artifacts_in_interleaved_sessions(artifacts, tmp_path: Path) -> None:
    from detnas.benchmark.frontier import FrontierProtocol, time_rows

    rows = [
        {"name": f"{runtime} {precision}", "model": "yolo11n", "variant": "detnas", "imgsz": IMGSZ,
         "runtime": runtime, "artifact": str(path)}
        for (runtime, precision), path in artifacts.items()
    ]  # fmt: skip
    agreement = time_rows(rows, FrontierProtocol(threads=1, warmup=2, rounds=6), tmp_path, log=lambda _: None)
    assert agreement is not None and agreement >= 0
    for row in rows:
        assert row["latency_ms"] > 0 and len(row["latency_sessions_ms"]) == 2
        assert "thread-cpu clock" in row["latency_backend"]
        assert row["latency_backend"].startswith(row["runtime"])
    assert all("inference precision f32" in r["latency_backend"] for r in rows if r["runtime"] == "openvino")
