"""Input size as a gene: ids of size-less genomes stay as they were, sized genomes round-trip through JSON and YAML,
the space's operators move sizes within the allowed set, and the evaluator trains, scores and times at the size."""

from __future__ import annotations

import random

import pytest
import yaml

from detnas.architecture import genome_from_yaml, to_yaml, write_yaml
from detnas.cli.common import parse_sizes
from detnas.designs import thinned, yolo11n, yolov8n
from detnas.genome import ArchGenome
from detnas.space import anchored_space

SIZES = tuple(range(320, 641, 32))


def test_ids_without_a_size_are_unchanged_and_sizes_make_new_ids():
    g = yolo11n()
    assert g.id == "ab91681c8a48"  # the id every earlier store holds for YOLO11n
    assert "imgsz" not in g.to_dict()
    sized = g.with_imgsz(512)
    assert sized.id != g.id and sized.architecture.id == g.id
    assert ArchGenome.from_json(sized.to_json()) == sized


@pytest.mark.parametrize("bad", [300, 672, 512.0, True, "512"])
def test_bad_size_names_the_gene(bad):
    with pytest.raises(ValueError, match="gene imgsz"):
        yolo11n().with_imgsz(bad)


@pytest.mark.slow
def test_yaml_states_the_size_and_stock_ultralytics_loads_it(tmp_path):
    from ultralytics import YOLO

    g = yolov8n().with_imgsz(416)
    path = write_yaml(g, tmp_path / "a.yaml")
    assert yaml.safe_load(path.read_text())["imgsz"] == 416
    assert genome_from_yaml(path) == g
    model = YOLO(str(path))
    assert sum(p.numel() for p in model.model.parameters()) == 3_157_200
    assert "imgsz" not in to_yaml(yolov8n())


def test_space_operators_keep_sizes_in_the_set_and_move_them():
    space = anchored_space(imgsizes=SIZES)
    rng = random.Random(0)
    seed = space.place(yolo11n())
    assert seed.imgsz == 640  # a seed stands where users run it
    sampled = [space.sample(rng) for _ in range(30)]
    mutated = [space.mutate(seed, rng) for _ in range(200)]
    crossed = [space.crossover(a, b, rng) for a, b in zip(sampled, sampled[1:], strict=False)]
    for g in sampled + mutated + crossed:
        assert g.imgsz in SIZES
    assert len({g.imgsz for g in sampled}) > 3
    size_moves = [g for g in mutated if g.imgsz != 640]
    assert size_moves and all(g.architecture.id == seed.architecture.id for g in size_moves)
    assert space.size() == anchored_space().size() * len(SIZES)


def test_parse_sizes():
    assert parse_sizes("320-416") == (320, 352, 384, 416)
    assert parse_sizes("640,320") == (640, 320)
    assert parse_sizes("none") == ()
    for bad in ("300-640", "abc", "320,500"):
        with pytest.raises(Exception, match="sizes|size list"):
            parse_sizes(bad)


@pytest.mark.slow
def test_thinned_yolo11n_is_ultralytics_width_scaling():
    """At width 0.5, the thinned genome is exactly yolo11.yaml at width multiple 0.125 (n is 0.25)."""
    from ultralytics.nn.tasks import DetectionModel

    from detnas.cost import genome_cost

    stock = DetectionModel({**_yolo11_yaml(), "scales": {"n": [0.5, 0.125, 1024]}, "scale": "n"}, verbose=False)
    half = thinned(yolo11n(), width=0.5)
    assert genome_cost(half).params == sum(p.numel() for p in stock.parameters())
    three_quarters = thinned(yolo11n(), width=0.75)
    assert three_quarters.backbone.stages[3].block.channels == 192
    assert genome_cost(three_quarters).params < genome_cost(yolo11n()).params


def _yolo11_yaml() -> dict:
    from ultralytics.utils import ROOT

    return yaml.safe_load((ROOT / "cfg" / "models" / "11" / "yolo11.yaml").read_text())


@pytest.mark.slow
def test_a_sized_design_predicts_at_its_size_by_default(tmp_path):
    from detnas.deploy.predict import predict
    from detnas.inherit.candidate import inherit, save_checkpoint
    from detnas.inherit.checkpoint import load_parent
    from detnas.models import load_model
    from tests.helpers import shared_checkpoint

    parent = load_parent(shared_checkpoint("yolo11n.pt"))
    model, _ = inherit(parent.genome.with_imgsz(352), [parent], nc=80, names=parent.model.names)
    weights = save_checkpoint(model, tmp_path / "design.pt")
    assert load_model(weights).design_imgsz == 352
    from ultralytics.utils import ASSETS

    result = predict(weights, [ASSETS / "bus.jpg"], out=tmp_path / "pred")
    assert result.imgsz == 352
    assert sum(d.class_name == "person" for d in result.detections) >= 3
