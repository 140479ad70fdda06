"""Genome dataclasses: JSON round trip, stable ids, and validation that names the gene."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detnas.architecture import genome_from_yaml, to_yaml, write_yaml
from detnas.backbone_space import BackboneGenome, StageGene
from detnas.blocks import BlockGene
from detnas.designs import named_design, yolo11n, yolov8n
from detnas.genome import ArchGenome
from detnas.neck_space import NeckGenome
from detnas.space import SearchSpace

SPACE = SearchSpace()


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_json_round_trip_and_id(seed: int) -> None:
    genome = SPACE.sample(random.Random(seed))
    again = ArchGenome.from_json(genome.to_json())
    assert again == genome
    assert again.id == genome.id
    assert ArchGenome.from_json(genome.to_json(indent=2)) == genome  # pretty JSON reads back the same
    assert len(genome.id) == 12 and int(genome.id, 16) >= 0


def test_ids_are_stable_across_processes_and_versions() -> None:
    # Pinned: an id that drifts would orphan every stored search result and latency cache entry.
    assert yolo11n().id == "ab91681c8a48"
    assert yolov8n().id != yolo11n().id
    assert yolo11n(nc=1).id != yolo11n().id  # the class count is part of the model


def test_yaml_header_carries_the_genome(tmp_path) -> None:
    genome = SPACE.sample(random.Random(7))
    path = write_yaml(genome, tmp_path / "a.yaml")
    text = path.read_text()
    assert text.startswith(f"# detnas architecture {genome.id}\n")
    assert "\nscales:" not in text and "depth_multiple" not in text
    assert genome_from_yaml(path) == genome
    assert to_yaml(genome) == text  # pure: same genome, same text


def test_genome_from_foreign_yaml_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "foreign.yaml"
    path.write_text("nc: 80\nbackbone: []\nhead: []\n")
    with pytest.raises(ValueError, match="not written by detnas"):
        genome_from_yaml(path)


def _block(**kw) -> BlockGene:
    return BlockGene(**{"type": "C2f", "repeats": 1, "channels": 64, **kw})


@pytest.mark.parametrize(
    ("mutate", "gene"),
    [
        (lambda d: d["backbone"].update(stem_channels=20), "backbone.stem_channels"),
        (lambda d: d["backbone"]["stages"][1].update(down="MaxPool"), "backbone.stages[1].down"),
        (lambda d: d["backbone"]["stages"][0].update(down_kernel=7), "backbone.stages[0].down_kernel"),
        (lambda d: d["backbone"]["stages"][2]["block"].update(type="Bottleneck"), "backbone.stages[2].block.type"),
        (lambda d: d["backbone"]["stages"][3]["block"].update(channels=100), "backbone.stages[3].block.channels"),
        (lambda d: d["backbone"]["stages"][0]["block"].update(repeats=0), "backbone.stages[0].block.repeats"),
        (lambda d: d["backbone"]["stages"][0]["block"].update(expansion=0.3), "backbone.stages[0].block.expansion"),
        (lambda d: d["backbone"].update(sppf_kernel=9), "backbone.sppf_kernel"),
        (lambda d: d["neck"].update(topology="nasfpn"), "neck.topology"),
        (lambda d: d["neck"].update(min_level=4), "neck.min_level"),
        (lambda d: d["neck"]["nodes"][0].update(shortcut="yes"), "neck.nodes[0](td4).shortcut"),
        (lambda d: d["neck"]["nodes"].pop(), "neck.nodes"),
        (lambda d: d["head"].update(nc=0), "head.nc"),
        (lambda d: d["backbone"]["stages"][0]["block"].update(colour="red"), "backbone.stages[0].block.colour"),
    ],
)
def test_wrong_gene_value_names_the_gene(mutate, gene: str) -> None:
    data = yolov8n().to_dict()
    mutate(data)
    with pytest.raises(ValueError) as info:
        ArchGenome.from_dict(data)
    message = str(info.value)
    assert gene in message, message
    assert "\n" not in message


def test_wrong_value_lists_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"choose one of \[8, 16, 24, 32, 48, 64\]"):
        BackboneGenome(
            stem_channels=17,
            stages=tuple(StageGene("Conv", 3, c, _block(channels=c)) for c in (32, 64, 128, 256)),
        )


def test_irrelevant_options_must_keep_their_defaults() -> None:
    # One architecture, one genome: c3k only means something for C3k2, large_kernel only for C2fCIB.
    with pytest.raises(ValueError, match="c3k"):
        _block(c3k=True).validate("x", 3)
    _block(type="C3k2", c3k=True).validate("x", 3)
    with pytest.raises(ValueError, match="neck.down"):
        NeckGenome("fpn", 3, (_block(channels=128), _block(channels=64)), down="ADown")


def test_bool_is_not_an_int_gene() -> None:
    with pytest.raises(ValueError, match="repeats"):
        _block(repeats=True).validate("b", 3)


def test_unknown_design_lists_names() -> None:
    with pytest.raises(ValueError, match="yolo11n"):
        named_design("yolo99z")


def test_version_mismatch_is_named() -> None:
    data = yolo11n().to_dict()
    data["version"] = 99
    with pytest.raises(ValueError, match="version"):
        ArchGenome.from_dict(data)
    assert json.loads(yolo11n().to_json())["version"] == 1
