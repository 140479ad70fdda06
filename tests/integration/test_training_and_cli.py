"""End to end as a user runs it: the detnas CLI, and Ultralytics' own trainer on a sampled YAML (real coco8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from detnas.architecture import genome_from_yaml
from tests.helpers import ENV, TINY_RECIPE, detnas

# installed=True: the `detnas` command as a user runs it, where it is on the PATH (else `python -m detnas`).


def test_cli_help_on_every_command() -> None:
    for args in ([], ["space"], ["space", "info"], ["space", "sample"], ["space", "show"]):
        result = detnas(*args, "--help", installed=True)
        assert result.returncode == 0, result.stderr
        assert "usage: detnas" in result.stdout


def test_cli_space_info_prints_size() -> None:
    result = detnas("space", "info", installed=True)
    assert result.returncode == 0, result.stderr
    assert "search space size:" in result.stdout
    info = json.loads(detnas("space", "info", "--json", installed=True).stdout)
    from detnas.space import SearchSpace

    assert info["size"] == SearchSpace().size()


@pytest.mark.slow
def test_cli_space_sample_writes_yaml_and_json(tmp_path: Path) -> None:
    result = detnas("space", "sample", "--n", "4", "--seed", "0", "--out", str(tmp_path), installed=True)
    assert result.returncode == 0, result.stderr
    yamls = sorted(tmp_path.glob("*.yaml"))
    assert len(yamls) == 4
    for path in yamls:
        record = json.loads(path.with_suffix(".json").read_text())
        assert record["id"] == path.stem == genome_from_yaml(path).id
        assert record["params"] > 100_000 and record["gflops"] > 0 and record["imgsz"] == 640
    again = tmp_path / "again"
    detnas("space", "sample", "--n", "4", "--seed", "0", "--out", str(again), installed=True)
    assert sorted(p.name for p in again.glob("*.yaml")) == [p.name for p in yamls]  # seeded


@pytest.mark.slow
def test_cli_space_show_writes_named_design(tmp_path: Path) -> None:
    out = tmp_path / "y11.yaml"
    result = detnas("space", "show", "yolo11n", "--out", str(out), installed=True)
    assert result.returncode == 0, result.stderr
    assert "2,624,080" in result.stdout
    assert genome_from_yaml(out).id == "ab91681c8a48"


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    result = detnas("space", "show", "yolo99", installed=True)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.slow
def test_one_training_step_with_stock_yolo_cli(coco8: Path, tmp_path: Path) -> None:
    """`yolo train model=<sampled>.yaml data=coco8.yaml epochs=1 imgsz=64 device=cpu` accepts a detnas YAML."""
    samples = tmp_path / "samples"
    assert detnas("space", "sample", "--n", "1", "--seed", "0", "--out", str(samples), installed=True).returncode == 0
    arch = next(samples.glob("*.yaml"))
    yolo = Path(sys.executable).with_name("yolo")
    result = subprocess.run(
        [
            str(yolo),
            "train",
            f"model={arch}",
            f"data={coco8}",
            *(f"{name}={value}" for name, value in TINY_RECIPE.items()),
            "device=cpu",
            "workers=0",
            "plots=False",
            f"project={tmp_path / 'runs'}",
            "name=step",
            "exist_ok=True",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = tmp_path / "runs" / "step"
    assert (run / "weights" / "last.pt").is_file()
    rows = (run / "results.csv").read_text().strip().splitlines()
    assert len(rows) == 2  # header + one epoch
    header = [h.strip() for h in rows[0].split(",")]
    losses = dict(zip(header, (float(v) for v in rows[1].split(",")), strict=True))
    assert losses["train/box_loss"] > 0 and losses["train/cls_loss"] > 0


@pytest.mark.slow
def test_training_step_through_python_api(coco8: Path, tmp_path: Path) -> None:
    import random

    from ultralytics import YOLO

    from detnas.architecture import write_yaml
    from detnas.space import SearchSpace

    genome = SearchSpace().sample(random.Random(11))
    arch = write_yaml(genome, tmp_path / f"{genome.id}.yaml")
    model = YOLO(str(arch))
    model.train(
        data=str(coco8),
        **TINY_RECIPE,
        device="cpu",
        workers=0,
        plots=False,
        val=False,
        project=str(tmp_path / "runs"),
        name="api",
        exist_ok=True,
        verbose=False,
    )
    weights = tmp_path / "runs" / "api" / "weights" / "last.pt"
    trained = YOLO(str(weights))
    assert trained.ckpt["train_args"]["imgsz"] == 64
    assert genome_from_yaml(arch).id == genome.id
    image = next((coco8.parent / "coco8" / "images" / "val").glob("*.jpg"))
    results = trained.predict(str(image), imgsz=64, device="cpu", verbose=False)
    assert len(results) == 1 and results[0].boxes is not None
