"""Search operators on genomes alone (no model build): seeded sampling, mutation, crossover, space size."""

from __future__ import annotations

import random

import pytest

from detnas.designs import yolo11n, yolov8n
from detnas.space import SearchSpace

SPACE = SearchSpace()
# Seed 0 of the operator checks runs in the fast gate; the other four only in the full suite (~4 s each on 2 cores).
SEEDS = [0, *(pytest.param(seed, marks=pytest.mark.slow) for seed in range(1, 5))]


def test_sampling_is_seeded() -> None:
    a = [SPACE.sample(random.Random(3)).id for _ in range(3)]
    assert len(set(a)) == 1
    rng = random.Random(3)
    draws = [SPACE.sample(rng).id for _ in range(50)]
    assert len(set(draws)) == 50  # a space of ~1e40 should not repeat in 50 draws


@pytest.mark.parametrize("seed", SEEDS)
def test_mutation_changes_exactly_one_relevant_gene(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        parent = SPACE.sample(rng)
        child = SPACE.mutate(parent, rng)
        assert child.id != parent.id
        # Genes at their default (stem_kernel 3, lateral off) are left out of to_dict: read them as None on both sides.
        changed = [path for path, _ in SPACE.genes(parent) if _get_or_none(parent, path) != _get_or_none(child, path)]
        # One gene changes; a topology or level change also resizes the node list, a type change resets options.
        assert len(changed) >= 1
        leaf_changes = _leaf_diff(parent.to_dict(), child.to_dict())
        assert leaf_changes, "mutation returned an equal genome"
        if not any(p[:2] in (("neck", "topology"), ("neck", "min_level")) for p in leaf_changes):
            primary = [
                p
                for p in leaf_changes
                if p[-1] not in ("c3k", "large_kernel", "down_kernel", "sppf_kernel", "c2psa_repeats")
            ]
            assert len(primary) <= 1, leaf_changes


@pytest.mark.parametrize("seed", SEEDS)
def test_crossover_child_is_valid_and_new(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(200):
        a, b = SPACE.sample(rng), SPACE.sample(rng)
        child = SPACE.crossover(a, b, rng)
        assert child.id not in (a.id, b.id)
        # Every gene of the child comes from one of its parents (unit and gene mixing only).
        for path, value in _leaves(child.to_dict()):
            if path[0] == "neck" and child.neck.names not in (a.neck.names, b.neck.names):
                continue
            assert value in (_get_or_none(a, path), _get_or_none(b, path), False, 1, 5, "Conv", 3), path


def test_crossover_of_near_identical_parents_still_differs() -> None:
    rng = random.Random(1)
    a = yolo11n()
    b = SPACE.mutate(a, rng)  # differs in a single gene: no child unlike both exists by mixing
    child = SPACE.crossover(a, b, rng)
    assert child.id not in (a.id, b.id)
    assert SPACE.crossover(a, a, rng).id != a.id


def test_named_designs_are_points_of_the_space() -> None:
    for genome in (yolo11n(), yolov8n()):
        assert SPACE.genes(genome)  # every gene has choices to mutate to
        assert SPACE.mutate(genome, random.Random(0)).id != genome.id


@pytest.mark.slow
def test_space_size_counts_valid_genomes_exactly() -> None:
    tiny = SearchSpace(
        stem_channels=(16,),
        stem_kernels=(3, 6),
        down_ops=("Conv", "ADown"),
        block_types=("C2f", "C3k2"),
        repeats=(1,),
        expansions=(0.5,),
        level_channels={2: (16,), 3: (32,), 4: (64,), 5: (128,)},
        sppf_kernels=(5,),
        c2psa_repeats=(1,),
        topologies=("fpn", "pan"),
        min_levels=(3,),
        laterals=(False, True),
    )
    # Enumerate the tiny space by exhaustive random draws and compare with the closed form.
    rng = random.Random(0)
    seen = {tiny.sample(rng).id for _ in range(60000)}
    block = 2 + 4  # C2f: shortcut x2; C3k2: shortcut x2 x c3k x2
    stage = 3 * block  # Conv k3/k5 + ADown
    backbone = 2 * stage**4 * 2 * 2  # stem kernel 3/6, sppf off/on(k5), c2psa off/on(n1)
    neck = (block**2 + 2 * block**4) * 2  # fpn: 2 nodes; pan: 4 nodes x (Conv|ADown); lateral off/on
    assert tiny.size() == backbone * neck
    assert len(seen) <= tiny.size()
    assert SPACE.size() > 10**39


def test_narrowed_space_rejects_values_outside_catalog() -> None:
    with pytest.raises(ValueError, match="block_types"):
        SearchSpace(block_types=("C2f", "Transformer"))


def _leaves(data, path=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _leaves(v, (*path, i))
    else:
        yield path, data


def _leaf_diff(a: dict, b: dict) -> list[tuple]:
    la, lb = dict(_leaves(a)), dict(_leaves(b))
    return [p for p in la.keys() | lb.keys() if la.get(p) != lb.get(p)]


def _get(data, path):
    for key in path:
        data = data[key]
    return data


def _get_or_none(genome, path):
    try:
        return _get(genome.to_dict(), path)
    except (KeyError, IndexError):
        return None
