"""The deploy frontier's goal for found designs (issue 20): at least the stock OpenVINO INT8 YOLO11n's mAP at <= 0.75x
its latency, both from one interleaved timing run, and, when no design meets it, which rows bound it."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import load_script

frontier = load_script(Path(__file__).resolve().parents[2] / "benchmarks" / "deploy_frontier.py")


def _row(name: str, model: str, variant: str, imgsz: int, map50_95: float, latency_ms: float, **extra) -> dict:
    row = dict(name=name, model=model, runtime="openvino", precision="int8", variant=variant, imgsz=imgsz,
               map50_95=map50_95, latency_ms=latency_ms, map_source="measured here")  # fmt: skip
    return row | extra


STOCK = _row("yolo11n OV INT8 stock @640", "yolo11n", "stock", 640, 0.377, 32.0)
V8 = _row("yolov8n OV INT8 stock @640", "yolov8n", "stock", 640, 0.383, 30.0)


def test_a_found_design_meets_the_goal_only_with_both_the_map_and_the_latency() -> None:
    fast_weak = _row("found-a OV INT8 @512", "found-a", "found", 512, 0.350, 20.0, timed_with=640)
    slow_strong = _row("found-b OV INT8 @640", "found-b", "found", 640, 0.380, 25.0, timed_with=640)
    goal = frontier.found_goal([STOCK, V8, fast_weak, slow_strong])
    assert goal["against"] == STOCK["name"] and goal["met"] is False
    assert [c["met"] for c in goal["checks"]] == [False, False]  # 20 ms misses the mAP; 25 ms > 24 ms
    assert goal["best_within_latency"]["row"] == fast_weak["name"] and goal["best_within_latency"]["map_gap"] == -0.027
    assert goal["fastest_at_map"]["row"] == slow_strong["name"]  # faster than YOLOv8n's 30 ms at >= 0.377
    winner = _row("found-c OV INT8 @576", "found-c", "found", 576, 0.378, 23.9, timed_with=640)
    goal = frontier.found_goal([STOCK, V8, fast_weak, winner])
    assert goal["met"] is True and [c["row"] for c in goal["checks"] if c["met"]] == [winner["name"]]


def test_without_found_rows_or_the_reference_there_is_no_verdict() -> None:
    assert frontier.found_goal([STOCK, V8]) is None
    found = _row("found-a OV INT8 @512", "found-a", "found", 512, 0.40, 10.0, timed_with=640)
    assert frontier.found_goal([V8, found])["met"] is None  # no stock YOLO11n in that run: nothing to hold it to
