"""Evaluate candidates as Ray tasks: several at once on one machine, or spread over a cluster.

The search process (the driver) stays the only writer of the SQLite store: a task receives a :class:`Job`, runs the
same isolated evaluation as :class:`LocalExecutor` on whichever node Ray schedules it, and returns the
:class:`Evaluation`. Ray is optional (``pip install 'detnas[ray]'``) and imported only when a Ray executor is chosen.

Jobs name files by path, so on a multi-node cluster every node needs detnas installed in its Python environment and
the run folder and the data at the same paths (a shared filesystem). A local instance started here uses this very
Python, so an editable install needs nothing more.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from detnas.errors import SearchError
from detnas.evaluate import Evaluation
from detnas.search.executor import Evaluator, Executor, Job, LocalExecutor

EXECUTORS = ("local", "ray")
RAY_MISSING = "ray is not installed: pip install 'detnas[ray]'"
ATTEMPT_FILE = "ray_attempt.json"  # written by each attempt into the job's workdir: which node and process ran it
# Ray errors that mean the process or node running an attempt died; anything else Ray raises is not retried.
CRASH_ERRORS = ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "ObjectLostError")

AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def import_ray() -> ModuleType:
    """The ray module, or a one-line ValueError saying how to install it (the CLI prints it as is)."""
    try:
        import ray
    except ImportError:
        raise ValueError(RAY_MISSING) from None
    return ray


def _keep_on_loopback(ray: ModuleType) -> None:
    """A private local instance stays on 127.0.0.1. On Linux, Ray otherwise binds its services to the machine's
    network address so that other nodes could join; a private instance has no other nodes. Ray reads this switch
    (the one it uses on macOS and Windows) when it picks the node address at ``ray.init``."""
    with contextlib.suppress(ImportError, AttributeError):
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0][:300]}" if lines else type(error).__name__


def _evaluate_task(evaluator: Evaluator, job: Job, attempt: int) -> Evaluation:
    """One attempt at one job, inside a Ray worker. Touches only the job's workdir, never the store."""
    node = socket.gethostname()
    if not job.arch_yaml.is_file():
        raise SearchError(
            f"Ray node {node} cannot read {job.arch_yaml}: every node needs the run folder and the data at the same "
            "paths (a shared filesystem)"
        )
    if attempt > 1 and job.workdir.exists():
        shutil.rmtree(job.workdir)  # the crashed attempt's files must not mix with this one's
    job.workdir.mkdir(parents=True, exist_ok=True)
    record = {"attempt": attempt, "node": node, "pid": os.getpid(), "started": time.time()}
    (job.workdir / ATTEMPT_FILE).write_text(json.dumps(record) + "\n")
    # The evaluation child of this worker dies with it (PR_SET_PDEATHSIG), so a killed worker leaves no orphan.
    return evaluator.evaluate(job)


@dataclass
class _Attempt:
    job: Job
    number: int  # 1 for the first try
    submitted: float  # time.time() of the first try
    errors: list[str] = field(default_factory=list)


