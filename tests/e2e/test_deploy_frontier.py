"""The deploy frontier takes a deploy search's front designs (issue 20, item 5): a real ``detnas search --precisions
int8 --runtime openvino`` on coco8, then ``benchmarks/deploy_frontier.py --run`` deploys its front as searched, scores
it on the held-out half of coco_proxy and times it in the same interleaved run as the stock OpenVINO INT8 YOLO11n it
is held against; a folder that is not such a run is one ``error:`` line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ENV, detnas, shared_checkpoint

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "deploy_frontier.py"
SIZE = 96  # small enough to validate 159 images in seconds; every row is exported, scored and timed at it


def _frontier(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=ENV, timeout=1500)


def test_found_designs_are_deployed_as_searched_and_timed_beside_the_stock_int8(
    tmp_path: Path, coco8: Path, datasets: Path
) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    shared_checkpoint("yolo11n.pt")
    if not (datasets / "coco_proxy.yaml").is_file():
        pytest.skip(f"{datasets / 'coco_proxy.yaml'} is missing")
    run = tmp_path / "search"
    searched = detnas(
        "search", "--out", str(run), "--data", str(coco8), "--precisions", "int8", "--runtime", "openvino",
        "--proxy", "pretrained-zero", "--imgsz", str(SIZE), "--evaluations", "2", "--seeds", "yolo11n", "yolov8n",
        timeout=1200,
    )  # fmt: skip
    assert searched.returncode == 0, searched.stderr[-2000:]
    out = tmp_path / "frontier"
    results = out / "deploy_frontier.json"
    common = ["--out", str(out), "--sizes", str(SIZE), "--rounds", "5", "--no-yolo-nas", "--results", str(results)]
    made = _frontier(*common, "--checkpoints", "yolo11n", "--artifacts", "openvino-int8-stock", "--run", str(run))
    assert made.returncode == 0, made.stderr[-3000:]
    payload = json.loads(results.read_text())
    rows = {r["name"]: r for r in payload["rows"]}
    found = [r for r in payload["rows"] if r["variant"] == "found"]
    assert found and all(r["kind"] == "found" and r["timed_with"] == SIZE for r in found)
    for row in found:
        record = json.loads(Path(row["deploy_record"]).read_text())
        assert (record["precision"], record["runtime"]) == ("int8", "openvino")  # as it was searched
        assert Path(row["weights"]).parent == run / "front" and row["metric_source"].startswith("pycocotools")
        assert row["map50_95"] > 0.005, row  # a COCO-trained design still detects after INT8, at 96 px
        assert row["imgsz"] == SIZE  # the size it was searched at (pinned by --imgsz)
        assert row["latency_backend"].startswith("openvino cpu 1 thread") and row["latency_ms"] > 0
    from detnas.benchmark.frontier import ROW_FIELDS

    for row in payload["rows"]:  # the keys of pretrained_frontier.json's rows, plus how it is deployed
        assert {*ROW_FIELDS, "reconstruction", "fine_tune_seconds", "precision", "runtime"} <= set(row), row["name"]
    stock = rows[f"yolo11n OV INT8 stock @{SIZE}"]
    timing = json.loads((out / "timing" / f"{SIZE}.json").read_text())
    assert set(timing["rows"]) == {stock["name"], *(r["name"] for r in found)}  # one interleaved run
    goal = payload["goal"]["found"]
    assert goal["against"] == stock["name"] and len(goal["checks"]) == len(found)
    for check in goal["checks"]:
        row = rows[check["row"]]
        assert check["latency_ratio"] == round(row["latency_ms"] / stock["latency_ms"], 3)
        assert check["met"] == (row["map50_95"] >= stock["map50_95"] and check["latency_ratio"] <= 0.75 + 5e-4)
    assert payload["found"]["runs"] == [str(run)]
    # a rerun resumes: nothing is exported or timed again
    again = _frontier(*common, "--checkpoints", "yolo11n", "--artifacts", "openvino-int8-stock", "--run", str(run))
    assert again.returncode == 0 and "timing" not in again.stdout and "mAP50-95" not in again.stdout.split("|")[0]


def test_a_folder_that_is_no_search_run_is_one_error_line(tmp_path: Path) -> None:
    result = _frontier("--checkpoints", "--no-yolo-nas", "--run", str(tmp_path), "--out", str(tmp_path / "o"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert lines[0] == f"error: --run {tmp_path}: no search.sqlite there: name a folder written by detnas search --out"
