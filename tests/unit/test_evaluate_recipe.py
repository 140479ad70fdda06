"""Recipe, seeded subsets, derived data YAML, the JSON record and results.csv parsing (fast, real files)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from detnas.evaluate import Evaluation, InputError, Recipe, prepare_data, select_subset
from detnas.evaluate.data import find_coco_annotations, label_path, load_data_yaml
from detnas.evaluate.record import Cost, EpochLosses, LatencyRecord, Metrics
from detnas.evaluate.training import first_non_finite, read_epoch_losses


def test_recipe_rejects_bad_values():
    with pytest.raises(InputError, match="epochs"):
        Recipe(epochs=0)
    with pytest.raises(InputError, match="subset"):
        Recipe(subset=1.5)
    with pytest.raises(InputError, match="subset"):
        Recipe(subset=True)
    with pytest.raises(InputError, match="unknown field"):
        Recipe.from_dict({"epochs": 1, "epoch": 2})
    assert Recipe.from_dict(Recipe(subset=0.5, seed=3).to_dict()) == Recipe(subset=0.5, seed=3)


def test_subset_is_seeded_random_not_a_prefix(datasets: Path):
    spec = load_data_yaml(datasets / "coco_combo.yaml")
    images = spec.train_images
    assert len(images) == 208
    a = select_subset(images, Recipe(subset=50, seed=1))
    b = select_subset(list(reversed(images)), Recipe(subset=50, seed=1))  # input order does not matter
    c = select_subset(images, Recipe(subset=50, seed=2))
    assert a == b and len(a) == 50 and len(set(a)) == 50
    assert a != c
    assert a != sorted(images)[:50]  # not Ultralytics' alphabetical 'fraction' prefix
    assert {p.parent.parent.parent.name for p in a} == {"coco128", "coco_mini"}  # drawn from both sources
    assert len(select_subset(images, Recipe(subset=0.25, seed=1))) == 52
    assert select_subset(images, Recipe(subset=10_000)) == sorted(images)


def test_prepare_data_writes_a_yaml_ultralytics_accepts(datasets: Path, tmp_path: Path):
    from ultralytics.data.utils import check_det_dataset

    prepared = prepare_data(datasets / "coco_mini.yaml", Recipe(subset=20, seed=5), tmp_path / "data")
    again = prepare_data(datasets / "coco_mini.yaml", Recipe(subset=20, seed=5), tmp_path / "again")
    assert prepared.subset_sha256 == again.subset_sha256
    lines = (tmp_path / "data" / "train.txt").read_text().split()
    assert len(lines) == 20 and all(Path(p).is_absolute() and Path(p).is_file() for p in lines)
    assert all(label_path(Path(p)).is_file() for p in lines)
    derived = yaml.safe_load(prepared.data_yaml.read_text())
    assert derived["nc"] == 80 and len(derived["names"]) == 80
    checked = check_det_dataset(str(prepared.data_yaml))  # Ultralytics' own loader resolves it
    assert Path(checked["train"]) == tmp_path / "data" / "train.txt"
    assert [p.name for p in prepared.coco_annotations] == ["instances_val2017.json"]


def test_coco_json_found_only_when_it_covers_every_val_image(datasets: Path):
    mini = load_data_yaml(datasets / "coco_mini.yaml")
    assert find_coco_annotations(mini.val_images)
    assert find_coco_annotations(load_data_yaml(datasets / "coco8.yaml").val_images) == []
    # coco_proxy's val mixes coco_mini/coco_tiny (JSON) with coco_person_val (no JSON): fall back to Ultralytics.
    assert find_coco_annotations(load_data_yaml(datasets / "coco_proxy.yaml").val_images) == []


def test_results_csv_losses_and_nan_detection(tmp_path: Path):
    csv = tmp_path / "results.csv"
    csv.write_text(
        "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,lr/pg0\n"
        "1,0.5,5.2,4.6,3.1,0.001\n"
        "2,1.0,nan,4.1,inf,0.001\n"
    )
    epochs = read_epoch_losses(csv)
    assert [e.epoch for e in epochs] == [1, 2]
    assert (epochs[0].box, epochs[0].cls, epochs[0].dfl, epochs[0].elapsed_s) == (5.2, 4.6, 3.1, 0.5)
    assert first_non_finite(epochs) is epochs[1]
    assert math.isnan(epochs[1].box)
    assert read_epoch_losses(tmp_path / "missing.csv") == []


def test_evaluation_json_round_trip(tmp_path: Path):
    evaluation = Evaluation(
        status="ok",
        arch_yaml="a.yaml",
        arch_sha256="ab" * 32,
        data="d.yaml",
        recipe=Recipe(subset=8),
        metrics=Metrics(0.1, 0.2, "pycocotools", 0.11, 0.21, precision=float("nan")),
        cost=Cost(params=10, gflops=0.5, imgsz=64),
        latency=LatencyRecord("torch", "cpu", "CPU", 64, 1, 2, 5, 1.0, 1.1, 0.1, 0.9, 1.3, 0.2, 0.8, 1.5),
        epochs=[EpochLosses(epoch=1, box=1.0, cls=2.0, dfl=3.0)],
        phase_seconds={"build": 1.0},
    )
    path = tmp_path / "e.json"
    evaluation.to_json(path)
    loaded = Evaluation.from_json(path)
    assert loaded.metrics.precision is None  # NaN is written as null: the file is strict JSON
    loaded.metrics.precision = evaluation.metrics.precision = None
    assert loaded == evaluation
    assert Evaluation.from_json(evaluation.to_json()) == evaluation
