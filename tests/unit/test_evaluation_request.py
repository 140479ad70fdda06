"""The request evaluate_candidate hands its worker, and the result the worker hands back, round-trip through JSON
explicitly, and refuse keys they do not know."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from detnas.cost import Cost
from detnas.evaluate.latency import LatencySettings
from detnas.evaluate.recipe import Recipe
from detnas.evaluate.record import EpochLosses, Metrics, ProxyScore
from detnas.evaluate.request import EvaluationRequest, WorkerResult


def _request(**changes) -> EvaluationRequest:
    work = Path("/tmp/cand")
    fields = dict(
        arch_yaml=Path("/tmp/a.yaml"),
        data_yaml=work / "data" / "data.yaml",
        recipe=Recipe(epochs=2, imgsz=416, batch=4, subset=0.5, time_limit_s=30.0),
        imgsz=416,
        workdir=work,
        names={0: "person", 1: "bicycle"},
        val_list=work / "data" / "val.txt",
        progress=work / "progress.json",
        result=work / "result.json",
        device="0",
        coco_annotations=(Path("/data/instances_val.json"),),
        latency=LatencySettings("onnx", threads=2, warmup=3, runs=7, device="cpu"),
        latency_key="abc|nc=2|imgsz=416|onnx|cpu|threads=2",
        proxy="pretrained",
        parents=(Path("/w/yolo11n.pt"), Path("/w/yolov8n.pt")),
        measure_map=True,
    )
    return EvaluationRequest(**(fields | changes))


def test_request_round_trips_through_json(tmp_path: Path) -> None:
    request = _request()
    assert EvaluationRequest.from_json(request.to_json()) == request
    path = tmp_path / "request.json"
    request.to_json(path)
    assert EvaluationRequest.from_json(path) == request
    bare = _request(latency=None, latency_key="", parents=(), coco_annotations=(), measure_map=None, proxy="tse")
    assert EvaluationRequest.from_json(bare.to_json()) == bare
    data = json.loads(request.to_json())
    assert data["names"] == {"0": "person", "1": "bicycle"}  # JSON keys are text; the request's are class ids
    assert data["recipe"]["epochs"] == 2 and data["imgsz"] == 416


@pytest.mark.parametrize("where", ["top", "latency"])
def test_unknown_key_is_refused_by_name(tmp_path: Path, where: str) -> None:
    data = json.loads(_request().to_json())
    (data if where == "top" else data["latency"])["parent_weights"] = ["/w/yolo11n.pt"]
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['parent_weights'\]"):
        EvaluationRequest.from_dict(data)
    path = tmp_path / "request.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"^{path}: evaluation request"):
        EvaluationRequest.from_json(path)


def test_missing_key_is_refused_by_name() -> None:
    data = json.loads(_request().to_json())
    del data["imgsz"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['imgsz'\]"):
        EvaluationRequest.from_dict(data)


def test_request_carries_one_resolved_size() -> None:
    with pytest.raises(ValueError, match="imgsz 320 differs from its recipe's 416"):
        _request(imgsz=320)


def test_worker_result_round_trips_with_non_finite_losses() -> None:
    result = WorkerResult(
        status="failed",
        phase_started=1.5,
        phase_seconds={"build": 0.5, "train": 2.25},
        cost=Cost(params=10, gflops=None, imgsz=320, fused=True),
        inheritance={"fraction": 0.9, "parent": "yolo11n.pt"},
        run_dir="/tmp/cand/train",
        weights_last="/tmp/cand/train/weights/last.pt",
        epochs=[EpochLosses(1, box=1.0, cls=float("nan"), dfl=0.5, extra={"aux": 0.1}, elapsed_s=3.0)],
        metrics=Metrics(0.1, 0.2, "pycocotools", 0.11, 0.21, val_images=8, coco_annotations=["/a.json"]),
        proxy=ProxyScore("map", 0.1, {"tse": -2.0, "map50_95": 0.1}),
        failure_phase="train",
        failure_reason="FloatingPointError: non-finite training loss in epoch 1",
    )
    back = WorkerResult.from_json(result.to_json())
    assert math.isnan(back.epochs[0].cls)  # the failed epoch's NaN survives to the record
    nan_free = dataclasses.replace(back, epochs=[dataclasses.replace(back.epochs[0], cls=None)])
    assert nan_free == dataclasses.replace(result, epochs=[dataclasses.replace(result.epochs[0], cls=None)])
    assert WorkerResult.from_json(WorkerResult().to_json()) == WorkerResult()
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['request'\]"):
        WorkerResult.from_dict({"status": "ok", "request": {}})


def test_unreadable_worker_result_reads_as_none(tmp_path: Path) -> None:
    assert WorkerResult.read(tmp_path / "missing.json") is None
    cut = tmp_path / "cut.json"
    cut.write_text('{"status": "ok", "pha')
    assert WorkerResult.read(cut) is None
