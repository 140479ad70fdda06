"""Every sampled YAML builds with stock ``ultralytics.YOLO`` and runs; named designs match stock param counts."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from detnas.architecture import build_model, write_yaml
from detnas.cost import genome_cost
from detnas.designs import yolo11n, yolov8n
from detnas.space import SearchSpace

pytestmark = pytest.mark.slow

SPACE = SearchSpace()
SEEDS = range(10)
PER_SEED = 30  # 10 x 30 = 300 genomes


def _anchors(imgsz: int, strides: list[int]) -> int:
    return sum((imgsz // s) ** 2 for s in strides)


@pytest.mark.parametrize("seed", SEEDS)
def test_sampled_yamls_build_with_stock_ultralytics_and_run(seed: int, tmp_path: Path) -> None:
    from ultralytics import YOLO

    rng = random.Random(seed)
    for i in range(PER_SEED):
        genome = SPACE.sample(rng)
        path = write_yaml(genome, tmp_path / f"{genome.id}.yaml")
        model = YOLO(str(path)).model.eval()
        strides = [4, 8, 16, 32] if genome.neck.min_level == 2 else [8, 16, 32]
        assert model.stride.tolist() == strides, (genome.id, model.stride)
        assert model.model[-1].nc == 80
        with torch.no_grad():
            for imgsz in (64, 320):
                preds = model(torch.zeros(1, 3, imgsz, imgsz))
                preds = preds[0] if isinstance(preds, (tuple, list)) else preds
                assert preds.shape == (1, 4 + 80, _anchors(imgsz, strides)), (genome.id, imgsz, preds.shape)
                assert torch.isfinite(preds).all()
        # Operators on the same genomes: children are valid (construction validates) and new, and they build.
        child = SPACE.mutate(genome, rng)
        cross = SPACE.crossover(genome, SPACE.sample(rng), rng)
        assert child.id != genome.id and cross.id != genome.id
        if i % 10 == 0:
            for other in (child, cross):
                assert build_model(other).stride.tolist() in ([8.0, 16.0, 32.0], [4.0, 8.0, 16.0, 32.0])


@pytest.mark.parametrize(("design", "stock"), [(yolo11n, "yolo11n.yaml"), (yolov8n, "yolov8n.yaml")])
def test_named_design_reproduces_stock_parameter_count(design, stock: str, tmp_path: Path) -> None:
    from ultralytics import YOLO

    expected = sum(p.numel() for p in YOLO(stock).model.parameters())
    path = write_yaml(design(), tmp_path / "design.yaml")
    got = sum(p.numel() for p in YOLO(str(path)).model.parameters())
    assert got == expected
    assert genome_cost(design(), imgsz=640).params == expected


def test_cost_scales_with_image_size() -> None:
    small = genome_cost(yolo11n(), imgsz=320)
    large = genome_cost(yolo11n(), imgsz=640)
    assert small.params == large.params == 2_624_080
    assert large.gflops == pytest.approx(4 * small.gflops, rel=0.02)
    assert 6.0 < large.gflops < 7.0  # Ultralytics reports 6.6 GFLOPs for yolo11n at 640
