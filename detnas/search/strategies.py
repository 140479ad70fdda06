"""Search strategies: what to evaluate next, given what has been evaluated. They know the space, not the evaluator.

- ``AgingEvolution``: regularized evolution (Real et al., 2019) whose tournament ranks by Pareto dominance on
  (proxy score up, latency down) with the NSGA-II crowding distance as tie-break; the population is the newest
  ``population_size`` finished candidates, so old ones age out.
- ``RandomSearch``: uniform samples of the same space, the control every search should beat.
- ``LocalSearch``: one-gene mutations of a random member of the current Pareto front (White et al. 2021: local
  search is the strong baseline of NAS), the control for searches that start from trained seeds.
- ``ReinforceSearch``: a policy over the genome's choices trained with REINFORCE (NASNet/MnasNet style).

Every strategy meets the :class:`Strategy` protocol (propose / observe / state) and is built by name from the
:data:`STRATEGIES` registry, so the search loop never asks which one it holds.
"""

from __future__ import annotations

import contextlib
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from detnas.genome import ArchGenome
from detnas.search.pareto import crowding_distances, non_dominated_ranks, pareto_front
from detnas.space import SearchSpace, block_families, full_dict, gene_at


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


def _next_seed(seeds: Sequence[ArchGenome], known: set[str]) -> Proposal | None:
    """The first seed not yet in the history: every strategy evaluates its seeds first, in the order given."""
    for seed in seeds:
        if seed.id not in known:
            return Proposal(seed, "seed")
    return None


@dataclass
class RandomSearch:
    space: SearchSpace
    seeds: Sequence[ArchGenome] = ()
    name: str = "random"

    def propose(self, history: Sequence[Trial], rng: random.Random) -> Proposal:
        known = {t.genome.id for t in history}
        if unseen := _next_seed(self.seeds, known):
            return unseen
        return Proposal(_fresh(self.space, known, rng), "sample")

    def observe(self, history: Sequence[Trial]) -> None:
        """Random search learns nothing."""

    def state_dict(self) -> dict[str, Any] | None:
        return None


@dataclass
class LocalSearch:
    """Seeds first; then a random one-gene change of a design drawn uniformly from the Pareto front of every finished
    trial (score up, latency down). Never proposes a genome already in the history."""

    space: SearchSpace
    seeds: Sequence[ArchGenome] = ()
    name: str = "local"

    def propose(self, history: Sequence[Trial], rng: random.Random) -> Proposal:
        known = {t.genome.id for t in history}
        if unseen := _next_seed(self.seeds, known):
            return unseen
        done = [t for t in history if t.status == "done"]
        if not done:
            return Proposal(_fresh(self.space, known, rng), "sample")
        front = [done[i] for i in pareto_front([t.point for t in done])]
        for _ in range(100):
            base = rng.choice(front)
            child = self.space.mutate(base.genome, rng)
            if child.id not in known:
                return Proposal(child, "mutation", (base.genome.id,))
        return Proposal(_fresh(self.space, known, rng), "sample")  # the front's whole neighbourhood is evaluated

    def observe(self, history: Sequence[Trial]) -> None:
        """Local search keeps no state: its front is read off the history at each proposal."""

    def state_dict(self) -> dict[str, Any] | None:
        return None


@dataclass
class AgingEvolution:
    space: SearchSpace
    population_size: int = 16
    tournament_size: int = 8
    crossover_probability: float = 0.5
    seeds: Sequence[ArchGenome] = field(default_factory=tuple)
    # With trained seeds most of a space is far worse than the seeds (sliced layers lose their function), so waiting
    # for random samples to fill the population, then letting the seeds age out, throws the seeds away; these two
    # keep them (measured in benchmarks/strategy_vs_random.py):
    evolve_from_seeds: bool = False  # mutate the seeds at once instead of sampling until the population is full
    elite_front: bool = False  # the tournament also sees the Pareto front of every finished trial (an archive)
    name: str = "evolution"

    def __post_init__(self) -> None:
        if self.population_size < 2 or not 1 <= self.tournament_size <= self.population_size:
            raise ValueError(
                f"population {self.population_size} and tournament {self.tournament_size}: need population >= 2 and "
                "1 <= tournament <= population"
            )

    def propose(self, history: Sequence[Trial], rng: random.Random) -> Proposal:
        known = {t.genome.id for t in history}
        if unseen := _next_seed(self.seeds, known):
            return unseen
        started = [t for t in history if t.status != "infeasible"]
        done = [t for t in history if t.status == "done"]
        population = done[-self.population_size :]
        if self.elite_front and done:
            young = {t.genome.id for t in population}
            population += [done[i] for i in pareto_front([t.point for t in done]) if done[i].genome.id not in young]
        ready = len(started) >= self.population_size and len(population) >= 2
        if self.evolve_from_seeds and self.seeds and population:
            ready = True
        if not ready:
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

    def observe(self, history: Sequence[Trial]) -> None:
        """Evolution keeps no state of its own: its population is read off the history at each proposal."""

    def state_dict(self) -> dict[str, Any] | None:
        return None


