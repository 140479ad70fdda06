"""Distillation's loss and settings: the divergence is the teacher's own entropy when the child agrees, grows with
disagreement in either term, and gradient steps on it move the child's outputs to the teacher's; bad settings fail
with one line; the recipe says when a candidate is distilled."""

from __future__ import annotations

import pytest
import torch

from detnas.errors import InputError
from detnas.evaluate.distill import DistillSettings
from detnas.evaluate.recipe import Recipe
from detnas.inherit.divergence import DivergenceWeights, box_divergence, class_divergence, distillation_loss

REG_MAX = 16


def _head(seed: int, *, nc: int = 5, anchors: int = 40) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "boxes": torch.randn(2, 4 * REG_MAX, anchors, generator=g) * 2,
        "scores": torch.randn(2, nc, anchors, generator=g) * 3 - 2,
    }


def test_agreement_reads_the_teachers_entropy_and_disagreement_more() -> None:
    teacher = _head(0)
    same = {k: v.clone() for k, v in teacher.items()}
    floor = float(class_divergence(teacher, teacher))
    assert float(class_divergence(same, teacher)) == pytest.approx(floor)
    weights = DivergenceWeights()
    assert float(box_divergence(same, teacher, reg_max=REG_MAX, weights=weights)) == pytest.approx(0, abs=1e-6)
    other = _head(1)
    assert float(class_divergence(other, teacher)) > floor + 0.5
    assert float(box_divergence(other, teacher, reg_max=REG_MAX, weights=weights)) > 0.5


def test_class_term_is_skipped_for_other_classes() -> None:
    teacher, student = _head(0), _head(1)
    both = float(distillation_loss(student, teacher, reg_max=REG_MAX))
    boxes = float(distillation_loss(student, teacher, reg_max=REG_MAX, classes=False))
    assert boxes == pytest.approx(both - float(class_divergence(student, teacher)), rel=1e-5)


def test_gradient_steps_move_the_child_to_the_teacher() -> None:
    teacher = _head(0)
    student = {k: v.clone().requires_grad_(True) for k, v in _head(1).items()}
    optimiser = torch.optim.Adam(student.values(), lr=0.1)
    start = float(distillation_loss(student, teacher, reg_max=REG_MAX))
    for _ in range(500):
        optimiser.zero_grad()
        distillation_loss(student, teacher, reg_max=REG_MAX).backward()
        optimiser.step()
    probs = student["scores"].sigmoid()
    assert float((probs - teacher["scores"].sigmoid()).abs().max()) < 0.05
    floor = float(class_divergence(teacher, teacher))
    assert float(distillation_loss(student, teacher, reg_max=REG_MAX)) < floor + 0.02 * (start - floor)


@pytest.mark.parametrize(
    "bad",
    [{"steps": 0}, {"epochs": 0}, {"batch": 0}, {"lr": -1.0}, {"cls_weight": -1.0}, {"cpu_limit_s": 0}],
)
def test_bad_settings_are_one_line(bad) -> None:
    with pytest.raises(ValueError, match="^distillation: ") as error:
        DistillSettings(**bad)
    assert "\n" not in str(error.value)


def test_recipe_says_when_a_candidate_is_distilled() -> None:
    assert not Recipe().distills(sliced=True, head_reset=False)  # off by default
    auto = Recipe(distill="auto")
    assert auto.distills(sliced=True, head_reset=False)
    assert not auto.distills(sliced=False, head_reset=False)  # an intact copy is its parent already
    assert not auto.distills(sliced=True, head_reset=True)  # other classes: the probe teaches the head
    assert Recipe(distill="on").distills(sliced=False, head_reset=True)
    with pytest.raises(InputError, match="distill must be one of"):
        Recipe(distill="yes")
    with pytest.raises(InputError, match="distill_epochs"):
        Recipe(distill_epochs=0)
