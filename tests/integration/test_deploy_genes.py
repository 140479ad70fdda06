"""A candidate with deploy genes is scored and timed as its deployed artifact (issue 20): YOLO11n with
``precision: int8`` / ``runtime: openvino`` inherits COCO weights, is exported to an NNCF-calibrated OpenVINO INT8 IR,
and its mAP comes from that IR's own detections and its latency from timing that IR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detnas.architecture import write_yaml
from detnas.designs import yolo11n
from detnas.evaluate import Recipe, evaluate_candidate
from tests.helpers import detnas, shared_checkpoint

pytestmark = pytest.mark.slow


def test_int8_openvino_candidate_is_scored_and_timed_as_its_artifact(tmp_path: Path, coco8: Path) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    parent = shared_checkpoint("yolo11n.pt")
    genome = yolo11n().with_deployment("int8", "openvino")
    common = {
        "latency_backend": "onnx",  # the search's backend: a deployed design is timed on its own runtime instead
        "latency_runs": 10,
        "latency_warmup": 2,
        "latency_cache": tmp_path / "latency.json",
        "proxy": "pretrained-zero",
        "parents": [parent],
    }
    recipe = Recipe(imgsz=256, batch=4, seed=0)
    e = evaluate_candidate(
        write_yaml(genome, tmp_path / "int8.yaml"), coco8, recipe, workdir=tmp_path / "int8", **common
    )
    assert e.status == "ok", e.failure_reason
    deployment = e.deployment
    assert deployment is not None and (deployment["precision"], deployment["runtime"]) == ("int8", "openvino")
    artifact = Path(deployment["artifact"])
    assert artifact.is_dir() and artifact.name.endswith("_int8_256_openvino_model") and any(artifact.glob("*.xml"))
    assert artifact.is_relative_to(tmp_path / "int8")
    record = json.loads(Path(deployment["record"]).read_text())
    calibration = record["calibration"]
    train = (tmp_path / "int8" / "data" / "train.txt").read_text().split()
    assert calibration["seed"] == 0 and calibration["count"] == len(train) == e.train_images
    assert {Path(p).resolve() for p in calibration["images"]} == {
        Path(p).resolve() for p in train
    }  # the candidate's own training images, none of its val images
    assert e.latency.backend == "openvino" and e.latency.imgsz == 256 and e.latency.median_ms > 0
    assert e.phase_seconds["deploy"] > 0 and e.metrics.val_images == 4
    assert 0.0 < e.metrics.map50_95 <= e.metrics.map50 <= 1.0
    assert e.proxy.score == e.metrics.map50_95  # the search's objective is the artifact's mAP

    plain = evaluate_candidate(
        write_yaml(yolo11n(), tmp_path / "fp32.yaml"), coco8, recipe, workdir=tmp_path / "fp32", **common
    )
    assert plain.status == "ok" and plain.deployment is None and plain.latency.backend == "onnx"
    assert plain.phase_seconds["deploy"] == 0.0
    # the INT8 IR's detections differ from the FP32 checkpoint's; the score is the IR's, not a copy of the .pt's
    assert e.metrics.predictions != plain.metrics.predictions or e.metrics.map50_95 != plain.metrics.map50_95
    print(
        f"\nYOLO11n @256 coco8: openvino int8 mAP50-95 {e.metrics.map50_95:.4f} latency {e.latency.median_ms:.2f} ms"
        f" | torch fp32 mAP50-95 {plain.metrics.map50_95:.4f}, onnx fp32 latency {plain.latency.median_ms:.2f} ms"
    )

    # detnas export of the design's weights: as searched with no flags, and another precision refused in one line
    weights = Path(e.weights_last)
    refused = detnas("export", str(weights), "--precision", "fp32", timeout=300)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), refused.stderr[-1000:]
    assert "searched as int8 on openvino" in lines[0] and "drop --precision" in lines[0]
    out = tmp_path / "exported"
    run = detnas("export", str(weights), "--data", str(coco8), "--imgsz", "256", "--out", str(out), timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    written = json.loads(next(out.glob("*_openvino_model/deploy.json")).read_text())
    assert (written["precision"], written["runtime"], written["imgsz"]) == ("int8", "openvino", 256)


def test_max_latency_holds_a_deployed_design_to_its_artifacts_latency(tmp_path: Path, coco8: Path) -> None:
    """--max-latency-ms with deploy genes: the FP32 network's latency is not the deployed one, so no candidate is
    refused before its evaluation; each is measured as its INT8 artifact and then held to the limit, counted as an
    evaluation but kept off the front. Below any real latency, nothing is feasible and the search says so (exit 1)."""
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from detnas.search.store import Store

    out = tmp_path / "run"
    run = detnas(
        "search", "--data", str(coco8), "--parent", str(shared_checkpoint("yolo11n.pt")), "--proxy", "pretrained-zero",
        "--imgsz", "320", "--precisions", "int8", "--runtime", "openvino", "--max-latency-ms", "0.5",
        "--evaluations", "2", "--out", str(out), timeout=900,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr[-2000:]
    assert "no candidate" in run.stderr and "finished with a score" in run.stderr
    store = Store(out / "search.sqlite")
    try:
        evaluated = store.candidates("failed")
        assert len(evaluated) == 2 and not store.candidates("infeasible") and not store.candidates("done")
        for candidate in evaluated:
            assert candidate.latency_ms is not None and candidate.latency_ms > 0.5  # measured on the artifact
            assert "int8 openvino artifact > max 0.5 ms" in candidate.error
            assert json.loads(candidate.evaluation_json)["deployment"]["precision"] == "int8"
    finally:
        store.close()