@dataclass
class PolicyState:
    """What a REINFORCE policy has learned: logits per decision, the reward baseline and the trials already used.

    Plain JSON-able data, saved in the store with every proposal, so a killed search resumes the same policy."""

    logits: dict[str, list[float]] = field(default_factory=dict)
    baseline: float | None = None  # exponential moving average of the reward
    variance: float = 0.0  # exponential moving average of the squared deviation from the baseline
    processed: list[str] = field(default_factory=list)  # genome ids whose reward was learned from, in order

    def to_dict(self) -> dict:
        return {
            "logits": self.logits,
            "baseline": self.baseline,
            "variance": self.variance,
            "processed": list(self.processed),
        }

    @classmethod
    def from_dict(cls, data: dict) -> PolicyState:
        return cls(
            logits={k: [float(x) for x in v] for k, v in data.get("logits", {}).items()},
            baseline=data.get("baseline"),
            variance=float(data.get("variance", 0.0)),
            processed=list(data.get("processed", [])),
        )


REWARDS = ("pareto", "mnasnet")


@dataclass
class ReinforceSearch:
    """A factorised categorical policy over the genome's choices, trained with REINFORCE (Williams 1992) and a
    moving-average baseline, as in NASNet/MnasNet but with one independent softmax per decision instead of an LSTM.

    Decisions: in an anchored space first the anchor (the module family), then every gene of ``space.genes`` in
    order, each a softmax keyed by family, gene path and allowed values. The decisions that produced a genome are read
    back from the genome itself, so the policy learns from any finished trial (its own, seeds, another run's) in the
    order trials finished: a pure function of history and ``state``, which suits asynchronous executors (a proposal
    learns from whatever has finished). Rewards:

    - ``pareto`` (default): minus the trial's non-dominated rank among all finished trials so far, the search's own
      multi-objective ordering (that of the evolution tournament);
    - ``mnasnet``: score x (latency / target)^w (Tan et al. 2019), target by default the median latency so far.

    Advantages are standardised by a moving variance so the step size does not depend on the reward's scale.
    """

    space: SearchSpace
    learning_rate: float = 0.3
    baseline_decay: float = 0.9
    reward: str = "pareto"
    latency_target_ms: float | None = None
    latency_weight: float = -0.07
    seeds: Sequence[ArchGenome] = field(default_factory=tuple)
    # Initial logit bonus of each seed's own choices, so the policy starts centred on the trained seeds (a few genes
    # changed per draw) instead of uniform over a space where almost every design has lost its inherited function.
    seed_prior: float = 4.0
    state: PolicyState = field(default_factory=PolicyState)
    name: str = "rl"

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise ValueError(f"reward {self.reward!r} is unknown: choose one of {list(REWARDS)}")
        if self.learning_rate <= 0 or not 0 <= self.baseline_decay < 1:
            raise ValueError(
                f"learning_rate {self.learning_rate} and baseline_decay {self.baseline_decay}: need learning_rate > 0 "
                "and 0 <= baseline_decay < 1"
            )
        self._prior: dict[str, list[float]] = {}
        for seed in self.seeds if self.seed_prior else ():
            for key, index, size in self.decisions(seed):
                row = self._prior.setdefault(key, [0.0] * size)
                row[index] += self.seed_prior

    def propose(self, history: Sequence[Trial], rng: random.Random) -> Proposal:
        known = {t.genome.id for t in history}
        if unseen := _next_seed(self.seeds, known):
            return unseen
        self.learn(history)
        for _ in range(100):
            genome = self.sample(rng)
            if genome.id not in known:  # duplicates are never trained twice
                return Proposal(genome, "policy")
        return Proposal(_fresh(self.space, known, rng), "sample")

    def observe(self, history: Sequence[Trial]) -> None:
        """Learn from every trial finished since the last call (see :meth:`learn`)."""
        self.learn(history)

    def state_dict(self) -> dict[str, Any] | None:
        """The policy learned so far: saved with every proposal so a killed search resumes it."""
        return self.state.to_dict()

    # ---- the policy ----

    def logits(self, key: str, size: int) -> list[float]:
        return self.state.logits.get(key) or self._prior.get(key) or [0.0] * size

    def probabilities(self, key: str, size: int) -> list[float]:
        logits = self.logits(key, size)
        top = max(logits)
        weights = [math.exp(x - top) for x in logits]
        total = sum(weights)
        return [w / total for w in weights]

    def sample(self, rng: random.Random) -> ArchGenome:
        """One genome drawn from the policy, decision by decision."""
        anchors = self.space.anchors
        if anchors:
            genome = self.space.place(anchors[_draw(rng, self.probabilities(ANCHOR_KEY, len(anchors)))])
        else:
            genome = self.space.sample(rng)  # the structure's defaults; every gene is then drawn from the policy
        family = _family_name(self.space, genome)
        i = 0
        genes = self.space.genes(genome)
        while i < len(genes):
            path, values = genes[i]
            value = values[_draw(rng, self.probabilities(_key(family, path, values), len(values)))]
            if value != _gene_value(genome, path):
                with contextlib.suppress(ValueError):  # a combination the genome rejects: keep the current value
                    genome = self.space.with_gene(genome, path, value, rng)
                genes = self.space.genes(genome)
            i += 1
        return genome

    def decisions(self, genome: ArchGenome) -> list[tuple[str, int, int]]:
        """(key, chosen index, number of choices) of every decision that yields ``genome`` under this policy."""
        anchors = self.space.anchors
        out: list[tuple[str, int, int]] = []
        if anchors:
            index = _anchor_index(self.space, genome)
            if index is None:
                return []  # outside every family (e.g. a seed of another space): nothing to learn
            out.append((ANCHOR_KEY, index, len(anchors)))
        family = _family_name(self.space, genome)
        for path, values in self.space.genes(genome):
            value = _gene_value(genome, path)
            matches = [j for j, v in enumerate(values) if v == value and type(v) is type(value)]
            if matches:
                out.append((_key(family, path, values), matches[0], len(values)))
        return out

    # ---- learning ----

    def learn(self, history: Sequence[Trial]) -> int:
        """Take a REINFORCE step for each finished trial not yet learned from; returns how many were new."""
        processed = set(self.state.processed)
        finished = [t for t in history if t.status in ("done", "failed")]
        new = 0
        for i, trial in enumerate(finished):
            if trial.genome.id in processed:
                continue
            done_so_far = [t for t in finished[: i + 1] if t.status == "done" and t.score is not None]
            reward = self._reward(trial, done_so_far)
            self._step(trial.genome, reward)
            self.state.processed.append(trial.genome.id)
            processed.add(trial.genome.id)
            new += 1
        return new

    def _reward(self, trial: Trial, done: list[Trial]) -> float:
        points = [t.point for t in done if t.latency_ms is not None]
        if self.reward == "pareto":
            ranks = non_dominated_ranks(points) if points else []
            worst = (max(ranks) + 1) if ranks else 1
            if trial.status != "done" or trial.score is None or trial.latency_ms is None:
                return -float(worst)  # a failed candidate ranks below every finished one
            return -float(ranks[[t.genome.id for t in done].index(trial.genome.id)])
        if trial.status != "done" or trial.score is None or trial.latency_ms is None:
            return 0.0
        target = self.latency_target_ms or statistics.median(p[1] for p in points)
        return max(trial.score, 0.0) * (trial.latency_ms / target) ** self.latency_weight

    def _step(self, genome: ArchGenome, reward: float) -> None:
        state = self.state
        if state.baseline is None:
            state.baseline = reward  # the first reward sets the baseline: no step without a reference
            return
        deviation = reward - state.baseline
        state.variance = self.baseline_decay * state.variance + (1 - self.baseline_decay) * deviation**2
        advantage = deviation / math.sqrt(state.variance + 1e-12) if state.variance > 0 else 0.0
        advantage = max(-3.0, min(3.0, advantage))
        state.baseline = self.baseline_decay * state.baseline + (1 - self.baseline_decay) * reward
        if advantage == 0.0:
            return
        for key, index, size in self.decisions(genome):
            probs = self.probabilities(key, size)
            logits = self.logits(key, size)
            # d log p(index) / d logits = onehot(index) - p
            state.logits[key] = [
                x + self.learning_rate * advantage * ((j == index) - p)
                for j, (x, p) in enumerate(zip(logits, probs, strict=True))
            ]


