"""Latency records: fields, spread, environment, and the (arch hash, imgsz, backend, device, threads) cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from detnas.evaluate import LatencyCache, arch_sha256, cache_key, measure_latency
from detnas.evaluate.environment import cpu_name
from detnas.evaluate.stock import write_stock_yaml


@pytest.fixture(scope="module")
def yolo11n_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stock_yaml("yolo11n", tmp_path_factory.mktemp("designs"))


def _check_record(record, backend: str) -> None:
    assert record.backend == backend and record.imgsz == 64 and record.batch == 1 and record.threads == 1
    assert record.runs == 5 and record.warmup == 2 and record.fused
    assert 0 < record.min_ms <= record.p10_ms <= record.median_ms <= record.p90_ms <= record.max_ms
    assert record.std_ms >= 0 and record.iqr_ms >= 0 and record.cv >= 0
    assert record.device == "cpu" and record.device_name == cpu_name() and record.device_name
    assert record.versions["ultralytics"] and record.versions["torch"]
    assert record.measured_at
    assert record.clock == "thread-cpu"  # one CPU thread: its CPU clock, which other processes hardly move


def test_torch_latency_record_and_cache(yolo11n_yaml: Path, tmp_path: Path):
    sha = arch_sha256(yolo11n_yaml)
    key = cache_key(sha, 80, 64, "torch", "cpu", 1)
    record = measure_latency(yolo11n_yaml, imgsz=64, backend="torch", threads=1, warmup=2, runs=5, key=key)
    _check_record(record, "torch")
    cache = LatencyCache(tmp_path / "cache" / "latency.json")
    assert cache.get(key) is None
    cache.put(record)
    hit = cache.get(key)
    assert hit.cached and hit.median_ms == record.median_ms and not record.cached
    assert LatencyCache(tmp_path / "cache" / "latency.json").get(key) == hit  # persisted to disk
    for other in (
        cache_key(sha, 80, 96, "torch", "cpu", 1),
        cache_key(sha, 80, 64, "onnx", "cpu", 1),
        cache_key(sha, 80, 64, "torch", "cpu", 2),
        cache_key(sha, 3, 64, "torch", "cpu", 1),
    ):
        assert other != key and cache.get(other) is None
    assert key.endswith("|clock=thread-cpu") and cache_key(sha, 80, 64, "torch", "cpu", 2).endswith("|clock=wall")


@pytest.mark.parametrize("backend", ["torch", "onnx", "openvino"])
def test_one_thread_runs_the_network_in_the_calling_thread(backend: str, yolo11n_yaml: Path, tmp_path: Path):
    """The thread-cpu clock is honest only where the whole network runs in the calling thread: its CPU time then
    accounts for (nearly) all of the process's, whatever else the machine runs. A runtime that moved the work to
    worker threads would read near zero here."""
    import time

    import numpy as np
    import torch

    if backend == "torch":
        from detnas.evaluate.latency import load_fused_model

        torch.set_num_threads(1)
        model, x = load_fused_model(yolo11n_yaml, None), torch.rand(1, 3, 160, 160)
        step = lambda: model(x)  # noqa: E731
        context = torch.inference_mode()
    else:
        pytest.importorskip("onnxruntime" if backend == "onnx" else "openvino")
        from contextlib import nullcontext

        from detnas.evaluate.deployed import open_session
        from detnas.evaluate.latency import export_onnx, export_openvino

        if backend == "onnx":
            from detnas.evaluate.latency import onnx_session

            session = onnx_session(export_onnx(yolo11n_yaml, 160, tmp_path), 1)
            feed = {session.get_inputs()[0].name: np.zeros((1, 3, 160, 160), np.float32)}
            step = lambda: session.run(None, feed)  # noqa: E731
        else:
            step, _ = open_session(export_openvino(yolo11n_yaml, 160, tmp_path), "openvino", 1)
        context = nullcontext()
    with context:
        step()
        thread0, process0 = time.thread_time(), time.process_time()
        for _ in range(10):
            step()
        thread, process = time.thread_time() - thread0, time.process_time() - process0
    assert process > 0 and thread / process > 0.8, f"{backend}: calling thread {thread:.3f} s of {process:.3f} s"


def test_arch_hash_ignores_formatting(yolo11n_yaml: Path, tmp_path: Path):
    reformatted = tmp_path / "same.yaml"
    reformatted.write_text("# a comment\n" + yolo11n_yaml.read_text().replace("\n\n", "\n"))
    assert arch_sha256(reformatted) == arch_sha256(yolo11n_yaml)
    changed = tmp_path / "changed.yaml"
    changed.write_text(yolo11n_yaml.read_text().replace("nc: 80", "nc: 3"))
    assert arch_sha256(changed) != arch_sha256(yolo11n_yaml)


@pytest.mark.slow
def test_onnx_latency_record(yolo11n_yaml: Path, tmp_path: Path):
    record = measure_latency(yolo11n_yaml, imgsz=64, backend="onnx", threads=1, warmup=2, runs=5, workdir=tmp_path)
    _check_record(record, "onnx")
    assert record.versions["onnxruntime"]
    assert (tmp_path / "yolo11n_export.onnx").is_file()
    assert not list(Path.cwd().glob("yolo11n*.onnx"))  # nothing written outside the workdir


@pytest.mark.slow
def test_onnx_export_of_a_stock_asset_name_stays_offline(tmp_path: Path):
    # 'yolov5n.pt' would be renamed to 'yolov5nu.pt' by Ultralytics and fetched online; the export must not be.
    arch = write_stock_yaml("yolov5n", tmp_path / "designs")
    record = measure_latency(arch, imgsz=64, backend="onnx", warmup=1, runs=2, workdir=tmp_path / "work")
    assert record.median_ms > 0 and (tmp_path / "work" / "yolov5n_export.onnx").is_file()
