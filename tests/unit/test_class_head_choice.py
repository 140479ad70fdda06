"""When the class head starts fresh and is probed: the data's classes against the parent's, and the recipe's say."""

from __future__ import annotations

import pytest

from detnas.evaluate.recipe import Recipe
from detnas.inherit.candidate import same_classes

COCO = {0: "person", 1: "bicycle", 2: "car"}


def test_same_classes_needs_the_count_and_the_names() -> None:
    assert same_classes(COCO, 3, None)  # a class count alone: nothing says the classes differ
    assert same_classes(COCO, 3, {0: "Person", 1: " bicycle", 2: "car"})  # case and spaces aside
    assert not same_classes(COCO, 2, None)
    assert not same_classes(COCO, 3, {0: "chair", 1: "table", 2: "cup"})  # same count, other classes
    assert not same_classes(COCO, 3, {0: "bicycle", 1: "person", 2: "car"})  # same names, other order


@pytest.mark.parametrize(
    ("mode", "reset", "probes"),
    [("auto", True, True), ("auto", False, False), ("on", False, True), ("off", True, False)],
)
def test_recipe_decides_the_probe(mode: str, reset: bool, probes: bool) -> None:
    assert Recipe(head_probe=mode).probes_head(reset) is probes


def test_recipe_refuses_a_bad_probe_setting() -> None:
    with pytest.raises(ValueError, match="head_probe"):
        Recipe(head_probe="maybe")
    with pytest.raises(ValueError, match="probe_epochs"):
        Recipe(probe_epochs=0)
