"""Latency tables: real per-layer ONNX Runtime timings, prediction as a pure function, refusals, and a search."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from detnas.architecture import write_yaml
from detnas.designs import named_design, yolo11n, yolov8n
from detnas.evaluate.latency_table import (
    MissingLayersError,
    TableError,
    deploy_model,
    extend_layers,
    features,
    fit_coefficients,
    layer_specs,
    load_table,
    new_table,
    predict_ms,
)
from detnas.space import SearchSpace
from tests.helpers import TINY_FLAGS, TINY_IMGSZ, detnas

IMGSZ = TINY_IMGSZ  # small inputs keep the real timings of a test table to seconds


def _one_error_line(result: subprocess.CompletedProcess, says: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.stderr[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real table of YOLO11n's layers at 64 px, timed here with ONNX Runtime on one thread."""
    path = tmp_path_factory.mktemp("lut") / "table.json"
    table = new_table(backend="onnx", threads=1, warmup=1, runs=3)
    added = extend_layers(table, [yolo11n()], sizes=[IMGSZ], out=path)
    assert added == len({s.key for s in layer_specs(yolo11n(), imgsz=IMGSZ)})
    return path


def _recorder(seen: dict[int, tuple], index: int):
    def hook(module, inputs) -> None:
        xs = inputs[0] if isinstance(inputs[0], list) else [inputs[0]]
        seen[index] = tuple(tuple(t.shape[1:]) for t in xs)

    return hook


def test_layer_shapes_match_the_real_ultralytics_model() -> None:
    """The shapes the keys are built from, propagated without a model, are those the built network sees."""
    import torch

    torch.set_num_threads(1)  # idle OpenMP workers spin on a shared, oversubscribed machine
    genomes = [named_design(n) for n in ("yolo11n", "yolov8n", "yolov5nu")]
    genomes += [SearchSpace().sample(random.Random(s)) for s in range(3)]
    for genome in genomes:
        model = deploy_model(genome)
        seen: dict[int, tuple] = {}
        for i, module in enumerate(model.model):
            module.register_forward_pre_hook(_recorder(seen, i))
        with torch.no_grad():
            model(torch.rand(1, 3, 96, 96))
        specs = layer_specs(genome, imgsz=96)
        assert len(specs) == len(model.model)
        for spec in specs:
            assert spec.inputs == seen[spec.index], (genome.id, spec.index, spec.module)
            assert spec.module.split(".")[-1] == type(model.model[spec.index]).__name__


def test_table_holds_real_timings_and_prediction_is_pure(table_path: Path) -> None:
    table = load_table(table_path, backend="onnx")
    assert table.backend == "onnx" and table.threads == 1 and table.versions["onnxruntime"]
    assert table.device and table.build_seconds > 0
    assert all(ms > 0 for ms in table.layers.values())
    genome = yolo11n()
    before_table, before_genome = copy.deepcopy(table), genome.to_json()
    first = predict_ms(genome, table, imgsz=IMGSZ)
    assert first == predict_ms(genome, table, imgsz=IMGSZ)  # same inputs, same figure
    assert table == before_table and genome.to_json() == before_genome  # nothing mutated
    specs = layer_specs(genome, imgsz=IMGSZ)
    assert first == pytest.approx(sum(table.layers[s.key] for s in specs))  # uncalibrated: the plain layer sum
    table.coefficients = [1.5, -0.01, 0.3, 0.2]
    x = features(genome, table, imgsz=IMGSZ)
    assert predict_ms(genome, table, imgsz=IMGSZ) == pytest.approx(1.5 * x[0] - 0.01 * x[1] + 0.3 + 0.2 * x[3])


def test_fit_recovers_constants_of_linear_data() -> None:
    rng = np.random.default_rng(0)
    truth = np.array([1.2, -0.05, 2.0, 1.5])
    rows = []
    for _ in range(12):
        x = [float(rng.uniform(5, 80)), float(rng.integers(18, 40)), 1.0, float(rng.choice([0.36, 0.64, 1.0]))]
        rows.append({"features": x, "measured_ms": float(np.dot(truth, x))})
    assert fit_coefficients(rows[:3]) is None  # too few networks: no fit, plain layer sum
    assert fit_coefficients(rows) == pytest.approx(truth.tolist(), rel=1e-6)  # exact data: the full model wins
    proportional = [{"features": r["features"], "measured_ms": 1.1 * r["features"][0]} for r in rows]
    assert fit_coefficients(proportional) == pytest.approx([1.1, 0, 0, 0], abs=1e-9)  # the simplest exact model
    one_size = [{"features": [*r["features"][:3], 1.0], "measured_ms": r["measured_ms"]} for r in rows]
    coef = fit_coefficients(one_size)  # constant and pixel term are the same column: never both in the model
    assert coef is not None and (coef[2] == 0 or coef[3] == 0)


def test_missing_layer_is_an_error_naming_it(table_path: Path) -> None:
    table = load_table(table_path)
    with pytest.raises(MissingLayersError) as info:
        predict_ms(yolov8n(), table, imgsz=IMGSZ)  # C2f blocks: never timed in a YOLO11n-only table
    assert info.value.missing and all(k in str(info.value) for k in ("lacks", info.value.missing[0], "build-table"))
    with pytest.raises(MissingLayersError):
        predict_ms(yolo11n(), table, imgsz=IMGSZ * 2)  # another input size is another set of layers


