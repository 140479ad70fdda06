"""detnas benchmark end to end: a tiny real search, its equal-budget baselines, a test-made yolo11n.pt, the INT8
TFLite YOLO11n (where ai-edge-litert is installed) and a missing YOLO-NAS row that stays in the table; and the
accuracy-latency frontier of a pretrained-anchored run (real search, inheritance, fine-tunes, pycocotools mAP,
interleaved ONNX Runtime timing)."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from detnas.cli import build_parser
from detnas.models import litert_available
from tests.helpers import TINY_FLAGS, detnas, recast, shared_checkpoint


@pytest.fixture(scope="module")
def tiny_search(coco8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("search") / "run"
    args = ["search", "--data", str(coco8), "--out", str(out), "--evaluations", "2", "--population", "2"]
    args += [*TINY_FLAGS, "--proxy", "map", "--seeds", "yolo11n"]  # from scratch
    result = detnas(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.slow
def test_benchmark_end_to_end(tiny_search: Path, datasets: Path, tmp_path: Path, make_yolo_asset) -> None:
    weights = tmp_path / "weights"
    make_yolo_asset(weights / "yolo11n.pt")
    tflite = datasets.parent / "weights" / "tflite_int8" / "yolo11n_integer_quant.tflite"
    out = tmp_path / "bench"
    argv = [
        "benchmark",
        "--models",
        str(tiny_search),
        "yolo11n",
        str(tflite),
        "yolo_nas_s",
        "--out",
        str(out),
        "--weights-dir",
        str(weights),
        "--baselines",
        "yolo11n",
        "yolov8n",
        "--warmup",
        "1",
        "--runs",
        "3",
    ]
    args = build_parser().parse_args(argv)
    assert args.func(args) == 0

    for name in ("benchmark.md", "benchmark.csv", "benchmark.json"):
        assert (out / name).stat().st_size > 0
    assert (out / "benchmark.png").stat().st_size > 10_000
    rows = json.loads((out / "benchmark.json").read_text())["rows"]
    by_label = {r["label"]: r for r in rows}
    front = json.loads((tiny_search / "pareto.json").read_text())["front"]
    found = [r for r in rows if r["kind"] == "found"]
    assert len(found) == len(front) and all(r["status"] == "ok" for r in found)

    seed = by_label["yolo11n (equal budget)"]  # the search trained the seed genome: its run is reused
    assert seed["kind"] == "baseline" and seed["status"] == "ok" and "search's own run" in seed["note"]
    assert seed["params"] == 2_616_248  # YOLO11n fused at nc=80
    v8 = by_label["yolov8n (equal budget)"]  # not in the search: trained here with the search's recipe
    assert v8["status"] == "ok" and "trained by the benchmark" in v8["note"]
    evaluation = json.loads(next((out / "baselines").rglob("evaluation.json")).read_text())
    config_recipe = json.loads((tiny_search / "pareto.json").read_text())["statistics"]["recipe"]
    assert evaluation["recipe"] == config_recipe

    ref = by_label["yolo11n"]
    assert ref["kind"] == "reference" and ref["status"] == "ok" and ref["source"] == str(weights / "yolo11n.pt")
    for r in rows:
        if r["status"] == "ok":
            assert 0.0 <= r["map50_95"] <= 1.0 and r["latency_ms"] > 0 and r["params"] > 0 and r["gflops"] > 0
            assert r["metric_source"] == "pycocotools" or r["metrics"]["coco_annotations"] == []

    nas = by_label["yolo_nas_s"]
    assert nas["status"] == "unavailable" and "yolo_nas_s.pt" in nas["reason"] and "\n" not in nas["reason"]

    int8 = [r for r in rows if r["source"] == str(tflite)]
    assert len(int8) == 1
    if litert_available():
        row = int8[0]
        assert row["status"] == "ok" and row["precision"] == "int8" and "(INT8)" in row["label"]
        assert row["imgsz"] == 640 and row["latency_backend"] == "tflite" and row["map50_95"] > 0.2
    else:
        assert "ai-edge-litert" in int8[0]["reason"]

    table = (out / "benchmark.md").read_text()
    assert "| found design |" in table and "| equal-budget baseline |" in table and "unavailable:" in table
    with open(out / "benchmark.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)

    # A second run re-uses the baseline it trained instead of training again.
    trained = next((out / "baselines").rglob("evaluation.json"))
    stamp = trained.stat().st_mtime_ns
    again = [*argv[:2], str(tiny_search), *argv[6:]]
    del again[again.index("--weights-dir") : again.index("--weights-dir") + 2]  # names only: refused for a folder
    args = build_parser().parse_args(again)
    assert args.func(args) == 0
    assert trained.stat().st_mtime_ns == stamp


def test_benchmark_bad_input(tmp_path: Path, coco8: Path) -> None:
    from detnas.benchmark.compare import run_benchmark

    with pytest.raises(ValueError, match="--data is required"):
        run_benchmark(models=["yolo11n"], out=tmp_path)
    with pytest.raises(ValueError, match="not a search run"):
        run_benchmark(models=[str(tmp_path)], data=coco8, out=tmp_path / "o")
    args = build_parser().parse_args(["benchmark", "--models", "x", "--out", str(tmp_path), "--baselines", "resnet"])
    with pytest.raises(ValueError, match="unknown baseline"):
        args.func(args)


def _benchmark(*args: str) -> subprocess.CompletedProcess:
    return detnas("benchmark", *args, "--imgsz", "64", "--runs", "2", "--warmup", "0", "--baselines")


@pytest.mark.slow
def test_benchmark_of_a_bad_checkpoint_fails_in_one_line(
    bad_checkpoint, one_error_line, coco8: Path, tmp_path: Path
) -> None:
    """No model measured: a non-zero exit, the file and its problem in one line, no traceback."""
    out = tmp_path / "bench"
    result = _benchmark("--models", str(bad_checkpoint.path), "--data", str(coco8), "--out", str(out))
    one_error_line(result, bad_checkpoint.path, bad_checkpoint.says)
    rows = json.loads((out / "benchmark.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["unavailable"] and bad_checkpoint.says in rows[0]["reason"]


@pytest.mark.slow
def test_benchmark_keeps_going_past_a_bad_checkpoint(shared_yolo11n: Path, coco8: Path, tmp_path: Path) -> None:
    """One model measured, one corrupt: the table holds both (the corrupt one with its reason) and the exit is 0."""
    data = shared_yolo11n.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 3])
    out = tmp_path / "bench"
    result = _benchmark("--models", str(shared_yolo11n), str(truncated), "--data", str(coco8), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "error:" not in result.stderr
    assert f"warning: not measured: {truncated}: cannot be read as a PyTorch checkpoint" in result.stderr
    rows = {r["label"]: r for r in json.loads((out / "benchmark.json").read_text())["rows"]}
    assert rows["yolo11n.pt"]["status"] == "ok" and rows["yolo11n.pt"]["map50_95"] is not None
    assert rows["truncated.pt"]["status"] == "unavailable" and str(truncated) in rows["truncated.pt"]["reason"]
    assert "truncated.pt | - |" in (out / "benchmark.md").read_text()


@pytest.mark.slow
def test_benchmark_of_an_anchored_run_draws_the_frontier(tmp_path: Path, coco8: Path) -> None:
    parent = shared_checkpoint("yolo11n.pt")
    run = tmp_path / "run"
    searched = detnas(
        "search", "--data", str(coco8), "--out", str(run), "--evaluations", "2", "--population", "2",
        "--parent", str(parent), "--seeds", "yolo11n", "--sizes", "320,352", "--proxy", "pretrained-zero",
        timeout=1800,
    )  # fmt: skip
    assert searched.returncode == 0, searched.stderr[-2000:]
    out = tmp_path / "bench"
    ignored = detnas("benchmark", "--models", str(run), "--out", str(out), "--imgsz", "320", timeout=1800)
    assert ignored.returncode == 2 and "--imgsz does not apply" in ignored.stderr
    assert ignored.stderr.count("\n") == 1
    result = detnas(
        "benchmark", "--models", str(run), "--out", str(out), "--data", str(coco8), "--sizes", "320",
        "--runs", "3", "--warmup", "1", timeout=1800,
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
    # the frontier's recipe distils a sliced network from its parent before the fine-tune, an intact one not
    assert rows["yolo11n-w0.75 fine-tuned @320"]["distillation"]["steps"] > 0
    assert rows["yolo11n fine-tuned @320"]["distillation"] is None
    assert (out / "frontier.png").stat().st_size > 10_000 and (out / "frontier.csv").is_file()
    assert set(payload["goal"]) >= {"met_speed_goal", "front_above_thinning"}


@pytest.mark.slow
def test_benchmark_of_an_own_classes_run_transfers_every_row_alike(tmp_path: Path, coco8: Path) -> None:
    from detnas.datasets import split_val

    parent = shared_checkpoint("yolo11n.pt")
    animals = dict.fromkeys(range(14, 24), 0)  # COCO bird ... giraffe: in coco8's train and val images alike
    two_classes = recast(coco8, tmp_path / "data", animals, ["animal", "other"], rest=1)
    search_half, _ = split_val(two_classes, tmp_path / "split")
    run = tmp_path / "run"
    searched = detnas(
        "search", "--data", str(search_half), "--out", str(run), "--evaluations", "2", "--population", "2",
        "--parent", str(parent), "--seeds", "yolo11n", "--sizes", "320,352", timeout=1800,
    )  # fmt: skip
    assert searched.returncode == 0, searched.stderr[-2000:]
    out = tmp_path / "bench"
    result = detnas(
        "benchmark", "--models", str(run), "--out", str(out), "--sizes", "640,320", "--runs", "3", "--warmup", "1",
        timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "has its own classes" in result.stderr
    payload = json.loads((out / "frontier.json").read_text())
    assert payload["protocol"]["own_classes"] and payload["protocol"]["train_imgsz"] == 640
    assert payload["protocol"]["clock"] == "thread-cpu"
    sessions = [r["latency_sessions_ms"] for r in payload["rows"]]
    worst = max(abs(a - b) / min(a, b) for a, b in sessions)
    assert abs(payload["protocol"]["repeat_agreement"] - worst) < 1e-3 * worst + 1e-9
    rows = {r["name"]: r for r in payload["rows"]}
    # no row stands on the checkpoint's COCO class predictions, and no thinned row: every network transferred once
    assert {r["variant"] for r in payload["rows"]} == {"fine-tuned"}
    assert {"yolo11n fine-tuned @640", "yolo11n fine-tuned @320"} <= set(rows)
    assert not any("-w" in r["model"] for r in payload["rows"])
    big, small = rows["yolo11n fine-tuned @640"], rows["yolo11n fine-tuned @320"]
    assert big["weights"] == small["weights"] and big["trained_imgsz"] == small["trained_imgsz"] == 640
    assert big["head_probe"]["steps"] >= 200  # the fresh class head learned before the fine-tune
    # detection quality after the transfer is guarded where the held-out set is not 2 images: a one-class task in
    # tests/integration/test_head_probe.py; here every row must be a pycocotools figure of its own size
    assert all(r["metric_source"].startswith("pycocotools") for r in payload["rows"])
    assert (out / "work" / "yolo11n_fine-tuned_320" / "val" / "predictions.json").is_file()  # validated at 320
    assert big["latency_ms"] > small["latency_ms"]
    found = [r for r in payload["rows"] if r["kind"] == "found"]
    assert found and all(r["trained_imgsz"] == 640 and r["imgsz"] in (320, 352) for r in found)
    assert payload["goal"]["reference"] == "yolo11n fine-tuned @640" and payload["goal"]["latency_ratio_bar"] == 0.6
