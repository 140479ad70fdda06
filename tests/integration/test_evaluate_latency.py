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