ANCHOR_KEY = "anchor"


def _draw(rng: random.Random, probs: list[float]) -> int:
    x, total = rng.random(), 0.0
    for i, p in enumerate(probs):
        total += p
        if x < total:
            return i
    return len(probs) - 1


def _key(family: str, path: tuple, values: tuple) -> str:
    return f"{family}|{'/'.join(map(str, path))}|{','.join(map(str, values))}"


def _gene_value(genome: ArchGenome, path: tuple) -> object:
    return gene_at(full_dict(genome), path)


def _anchor_index(space: SearchSpace, genome: ArchGenome) -> int | None:
    families = block_families(full_dict(genome))
    for i, anchor in enumerate(space.anchors):
        if block_families(full_dict(anchor)) == families:
            return i
    return None


def _family_name(space: SearchSpace, genome: ArchGenome) -> str:
    index = _anchor_index(space, genome) if space.anchors else None
    return "any" if index is None else f"a{index}"


# ---------------------------------------------------------------- the protocol and the registry


class Strategy(Protocol):
    """What the search loop asks of a strategy: the next genome, the news of finished trials, and what to save."""

    name: str

    def propose(self, history: Sequence[Trial], rng: random.Random) -> Proposal: ...

    def observe(self, history: Sequence[Trial]) -> None: ...

    def state_dict(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class StrategySettings:
    """The knobs a search config passes to its strategy; each strategy reads the ones it has."""

    population: int = 6
    tournament: int | None = None  # default: half the population
    crossover_probability: float = 0.5
    evolve_from_seeds: bool = True
    elite_front: bool = True


StrategyFactory = Callable[[SearchSpace, Sequence[ArchGenome], StrategySettings, "dict[str, Any] | None"], Strategy]
STRATEGIES: dict[str, StrategyFactory] = {}


def register_strategy(name: str) -> Callable[[StrategyFactory], StrategyFactory]:
    """Add a strategy factory under ``name`` (what ``detnas search --strategy`` accepts)."""

    def add(factory: StrategyFactory) -> StrategyFactory:
        STRATEGIES[name] = factory
        return factory

    return add


def make_strategy(
    name: str,
    space: SearchSpace,
    seeds: Sequence[ArchGenome],
    settings: StrategySettings,
    saved: dict[str, Any] | None = None,
) -> Strategy:
    """The strategy called ``name``, resumed from ``saved`` (its last :meth:`Strategy.state_dict`) when given."""
    try:
        factory = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"strategy {name!r} is unknown: choose one of {sorted(STRATEGIES)}") from None
    return factory(space, seeds, settings, saved)


@register_strategy("evolution")
def _evolution(space: SearchSpace, seeds: Sequence[ArchGenome], s: StrategySettings, saved: dict | None) -> Strategy:
    return AgingEvolution(
        space,
        population_size=s.population,
        tournament_size=min(s.tournament or max(2, s.population // 2), s.population),
        crossover_probability=s.crossover_probability,
        seeds=seeds,
        evolve_from_seeds=s.evolve_from_seeds,
        elite_front=s.elite_front,
    )


@register_strategy("random")
def _random(space: SearchSpace, seeds: Sequence[ArchGenome], s: StrategySettings, saved: dict | None) -> Strategy:
    return RandomSearch(space, seeds=seeds)


@register_strategy("local")
def _local(space: SearchSpace, seeds: Sequence[ArchGenome], s: StrategySettings, saved: dict | None) -> Strategy:
    return LocalSearch(space, seeds=seeds)


@register_strategy("rl")
def _reinforce(space: SearchSpace, seeds: Sequence[ArchGenome], s: StrategySettings, saved: dict | None) -> Strategy:
    return ReinforceSearch(space, seeds=seeds, state=PolicyState.from_dict(saved) if saved else PolicyState())