@dataclass
class RayExecutor:
    """``workers`` concurrent evaluations, each a Ray task reserving ``cpus_per_trial`` CPUs and ``gpus_per_trial``
    GPUs. A task whose worker process or node dies is retried up to ``max_retries`` times from a clean workdir, then
    recorded as a failed Evaluation, so a crash costs one candidate and never the search.

    With no ``address`` a private local Ray instance is started on first use (``workers * cpus_per_trial`` CPUs,
    the GPUs Ray detects, no dashboard, usage stats off, Ray's token auth) and stopped by :meth:`shutdown`; with
    one (``auto``, ``HOST:6379``) the driver joins that cluster. If Ray is already initialised in this process it is
    used as is. Ray sets ``OMP_NUM_THREADS`` of a task to its CPU count unless it is set, so torch in the evaluation
    child uses ``cpus_per_trial`` threads.
    """

    evaluator: Evaluator
    workers: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None
    max_retries: int = 2
    _running: dict[Any, _Attempt] = field(default_factory=dict, init=False, repr=False)
    _ray: ModuleType | None = field(default=None, init=False, repr=False)
    _task: Any = field(default=None, init=False, repr=False)
    _owns_ray: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        check_resources(self.workers, self.cpus_per_trial, self.gpus_per_trial, self.max_retries)
        check_device(self.evaluator.device, self.gpus_per_trial)

    # ---- the Executor protocol ----

    def free_slots(self) -> int:
        return max(0, self.workers - len(self._running))

    def submit(self, job: Job) -> None:
        if self.free_slots() <= 0:
            raise RuntimeError(f"all {self.workers} worker slot(s) are busy: wait() for one to finish first")
        self._launch(_Attempt(job, 1, time.time()))

    def wait(self) -> list[tuple[Job, Evaluation]]:
        """Block until at least one job finishes (a crashed attempt that is retried does not count)."""
        finished: list[tuple[Job, Evaluation]] = []
        while self._running and not finished:
            ray = self._started()
            ray.wait(list(self._running), num_returns=1)
            ready, _ = ray.wait(list(self._running), num_returns=len(self._running), timeout=0)
            for ref in ready:
                attempt = self._running.pop(ref)
                evaluation = self._collect(ray, ref, attempt)
                if evaluation is not None:
                    finished.append((attempt.job, evaluation))
        return finished

    def shutdown(self) -> None:
        """Cancel what is still running (killing its worker, hence its evaluation child) and leave Ray."""
        if self._ray is None:
            return
        for ref in self._running:
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._running.clear()
        if self._owns_ray:
            self._ray.shutdown()
        self._ray, self._task, self._owns_ray = None, None, False

    def start(self) -> None:
        """Start or join Ray now rather than at the first submit: a bad address or a trial no node can fit fails
        before any candidate is marked running."""
        self._started()

    # ---- internals ----

    def _started(self) -> ModuleType:
        """Ray, initialised on first use: a resumed search with nothing left to train never starts it."""
        if self._ray is not None:
            return self._ray
        ray = import_ray()
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # off by default in Ray 2.x; never let it be on
            quiet: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
            if self.address is None:
                _keep_on_loopback(ray)
                with _quiet_logger(AUTH_LOGGER):  # its default token auth is right for a private instance: no notice
                    ray.init(
                        address="local",  # never join a cluster found through RAY_ADDRESS or /tmp/ray by accident
                        num_cpus=max(1, math.ceil(self.workers * self.cpus_per_trial)),
                        **quiet,
                    )
            else:
                ray.init(address=self.address, **quiet)
            self._owns_ray = True
        try:
            self._check_cluster(ray)
        except SearchError:
            if self._owns_ray:
                ray.shutdown()
                self._owns_ray = False
            raise
        self._task = ray.remote(
            num_cpus=self.cpus_per_trial,
            num_gpus=self.gpus_per_trial,
            max_retries=0,  # retried here instead, so that each retry is counted, logged and starts clean
        )(_evaluate_task)
        self._ray = ray
        return ray

    def _check_cluster(self, ray: ModuleType) -> None:
        """Fail now, not hang: Ray leaves a task that no node can ever fit pending forever."""
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        if any(r.get("CPU", 0.0) >= self.cpus_per_trial and r.get("GPU", 0.0) >= self.gpus_per_trial for r in nodes):
            return
        offered = ", ".join(f"{r.get('CPU', 0.0):g} CPU/{r.get('GPU', 0.0):g} GPU" for r in nodes) or "no live node"
        raise SearchError(
            f"no Ray node can run a trial of {self.cpus_per_trial:g} CPU and {self.gpus_per_trial:g} GPU (nodes: "
            f"{offered}): lower --cpus-per-trial / --gpus-per-trial or add a node with ray start --address"
        )

    def _launch(self, attempt: _Attempt) -> None:
        self._started()  # makes self._task
        name = f"detnas-eval-{attempt.job.genome_id}-{attempt.number}"
        ref = self._task.options(name=name).remote(self.evaluator, attempt.job, attempt.number)
        self._running[ref] = attempt

    def _collect(self, ray: ModuleType, ref: Any, attempt: _Attempt) -> Evaluation | None:
        """The attempt's Evaluation; None when a crashed attempt was launched again."""
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as error:
            # The task itself raised: a caller fault (bad data, unreadable path), raised as LocalExecutor would.
            raise error.cause from None
        except ray.exceptions.RayError as error:
            if type(error).__name__ not in CRASH_ERRORS:
                raise SearchError(
                    f"Ray could not run candidate {attempt.job.genome_id}: {_first_line(error)}; "
                    f"continue with --resume once the cluster is healthy"
                ) from None
            attempt.errors.append(_first_line(error))
            total = self.max_retries + 1
            if attempt.number < total:
                log.warning(
                    "Ray worker evaluating %s crashed (attempt %d of %d): %s; retrying from a clean workdir",
                    attempt.job.genome_id,
                    attempt.number,
                    total,
                    attempt.errors[-1],
                )
                self._launch(replace(attempt, number=attempt.number + 1))
                return None
            return self._crash_evaluation(attempt)

    def _crash_evaluation(self, attempt: _Attempt) -> Evaluation:
        """A failed Evaluation for a job whose every attempt lost its worker; the search records it and goes on."""
        from detnas.evaluate import arch_sha256

        job, evaluator = attempt.job, self.evaluator
        try:
            sha = arch_sha256(job.arch_yaml)
        except OSError:
            sha = ""
        phase = None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            phase = json.loads((job.workdir / "progress.json").read_text()).get("phase")
        reason = (
            f"Ray worker crashed in all {attempt.number} attempt(s) (max_retries={self.max_retries})"
            f"{f' during phase {phase!r}' if phase else ''}; last: {attempt.errors[-1]}"
        )
        return Evaluation(
            status="failed",
            arch_yaml=str(job.arch_yaml),
            arch_sha256=sha,
            data=str(evaluator.data),
            recipe=evaluator.recipe,
            device=evaluator.device,
            genome_id=job.genome_id,
            failure_reason=reason,
            failure_phase=phase or "startup",
            workdir=str(job.workdir),
            started_at=datetime.fromtimestamp(attempt.submitted, UTC).isoformat(timespec="seconds"),
            total_seconds=round(time.time() - attempt.submitted, 4),
        )


