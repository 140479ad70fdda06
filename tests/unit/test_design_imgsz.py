"""One input-size rule for a design, shared by the ``imgsz`` gene and by the evaluator reading ``imgsz:`` from a
design's YAML: 320 to 640 px in steps of 32, refused everywhere with the same message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detnas.designs import yolo11n
from detnas.errors import InputError
from detnas.evaluate import evaluate_candidate
from detnas.evaluate.recipe import Recipe
from detnas.genome import IMGSZ_CHOICES, check_design_imgsz

RULE = r"imgsz=\S+ is not allowed: choose one of \[320, 352, .*, 640\] \(320 to 640, step 32\)$"


def test_design_sizes_are_320_to_640_in_steps_of_32() -> None:
    assert list(IMGSZ_CHOICES) == list(range(320, 641, 32))
    for size in (320, 352, 416, 512, 640):
        assert check_design_imgsz(size) == size


@pytest.mark.parametrize("bad", [300, 336, 704, 672, 64, 512.0, True, "512"])
def test_one_rule_refuses_the_same_sizes_with_one_message(bad: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=RULE) as rule:
        check_design_imgsz(bad)
    with pytest.raises(ValueError) as gene:
        yolo11n().with_imgsz(bad)
    assert str(gene.value) == f"gene {rule.value}"
    arch = tmp_path / "design.yaml"  # hand-written YAML: the evaluator reads its imgsz under the same rule
    arch.write_text(f"nc: 80\nimgsz: {json.dumps(bad)}\nbackbone: []\nhead: []\n")
    with pytest.raises(InputError) as evaluator:
        evaluate_candidate(arch, tmp_path / "no_data.yaml", Recipe(), workdir=tmp_path / "ev")
    assert str(evaluator.value) == f"architecture YAML {arch}: {rule.value}"
    assert not (tmp_path / "ev").exists()  # refused before any work