def test_other_backend_or_space_version_is_refused(table_path: Path, tmp_path: Path) -> None:
    with pytest.raises(TableError, match="backend 'onnx', not 'torch'"):
        load_table(table_path, backend="torch")
    data = json.loads(table_path.read_text())
    data["space_version"] = 999
    other = tmp_path / "other_space.json"
    other.write_text(json.dumps(data))
    with pytest.raises(TableError, match="search-space version 999"):
        load_table(other)
    with pytest.raises(ValueError, match="multiple of 32"):
        layer_specs(yolo11n(), imgsz=100)
    with pytest.raises(ValueError, match="needs --threads 1"):
        new_table(backend="onnx", threads=2, clock="cpu")  # other threads' work would be left out


@pytest.mark.slow
def test_cpu_clock_layers_agree_with_wall_clock_order(tmp_path: Path) -> None:
    """The CPU clock times the same work: a 4x larger feature map costs more on it, and it is never zero."""
    table = new_table(backend="onnx", threads=1, warmup=1, runs=5, clock="cpu")
    extend_layers(table, [yolo11n()], sizes=[IMGSZ, 4 * IMGSZ], out=tmp_path / "cpu.json")
    small, large = (predict_ms(yolo11n(), table, imgsz=s) for s in (IMGSZ, 4 * IMGSZ))
    assert 0 < small < large
    assert load_table(tmp_path / "cpu.json").clock == "cpu"


@pytest.mark.slow
def test_cli_build_resume_and_predict(table_path: Path, tmp_path: Path) -> None:
    arch = write_yaml(yolo11n(), tmp_path / "arch.yaml")
    out = tmp_path / "t.json"
    common = ["latency", "build-table", "--out", str(out), "--imgsz", str(IMGSZ), "--samples", "0"]
    common += ["--no-designs", "--calibration", "0", "--runs", "3", "--warmup", "1", "--arch", str(arch)]
    first = detnas(*common)
    assert first.returncode == 0, first.stderr[-2000:]
    assert f"+{len({s.key for s in layer_specs(yolo11n(), imgsz=IMGSZ)})} layers" in first.stdout
    again = detnas(*common)  # resumed: everything is in the file already
    assert again.returncode == 0 and "+0 layers" in again.stdout, again.stderr[-2000:]
    predicted = detnas("latency", "predict", str(arch), "--latency-table", str(out), "--imgsz", str(IMGSZ))
    assert predicted.returncode == 0 and "ms predicted" in predicted.stdout, predicted.stderr


def test_cli_bad_tables_are_one_line(table_path: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(os.urandom(256))
    _one_error_line(detnas("latency", "predict", "yolo11n", "--latency-table", str(garbage)), "cannot be read")
    missing = tmp_path / "missing.json"
    _one_error_line(detnas("latency", "predict", "yolo11n", "--latency-table", str(missing)), "does not exist")
    line = _one_error_line(
        detnas("latency", "predict", "yolov8n", "--latency-table", str(table_path), "--imgsz", str(IMGSZ)), "lacks"
    )
    assert "build-table" in line
    _one_error_line(detnas("latency", "build-table", "--out", str(tmp_path / "x.json"), "--imgsz", "100"), "100")


def test_search_with_bad_table_is_refused_before_the_run_folder(coco8: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    run = tmp_path / "run"
    args = ["search", "--data", str(coco8), "--out", str(run), "--latency-table", str(garbage), "--proxy", "tse"]
    _one_error_line(detnas(*args), "cannot be read as a latency table")
    assert not (run / "search.sqlite").exists()


@pytest.mark.slow
def test_search_with_table_predicts_and_measures_the_front(coco8: Path, table_path: Path, tmp_path: Path) -> None:
    from detnas.search.store import Store

    run = tmp_path / "run"
    result = detnas(
        "search", "--data", str(coco8), "--out", str(run), "--evaluations", "2", "--population", "2",
        *TINY_FLAGS, "--proxy", "tse", "--latency-backend", "onnx",
        "--latency-table", str(table_path), "--space", "anchored",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    store = Store(run / "search.sqlite")
    table = load_table(table_path)
    seed = next(c for c in store.candidates() if c.origin == "seed:yolo11n")
    assert seed.status == "done" and seed.latency_ms == pytest.approx(predict_ms(yolo11n(), table, imgsz=IMGSZ))
    assert "the table lacked; added to" in result.stderr  # the sampled candidate's new layers, timed here
    grown = load_table(run / "latency_table.json")
    assert set(table.layers) < set(grown.layers)
    assert seed.evaluation["latency"] is None  # no per-candidate measurement: the table's figure is the objective
    front = json.loads((run / "pareto.json").read_text())["front"]
    assert front and all(r["measured_latency_ms"] and r["measured_latency_ms"] > 0 for r in front)
    report = (run / "report.md").read_text()
    assert "predicted ms | measured ms | error %" in report and str(table_path) in report
    assert "predicted ms | measured ms" in result.stdout
