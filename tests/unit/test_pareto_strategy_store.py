"""Pareto ranking, strategies and the SQLite store, without training."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from detnas.designs import yolo11n, yolov8n
from detnas.search.pareto import crowding_distances, dominates, hypervolume, non_dominated_ranks, pareto_front
from detnas.search.store import Store
from detnas.search.strategies import AgingEvolution, RandomSearch, StrategySettings, Trial
from detnas.space import SearchSpace

SPACE = SearchSpace()


def test_dominance_and_ranks() -> None:
    points = [(0.5, 10.0), (0.4, 5.0), (0.3, 12.0), (0.5, 11.0), (0.2, 4.0)]
    assert dominates(points[0], points[2]) and dominates(points[0], points[3])
    assert not dominates(points[0], points[1]) and not dominates(points[1], points[0])
    assert non_dominated_ranks(points) == [0, 0, 2, 1, 0]
    assert pareto_front(points) == [4, 1, 0]  # by increasing latency


def test_crowding_prefers_extremes() -> None:
    points = [(0.1, 1.0), (0.2, 2.0), (0.21, 2.1), (0.3, 3.0)]
    ranks = non_dominated_ranks(points)
    assert ranks == [0, 0, 0, 0]
    crowd = crowding_distances(points, ranks)
    assert crowd[0] == crowd[3] == float("inf")
    assert crowd[1] < float("inf") and crowd[2] < float("inf")


def test_hypervolume_by_hand() -> None:
    # Reference (0, 10): (0.5, 4) covers 0.5 x 6 = 3; (0.8, 8) adds (0.8 - 0.5) x 2 = 0.6.
    assert hypervolume([(0.5, 4.0), (0.8, 8.0)], (0.0, 10.0)) == pytest.approx(3.6)
    assert hypervolume([(0.5, 4.0), (0.4, 6.0)], (0.0, 10.0)) == pytest.approx(3.0)  # dominated point adds nothing
    assert hypervolume([(0.5, 12.0)], (0.0, 10.0)) == 0.0


def _done(genome, m: float, lat: float) -> Trial:
    return Trial(genome, "done", m, lat)


def test_evolution_seeds_then_samples_then_evolves() -> None:
    rng = random.Random(0)
    strategy = AgingEvolution(SPACE, population_size=4, tournament_size=2, seeds=(yolo11n(), yolov8n()))
    first = strategy.propose([], rng)
    assert first.origin == "seed" and first.genome.id == yolo11n().id
    history = [_done(yolo11n(), 0.3, 10.0)]
    assert strategy.propose(history, rng).genome.id == yolov8n().id
    history.append(_done(yolov8n(), 0.25, 12.0))
    proposal = strategy.propose(history, rng)
    assert proposal.origin == "sample"  # population not yet full
    history += [_done(SPACE.sample(rng), 0.1 * i, 5.0 + i) for i in range(2)]
    origins = set()
    population_ids = {t.genome.id for t in history}
    for _ in range(30):
        proposal = strategy.propose(history, rng)
        origins.add(proposal.origin)
        assert proposal.genome.id not in population_ids  # never a duplicate
        assert set(proposal.parents) <= population_ids
        assert proposal.origin in ("mutation", "crossover")
    assert origins == {"mutation", "crossover"}


def test_evolution_tournament_prefers_the_front() -> None:
    rng = random.Random(1)
    genomes = [SPACE.sample(rng) for _ in range(6)]
    best = genomes[0]
    history = [_done(best, 0.9, 1.0)] + [_done(g, 0.1, 50.0 + i) for i, g in enumerate(genomes[1:])]
    strategy = AgingEvolution(SPACE, population_size=6, tournament_size=6, crossover_probability=0.0)
    parents = [strategy.propose(history, rng).parents[0] for _ in range(20)]
    assert set(parents) == {best.id}  # a full tournament always picks the dominating design


def test_evolution_population_ages() -> None:
    rng = random.Random(2)
    old, *young = [SPACE.sample(rng) for _ in range(4)]
    # The oldest finished candidate dominates all, but a population of 3 holds only the 3 newest.
    history = [_done(old, 0.99, 0.1)] + [_done(g, 0.1 * (i + 1), 10.0 - i) for i, g in enumerate(young)]
    strategy = AgingEvolution(SPACE, population_size=3, tournament_size=3, crossover_probability=0.0)
    for _ in range(10):
        assert old.id not in strategy.propose(history, rng).parents


def test_random_search_never_repeats() -> None:
    rng = random.Random(3)
    strategy = RandomSearch(SPACE, seeds=(yolo11n(),))
    history: list[Trial] = []
    for _ in range(20):
        proposal = strategy.propose(history, rng)
        assert proposal.genome.id not in {t.genome.id for t in history}
        history.append(_done(proposal.genome, 0.1, 1.0))
    assert history[0].genome.id == yolo11n().id


def test_store_round_trip_and_requeue(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    g = yolo11n()
    store.add_candidate(
        genome_id=g.id, genome_json=g.to_json(), yaml="x", origin="seed:yolo11n", parents=(), state={"rng": [1, 2]}
    )
    assert store.strategy_state("rng") == [1, 2]
    store.mark_running(g.id)
    assert store.requeue_interrupted() == [g.id]
    assert store.get(g.id).status == "pending"
    store.mark_running(g.id)
    store.finish(g.id, status="done", evaluation={"a": 1}, map=0.5, map50=0.7, latency_ms=3.0)
    c = store.get(g.id)
    assert (c.status, c.attempts, c.map, c.finish_order, c.evaluation) == ("done", 2, 0.5, 1, {"a": 1})
    assert store.counts()["done"] == 1
    mode = sqlite3.connect(tmp_path / "s.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()
    assert Store(tmp_path / "s.sqlite").get(g.id).map == 0.5  # persisted


def test_store_refuses_duplicates_and_rolls_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    g = yolov8n()
    kwargs = dict(genome_id=g.id, genome_json=g.to_json(), yaml="x", origin="sample", parents=())
    store.add_candidate(**kwargs, state={"rng": 1})
    with pytest.raises(sqlite3.IntegrityError):
        store.add_candidate(**kwargs, state={"rng": 2})
    assert store.strategy_state("rng") == 1  # the failed insert's state was rolled back with it
    assert len(store.candidates()) == 1


def test_evolution_from_seeds_keeps_the_front() -> None:
    """With evolve_from_seeds the seeds are mutated at once; with elite_front a dominating old design stays a parent
    after it has aged out of the population (the two changes benchmarks/strategy_vs_random.py measures)."""
    rng = random.Random(4)
    seeds = (yolo11n(), yolov8n())
    strategy = AgingEvolution(
        SPACE, population_size=3, tournament_size=3, crossover_probability=0.0, seeds=seeds, evolve_from_seeds=True
    )
    history = [_done(yolo11n(), 0.3, 10.0), _done(yolov8n(), 0.25, 12.0)]
    proposal = strategy.propose(history, rng)
    assert proposal.origin == "mutation" and set(proposal.parents) <= {s.id for s in seeds}
    old, *young = [SPACE.sample(rng) for _ in range(4)]
    history = [_done(old, 0.99, 0.1)] + [_done(g, 0.1 * (i + 1), 10.0 - i) for i, g in enumerate(young)]
    elite = AgingEvolution(SPACE, population_size=3, tournament_size=3, crossover_probability=0.0, elite_front=True)
    picks = [elite.propose(history, rng).parents[0] for _ in range(20)]
    assert picks.count(old.id) >= 10  # in 3 of every 4 tournaments (3 drawn of 4), and it wins each one it is in


def test_local_search_mutates_one_gene_of_a_front_member() -> None:
    from detnas.search.strategies import LocalSearch, make_strategy
    from detnas.space import full_dict

    def flat(genome, prefix=()):  # every leaf of the genome's full dict, by path
        data = full_dict(genome) if not isinstance(genome, dict | list) else genome
        items = data.items() if isinstance(data, dict) else enumerate(data)
        out = {}
        for k, v in items:
            out.update(flat(v, (*prefix, k)) if isinstance(v, dict | list) else {(*prefix, k): v})
        return out

    rng = random.Random(0)
    strategy = LocalSearch(SPACE, seeds=(yolo11n(), yolov8n()))
    assert isinstance(make_strategy("local", SPACE, (), StrategySettings()), LocalSearch)
    history: list[Trial] = []
    for _ in range(2):
        proposal = strategy.propose(history, rng)
        assert proposal.origin == "seed"
        history.append(_done(proposal.genome, 0.3, 50.0))
    history.append(_done(SPACE.mutate(yolo11n(), rng), 0.1, 60.0))  # dominated: never a base
    front = {yolo11n().id: yolo11n(), yolov8n().id: yolov8n()}
    for _ in range(30):
        proposal = strategy.propose(history, rng)
        assert proposal.origin == "mutation" and proposal.parents[0] in front
        assert proposal.genome.id not in {t.genome.id for t in history}
        base, child = flat(front[proposal.parents[0]]), flat(proposal.genome)
        changed = {k for k in base.keys() | child.keys() if base.get(k) != child.get(k)}
        assert changed, "a proposal must differ from its base"
        history.append(_done(proposal.genome, 0.05, 70.0))  # dominated too: the front stays the two seeds


@pytest.mark.parametrize("name", ["evolution", "random", "local", "rl"])
def test_every_strategy_proposes_its_unseen_seeds_first_in_order(name: str) -> None:
    """Seeds already in the history (e.g. a resumed search) are skipped; the others come first, in the given order,
    whatever else the history holds; only then does the strategy's own proposal start."""
    from detnas.designs import yolov5nu
    from detnas.search.strategies import make_strategy

    seeds = (yolo11n(), yolov8n(), yolov5nu())
    strategy = make_strategy(name, SPACE, seeds, StrategySettings())
    rng = random.Random(3)
    history = [_done(SPACE.mutate(yolov8n(), rng), 0.2, 40.0), _done(yolov8n(), 0.3, 50.0)]
    proposed = []
    for _ in range(3):
        proposal = strategy.propose(history, rng)
        proposed.append((proposal.origin, proposal.genome.id))
        history.append(_done(proposal.genome, 0.25, 45.0))
    assert proposed[:2] == [("seed", yolo11n().id), ("seed", yolov5nu().id)]
    assert proposed[2][0] != "seed" and proposed[2][1] not in {g.id for g in seeds}
