"""The accuracy-latency protocol: its verdicts on known rows, and `detnas benchmark` on a pretrained-anchored run
end to end (real search, inheritance, fine-tunes, pycocotools mAP, interleaved ONNX Runtime timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from detnas.benchmark.frontier import dominance, goal
from tests.conftest import shared_checkpoint

ENV = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false"}


def _row(name, kind, model, variant, imgsz, m, ms):
    return {"name": name, "kind": kind, "model": model, "variant": variant, "imgsz": imgsz, "map50_95": m,
            "map50": m, "latency_ms": ms, "latency_spread_ms": 0.1}  # fmt: skip


def test_verdicts_name_what_is_dominated_and_by_how_much():
    rows = [
        _row("yolo11n shipped @640", "baseline", "yolo11n", "shipped", 640, 0.38, 100.0),
        _row("yolo11n shipped @512", "baseline", "yolo11n", "shipped", 512, 0.36, 68.0),
        _row("yolo11n-w0.5 fine-tuned @640", "baseline", "yolo11n-w0.5", "fine-tuned", 640, 0.10, 50.0),
        _row("found-a @576", "found", "found-a", "fine-tuned", 576, 0.385, 74.0),
        _row("found-b @416", "found", "found-b", "fine-tuned", 416, 0.30, 45.0),
    ]
    verdict = dominance(rows)
    shipped = verdict["yolo11n shipped"]
    assert shipped["points"] == 2 and shipped["dominated"] == 1
    assert shipped["details"][0] == {
        "baseline": "yolo11n shipped @640", "by": "found-a @576", "map_gain": 0.005, "latency_ratio": 0.74,
    }  # fmt: skip
    assert verdict["yolo11n-w0.5 fine-tuned"]["dominated"] == 1
    g = goal(rows)
    assert g["met_speed_goal"] and g["faster_at_equal_map"] == ["found-a @576"]
    assert g["front_above_thinning"] and g["thinned_points_matched"] == "1/1"
    slower = [dict(r, latency_ms=80.0) if r["name"] == "found-a @576" else r for r in rows]
    assert not goal(slower)["met_speed_goal"]  # 0.8x is not <= 0.75x


def _detnas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detnas.cli", *args], capture_output=True, text=True, env=ENV, timeout=1800
    )


@pytest.mark.slow
def test_benchmark_of_an_anchored_run_draws_the_frontier(tmp_path: Path, coco8: Path) -> None:
    parent = shared_checkpoint("yolo11n.pt")
    run = tmp_path / "run"
    searched = _detnas(
        "search", "--data", str(coco8), "--out", str(run), "--evaluations", "2", "--population", "2",
        "--parent", str(parent), "--seeds", "yolo11n", "--sizes", "320,352", "--proxy", "pretrained-zero",
    )  # fmt: skip
    assert searched.returncode == 0, searched.stderr[-2000:]
    out = tmp_path / "bench"
    ignored = _detnas("benchmark", "--models", str(run), "--out", str(out), "--imgsz", "320")
    assert ignored.returncode == 2 and "--imgsz does not apply" in ignored.stderr
    assert ignored.stderr.count("\n") == 1
    result = _detnas(
        "benchmark", "--models", str(run), "--out", str(out), "--data", str(coco8), "--sizes", "320",
        "--runs", "3", "--warmup", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads((out / "frontier.json").read_text())
    rows = {r["name"]: r for r in payload["rows"]}
    assert {"yolo11n shipped @320", "yolo11n fine-tuned @320", "yolo11n-w0.75 fine-tuned @320",
            "yolo11n-w0.5 fine-tuned @320"} <= set(rows)  # fmt: skip
    found = [r for r in payload["rows"] if r["kind"] == "found"]
    assert found and all(r["imgsz"] in (320, 352) for r in found)
    for r in payload["rows"]:
        assert r["metric_source"].startswith("pycocotools") and 0.0 <= r["map50_95"] <= 1.0
        assert r["latency_ms"] > 0 and r["latency_backend"].startswith("onnxruntime")
    assert rows["yolo11n shipped @320"]["map50_95"] > 0.3  # the checkpoint itself on coco8
    assert rows["yolo11n-w0.5 fine-tuned @320"]["params"] < rows["yolo11n shipped @320"]["params"]
    assert (out / "frontier.png").stat().st_size > 10_000 and (out / "frontier.csv").is_file()
    assert set(payload["goal"]) >= {"met_speed_goal", "front_above_thinning"}
