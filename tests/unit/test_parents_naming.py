"""Parent checkpoints travel under one name, ``parents``, from the search's Evaluator through evaluate_candidate into
the worker's request; ``parent_weights`` is still accepted as the old name, never together with the new one."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from detnas.evaluate import Recipe, evaluate_candidate
from detnas.evaluate.candidate import _parent_paths
from detnas.search.executor import Evaluator


def test_evaluator_field_is_parents_and_the_old_name_fills_it() -> None:
    assert "parents" in {f.name for f in dataclasses.fields(Evaluator)}
    assert "parent_weights" not in {f.name for f in dataclasses.fields(Evaluator)}
    new = Evaluator(data=Path("d.yaml"), recipe=Recipe(), parents=(Path("a.pt"),))
    old = Evaluator(data=Path("d.yaml"), recipe=Recipe(), parent_weights=(Path("a.pt"),))
    assert old == new and old.parents == (Path("a.pt"),)
    assert pickle.loads(pickle.dumps(new)) == new  # executors ship it to other processes
    assert dataclasses.replace(new, proxy="tse").parents == new.parents
    with pytest.raises(TypeError, match="pass parents= only"):
        Evaluator(data=Path("d.yaml"), recipe=Recipe(), parents=(Path("a.pt"),), parent_weights=(Path("b.pt"),))


def test_evaluate_candidate_refuses_both_names(tmp_path: Path) -> None:
    arch = tmp_path / "a.yaml"
    arch.write_text("nc: 80\nbackbone: []\nhead: []\n")
    with pytest.raises(TypeError, match="pass parents= only"):
        evaluate_candidate(
            arch, tmp_path / "d.yaml", Recipe(), workdir=tmp_path / "ev", parents="a", parent_weights="b"
        )
    assert not (tmp_path / "ev").exists()


def test_each_parent_is_handed_to_the_worker_once(tmp_path: Path) -> None:
    """The worker loads every checkpoint it is handed: a parent named twice would be read twice per candidate."""
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    assert _parent_paths([a, b, a, tmp_path / "x" / ".." / "b.pt"]) == (a, b)
    assert _parent_paths(str(a)) == (a,) and _parent_paths(None) == ()