def check_resources(workers: int, cpus_per_trial: float, gpus_per_trial: float, max_retries: int = 2) -> None:
    """One-line ValueErrors for numbers Ray would reject or silently misuse."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if cpus_per_trial <= 0:
        raise ValueError(f"--cpus-per-trial must be > 0, got {cpus_per_trial:g}")
    if gpus_per_trial < 0:
        raise ValueError(f"--gpus-per-trial must be >= 0, got {gpus_per_trial:g}")
    if gpus_per_trial > 1 and not float(gpus_per_trial).is_integer():
        raise ValueError(f"--gpus-per-trial above 1 must be a whole number, got {gpus_per_trial:g}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")


def check_device(device: str, gpus_per_trial: float) -> None:
    """A Ray trial sees only the GPUs it reserved, renumbered from 0; one that reserved none must not touch any."""
    on_cpu = device.strip().lower() == "cpu"
    if gpus_per_trial > 0 and on_cpu:
        raise ValueError(
            f"--gpus-per-trial {gpus_per_trial:g} reserves GPUs but the search trains on --device cpu: start it with "
            "--device 0 (each Ray trial sees its own GPUs, numbered from 0)"
        )
    if gpus_per_trial == 0 and not on_cpu:
        raise ValueError(
            f"--device {device} with --executor ray needs --gpus-per-trial > 0: a trial that reserves no GPU would "
            "share one with trials that did"
        )


@dataclass(frozen=True)
class ExecutorSpec:
    """How to evaluate candidates, chosen per run from CLI flags and never stored with the search: a resumed search
    may run on another machine or cluster. Validates (and checks Ray is installed) when made, before any folder is
    written; :meth:`build` makes the executor once the search's Evaluator exists."""

    kind: str = "local"
    address: str | None = None
    workers: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ValueError(f"executor {self.kind!r} is unknown: choose one of {list(EXECUTORS)}")
        if self.kind == "local":
            if self.address is not None:
                raise ValueError("--ray-address needs --executor ray")
            if self.workers != 1:
                raise ValueError(f"--workers {self.workers} needs --executor ray (the local executor runs one)")
            if self.gpus_per_trial:
                raise ValueError("--gpus-per-trial needs --executor ray (the local executor trains on --device)")
            return
        check_resources(self.workers, self.cpus_per_trial, self.gpus_per_trial, self.max_retries)
        import_ray()

    def check_device(self, device: str) -> None:
        """Call with a new search's --device before creating its run folder."""
        if self.kind == "ray":
            check_device(device, self.gpus_per_trial)

    def build(self, evaluator: Evaluator) -> Executor:
        if self.kind == "local":
            return LocalExecutor(evaluator)
        return RayExecutor(
            evaluator,
            workers=self.workers,
            cpus_per_trial=self.cpus_per_trial,
            gpus_per_trial=self.gpus_per_trial,
            address=self.address,
            max_retries=self.max_retries,
        )


def make_executor(
    kind: str,
    evaluator: Evaluator,
    *,
    address: str | None = None,
    workers: int = 1,
    gpus_per_trial: float = 0.0,
    cpus_per_trial: float = 1.0,
    max_retries: int = 2,
) -> Executor:
    """The executor named by ``--executor``; ValueError (one line) for bad flags or a missing ray."""
    spec = ExecutorSpec(kind, address, workers, cpus_per_trial, gpus_per_trial, max_retries)
    return spec.build(evaluator)


def attempt_record(workdir: str | Path) -> dict[str, Any] | None:
    """What the latest Ray attempt of a job wrote about itself (attempt, node, pid, started), if any."""
    try:
        return json.loads((Path(workdir) / ATTEMPT_FILE).read_text())
    except (OSError, ValueError):
        return None
