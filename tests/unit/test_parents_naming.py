"""Parent checkpoints travel under one name, ``parents``, from the search's Evaluator through evaluate_candidate into
the worker's request."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from detnas.evaluate import Recipe
from detnas.evaluate.candidate import _parent_paths
from detnas.search.executor import Evaluator


def test_evaluator_field_is_parents() -> None:
    assert "parents" in {f.name for f in dataclasses.fields(Evaluator)}
    new = Evaluator(data=Path("d.yaml"), recipe=Recipe(), parents=(Path("a.pt"),))
    assert pickle.loads(pickle.dumps(new)) == new  # executors ship it to other processes
    assert dataclasses.replace(new, proxy="tse").parents == new.parents
    with pytest.raises(TypeError):
        Evaluator(data=Path("d.yaml"), recipe=Recipe(), parent_weights=(Path("b.pt"),))  # type: ignore[call-arg]


def test_each_parent_is_handed_to_the_worker_once(tmp_path: Path) -> None:
    """The worker loads every checkpoint it is handed: a parent named twice would be read twice per candidate."""
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    assert _parent_paths([a, b, a, tmp_path / "x" / ".." / "b.pt"]) == (a, b)
    assert _parent_paths(str(a)) == (a,) and _parent_paths(None) == ()
