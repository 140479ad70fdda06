"""Where candidates are evaluated. The search hands jobs to an executor and collects finished evaluations.

The interface is asynchronous in shape (submit, then wait for any to finish) so that a distributed executor can run
several candidates at once; ``LocalExecutor`` runs one at a time in this process's isolated child worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from detnas.evaluate import Evaluation, Recipe, evaluate_candidate


@dataclass(frozen=True)
class Evaluator:
    """What an evaluation is: data, proxy and its training recipe, device and latency backend. Picklable."""

    data: Path
    recipe: Recipe
    device: str = "cpu"
    latency_backend: str = "torch"
    timeout_s: float | None = None
    latency_cache: Path | None = None
    proxy: str = "map"
    parents: tuple[Path, ...] = ()  # checkpoints / parent folders the inheriting proxies start from

    def evaluate(self, job: Job) -> Evaluation:
        return evaluate_candidate(
            job.arch_yaml,
            self.data,
            self.recipe,
            workdir=job.workdir,
            device=self.device,
            latency_backend=self.latency_backend,
            timeout_s=self.timeout_s,
            latency_cache=self.latency_cache,
            genome_id=job.genome_id,
            check_data=False,  # the search checks the data once, before its first candidate
            proxy=self.proxy,
            parents=self.parents,
        )


@dataclass(frozen=True)
class Job:
    genome_id: str
    arch_yaml: Path
    workdir: Path


class Executor(Protocol):
    def free_slots(self) -> int:
        """How many more jobs can be submitted now."""
        ...

    def submit(self, job: Job) -> None: ...

    def wait(self) -> list[tuple[Job, Evaluation]]:
        """Block until at least one submitted job finishes; return every finished one."""
        ...

    def shutdown(self) -> None: ...


@dataclass
class LocalExecutor:
    """One candidate at a time; each runs in its own child process (see ``evaluate_candidate``)."""

    evaluator: Evaluator
    _queue: list[Job] = field(default_factory=list)

    def free_slots(self) -> int:
        return 0 if self._queue else 1

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def wait(self) -> list[tuple[Job, Evaluation]]:
        job = self._queue.pop(0)
        return [(job, self.evaluator.evaluate(job))]

    def shutdown(self) -> None:
        self._queue.clear()
