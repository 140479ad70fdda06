"""Search strategies: what to evaluate next, given what has been evaluated. They know the space, not the evaluator.

- ``AgingEvolution``: regularized evolution (Real et al., 2019) whose tournament ranks by Pareto dominance on
  (proxy score up, latency down) with the NSGA-II crowding distance as tie-break; the population is the newest
  ``population_size`` finished candidates, so old ones age out.
- ``RandomSearch``: uniform samples of the same space, the control every search should beat.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from detnas.genome import ArchGenome
from detnas.pareto import crowding_distances, non_dominated_ranks
from detnas.space import SearchSpace


@dataclass(frozen=True)
class Trial:
    """What a strategy may know of one candidate: its genome, state and objectives once done."""

    genome: ArchGenome
    status: str  # pending | running | done | failed | infeasible
    score: float | None = None  # the search's proxy score (higher is better), e.g. mAP50-95 after brief training
    latency_ms: float | None = None

    @property
    def point(self) -> tuple[float, float]:
        assert self.score is not None and self.latency_ms is not None
        return (self.score, self.latency_ms)


@dataclass(frozen=True)
class Proposal:
    genome: ArchGenome
    origin: str  # seed | sample | mutation | crossover
    parents: tuple[str, ...] = ()


def _fresh(space: SearchSpace, known: set[str], rng: random.Random, tries: int = 1000) -> ArchGenome:
    for _ in range(tries):
        genome = space.sample(rng)
        if genome.id not in known:
            return genome
    raise RuntimeError("could not sample an unseen genome in 1000 draws: the search space is exhausted")


@dataclass
class RandomSearch:
    space: SearchSpace
    seeds: Sequence[ArchGenome] = ()
    name: str = "random"

    def propose(self, history: Sequence[Trial], rng: random.Random) -> Proposal:
        known = {t.genome.id for t in history}
        for seed in self.seeds:
            if seed.id not in known:
                return Proposal(seed, "seed")
        return Proposal(_fresh(self.space, known, rng), "sample")


@dataclass
class AgingEvolution:
    space: SearchSpace
    population_size: int = 16
    tournament_size: int = 8
    crossover_probability: float = 0.5
    seeds: Sequence[ArchGenome] = field(default_factory=tuple)
    name: str = "evolution"

    def __post_init__(self) -> None:
        if self.population_size < 2 or not 1 <= self.tournament_size <= self.population_size:
            raise ValueError(
                f"population {self.population_size} and tournament {self.tournament_size}: need population >= 2 and "
                "1 <= tournament <= population"
            )

    def propose(self, history: Sequence[Trial], rng: random.Random) -> Proposal:
        known = {t.genome.id for t in history}
        for seed in self.seeds:
            if seed.id not in known:
                return Proposal(seed, "seed")
        started = [t for t in history if t.status != "infeasible"]
        population = [t for t in history if t.status == "done"][-self.population_size :]
        if len(started) < self.population_size or len(population) < 2:
            return Proposal(_fresh(self.space, known, rng), "sample")

        points = [t.point for t in population]
        ranks = non_dominated_ranks(points)
        crowding = crowding_distances(points, ranks)

        def tournament() -> Trial:
            entrants = rng.sample(range(len(population)), min(self.tournament_size, len(population)))
            return population[min(entrants, key=lambda i: (ranks[i], -crowding[i]))]

        for _ in range(100):
            first = tournament()
            if rng.random() < self.crossover_probability:
                second = tournament()
                if second.genome.id != first.genome.id:
                    child = self.space.crossover(first.genome, second.genome, rng)
                    proposal = Proposal(child, "crossover", (first.genome.id, second.genome.id))
                else:
                    proposal = Proposal(self.space.mutate(first.genome, rng), "mutation", (first.genome.id,))
            else:
                proposal = Proposal(self.space.mutate(first.genome, rng), "mutation", (first.genome.id,))
            if proposal.genome.id not in known:  # duplicates are never trained twice
                return proposal
        return Proposal(_fresh(self.space, known, rng), "sample")
