"""The search loop: a strategy proposes, cheap constraints filter, an executor evaluates, the store remembers.

A run folder holds everything: ``search.sqlite`` (the source of truth), one folder per candidate, and the outputs
written by :mod:`detnas.search.report`. ``resume`` continues from the store after any stop, kill -9 included.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from detnas.architecture import to_yaml
from detnas.cost import genome_cost
from detnas.designs import named_design
from detnas.errors import SearchError
from detnas.evaluate import Evaluation, InputError, load_data_yaml, prepare_data
from detnas.genome import ArchGenome
from detnas.search.config import SearchConfig, describe_mode
from detnas.search.executor import Evaluator, Executor, Job, LocalExecutor
from detnas.search.store import Store
from detnas.search.strategies import Strategy, Trial, make_strategy
from detnas.space import SearchSpace, anchored_space

STORE_NAME = "search.sqlite"
LOCK_NAME = ".lock"
TABLE_COPY_NAME = "latency_table.json"  # the --latency-table plus layers timed during the search (same machine only)


def _load_latency_table(config: SearchConfig, folder: Path):
    """The search's latency table (validated for its backend and space version), or None without one; on resume
    the run folder's copy, which holds the layers timed during the search as well."""
    if not config.latency_table:
        return None
    from detnas.evaluate.latency_table import load_table

    copy = folder / TABLE_COPY_NAME
    return load_table(copy if copy.is_file() else config.latency_table, backend=config.latency_backend)


class RunFolderLock:
    """An exclusive lock on a run folder, so two processes never write the same search. Freed by the OS on kill."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._file: TextIO | None = None

    def __enter__(self) -> RunFolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise SearchError(
                f"run folder {self.path.parent} is in use by {owner}: wait for it to finish or choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"detnas pid {os.getpid()}")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()


def _rng_state(rng: random.Random) -> list[Any]:
    version, state, gauss = rng.getstate()
    return [version, list(state), gauss]


def _restore_rng(state: list[Any]) -> random.Random:
    rng = random.Random()
    rng.setstate((state[0], tuple(state[1]), state[2]))
    return rng


class Search:
    """One search over one run folder. Use :meth:`create` for a new search and :meth:`open` to resume one."""

    def __init__(
        self,
        folder: Path,
        store: Store,
        config: SearchConfig,
        *,
        executor: Executor | None = None,
        executor_factory: Callable[[Evaluator], Executor] | None = None,
    ) -> None:
        self.folder = folder
        self.store = store
        self.config = config
        self.data = Path(config.data)
        self.nc = load_data_yaml(self.data).nc
        sizes = config.imgsizes
        deploy = {"precisions": config.precisions, "runtimes": config.runtimes}
        if config.space == "anchored":
            self.space = anchored_space(nc=self.nc, imgsizes=sizes, **deploy)
        else:
            self.space = SearchSpace(nc=self.nc, imgsizes=sizes, **deploy)
        self.latency_table = _load_latency_table(config, folder)
        seeds = [self.space.place(named_design(name, nc=self.nc)) for name in config.seeds]
        self.seed_names = {g.id: name for g, name in zip(seeds, config.seeds, strict=True)}
        # a learning strategy's state lives in the store (saved with every proposal): a killed search resumes it
        self.strategy: Strategy = make_strategy(
            config.strategy, self.space, seeds, config.strategy_settings(), store.strategy_state("policy")
        )
        self.evaluator = Evaluator(
            data=self.data,
            recipe=config.recipe,
            device=config.device,
            # With a table, latency is predicted at proposal and only the front is measured (measure_front).
            latency_backend=None if self.latency_table else config.latency_backend,
            timeout_s=config.timeout_s,
            latency_cache=folder / "latency_cache.json",
            proxy=config.proxy,
            parents=tuple(Path(p) for p in config.parents),
        )
        if executor is None and executor_factory is not None:
            executor = executor_factory(self.evaluator)  # e.g. ExecutorSpec.build: needs this search's Evaluator
        self.executor: Executor = executor or LocalExecutor(self.evaluator)

    # ---- construction ----

    @classmethod
    def create(cls, folder: str | Path, config: SearchConfig, *, mode: str | None = None, **kwargs: Any) -> Search:
        """A new search in ``folder``; ``mode`` is the line that states what it does (default: from the config)."""
        folder = Path(folder)
        if (folder / STORE_NAME).exists():
            raise SearchError(
                f"{folder} already holds a search: continue it with --resume {folder} or choose another --out"
            )
        data = Path(config.data).expanduser().resolve()
        if not data.is_file():
            raise InputError(f"data YAML {config.data} does not exist: pass an Ultralytics data YAML with --data")
        table = str(Path(config.latency_table).expanduser().resolve()) if config.latency_table else None
        config = SearchConfig.from_dict({**config.to_dict(), "data": str(data), "latency_table": table})
        _load_latency_table(config, folder)  # a bad table is refused before the run folder holds a store
        # Check the data once, fully, before any candidate: a bad label is the user's fault, not a candidate's.
        prepare_data(data, config.recipe, folder / "data_check", check=True)
        store = Store(folder / STORE_NAME)
        store.set_meta("config", config.to_dict())
        store.set_meta("mode", mode or describe_mode(config))
        store.set_meta("created_at", time.time())
        return cls(folder, store, config, **kwargs)

    @classmethod
    def open(cls, folder: str | Path, **kwargs: Any) -> Search:
        folder = Path(folder)
        if not (folder / STORE_NAME).is_file():
            raise SearchError(f"{folder} holds no search ({STORE_NAME} is missing): start one with --out {folder}")
        store = Store(folder / STORE_NAME)
        return cls(folder, store, SearchConfig.from_dict(store.get_meta("config")), **kwargs)

    @property
    def mode(self) -> str:
        """The one line that states what this search does, as stored when it was created."""
        return self.store.get_meta("mode") or describe_mode(self.config)

    def set_evaluations(self, evaluations: int) -> None:
        """A new budget for a resumed search (the only setting of the search a resume may change)."""
        self.config = replace(self.config, evaluations=evaluations)
        self.store.set_meta("config", self.config.to_dict())
        if self.store.get_meta("mode"):
            self.store.set_meta("mode", describe_mode(self.config))

    def imgsz_of(self, genome: ArchGenome) -> int:
        """The size a candidate is trained, scored and timed at: its own gene, else the recipe's fixed size."""
        return genome.imgsz or self.config.recipe.imgsz

    # ---- the loop ----

    def history(self) -> list[Trial]:
        """Candidates as the strategy sees them; finished ones in finishing order, so the population ages."""
        finished = self.store.finished_in_order()
        finished_ids = {c.genome_id for c in finished}
        others = [c for c in self.store.candidates() if c.genome_id not in finished_ids]
        return [
            Trial(ArchGenome.from_json(c.genome_json), c.status, c.score, c.latency_ms) for c in [*others, *finished]
        ]

    def trained_count(self) -> int:
        counts = self.store.counts()
        return counts["done"] + counts["failed"]

    def run(self, *, progress: TextIO | None = sys.stderr) -> dict[str, int]:
        """Evaluate until the budget of trained candidates is spent; returns the store's status counts."""
        interrupted = self.store.requeue_interrupted()
        bar = Progress(self.config.evaluations, progress, already=self.trained_count())
        if interrupted:
            bar.note(f"re-running {len(interrupted)} interrupted candidate(s): {', '.join(interrupted)}")
        consecutive_failures = self._trailing_failures()
        in_flight: set[str] = set()
        max_infeasible = 20 * self.config.evaluations + 20
        try:
            while self.trained_count() < self.config.evaluations:
                while (
                    self.executor.free_slots() > 0 and self.trained_count() + len(in_flight) < self.config.evaluations
                ):
                    candidate = self._next_candidate(in_flight, max_infeasible)
                    self._submit(candidate)
                    in_flight.add(candidate)
                if not in_flight:
                    break
                for job, evaluation in self.executor.wait():
                    in_flight.discard(job.genome_id)
                    self._record(job, evaluation)
                    consecutive_failures = 0 if evaluation.ok else consecutive_failures + 1
                    bar.update(job.genome_id, evaluation, self.best(), self.store.get(job.genome_id).latency_ms)
                    if consecutive_failures >= self.config.max_failures:
                        raise SearchError(
                            f"search stopped: the last {consecutive_failures} candidates all failed (last: "
                            f"{evaluation.failure_reason}). Check the data, recipe and device, then continue with "
                            f"--resume {self.folder}"
                        )
        finally:
            self.executor.shutdown()
            bar.close()
        return self.store.counts()

    def _trailing_failures(self) -> int:
        count = 0
        for candidate in reversed(self.store.finished_in_order()):
            if candidate.status != "failed":
                break
            count += 1
        return count

    def _next_candidate(self, in_flight: set[str], max_infeasible: int) -> str:
        """A pending candidate left by an earlier run, or a new feasible proposal; returns its genome id."""
        for candidate in self.store.candidates("pending"):
            if candidate.genome_id not in in_flight:
                return candidate.genome_id
        rng = _restore_rng(self.store.strategy_state("rng")) if self.store.strategy_state("rng") else None
        rng = rng or random.Random(self.config.seed)
        while True:
            if self.store.counts()["infeasible"] >= max_infeasible:
                raise SearchError(
                    f"search stopped: {max_infeasible} proposals in a row broke the constraints "
                    f"({self.config.constraints}); loosen --max-latency-ms / --max-params"
                )
            history = self.history()
            self.strategy.observe(history)
            proposal = self.strategy.propose(history, rng)
            genome = proposal.genome
            cost = genome_cost(genome, imgsz=self.imgsz_of(genome))
            latency, reason = None, None
            if self.latency_table is not None:
                latency, reason = self._table_latency(genome)
            elif self.config.constraints.max_latency_ms is not None and genome.precision is None:
                # a deployed design (precision/runtime genes) is held to the limit on its artifact's latency, known
                # only after its evaluation (_record): the network's FP32 latency here would be another figure
                latency = self._latency(genome)
            reason = reason or self.config.constraints.violation(
                params=cost.params, gflops=cost.gflops, latency_ms=latency
            )
            origin = f"seed:{self.seed_names[genome.id]}" if proposal.origin == "seed" else proposal.origin
            self.store.add_candidate(
                genome_id=genome.id,
                genome_json=genome.to_json(),
                yaml=to_yaml(genome),
                origin=origin,
                parents=proposal.parents,
                state=self._strategy_state(rng),
                status="infeasible" if reason else "pending",
                params=cost.params,
                gflops=cost.gflops,
                latency_ms=latency,
                error=reason,
            )
            if reason is None:
                return genome.id

    def _strategy_state(self, rng: random.Random) -> dict[str, Any]:
        """What the store keeps of the strategy with each proposal: the rng, and a learning strategy's policy."""
        state: dict[str, Any] = {"rng": _rng_state(rng)}
        saved = self.strategy.state_dict()
        if saved is not None:
            state["policy"] = saved
        return state

    def _latency(self, genome: ArchGenome) -> float:
        """Latency of a genome under the search's protocol, cached with the evaluator's cache."""
        from detnas.evaluate import LatencyCache, arch_sha256, cache_key, measure_latency
        from detnas.evaluate.latency import DEFAULT_THREADS

        path = self._write_yaml(genome.id, to_yaml(genome))
        backend, imgsz = self.config.latency_backend, self.imgsz_of(genome)
        device = "cpu" if backend == "onnx" else self.config.device
        key = cache_key(arch_sha256(path), self.nc, imgsz, backend, device, DEFAULT_THREADS)
        cache = LatencyCache(self.evaluator.latency_cache)
        record = cache.get(key)
        if record is None:
            record = measure_latency(
                path, imgsz=imgsz, backend=backend, device=device, nc=self.nc, workdir=path.parent / "latency", key=key
            )
            cache.put(record)
        return record.median_ms

    def _table_latency(self, genome: ArchGenome) -> tuple[float | None, str | None]:
        """Predicted latency from the table. Layers the table lacks are timed here and added to the run folder's
        copy of the table when the table was built on this machine's CPU; on another device's table the genome is
        infeasible (with the reason), since a figure from this machine would be mixed with that device's."""
        from detnas.evaluate.environment import cpu_name
        from detnas.evaluate.latency_table import MissingLayersError, extend_layers, predict_ms

        table, imgsz = self.latency_table, self.imgsz_of(genome)
        assert table is not None
        try:
            return predict_ms(genome, table, imgsz=imgsz), None
        except MissingLayersError as exc:
            if table.device != cpu_name():
                return None, str(exc)
            copy = self.folder / TABLE_COPY_NAME
            extend_layers(table, [genome], sizes=[imgsz], out=copy)
            print(
                f"note: timed {len(exc.missing)} layer(s) of {genome.id} the table lacked; added to {copy}",
                file=sys.stderr,
            )
            return predict_ms(genome, table, imgsz=imgsz), None

    def _measure_like_table(self, genome: ArchGenome) -> float:
        """Whole-network latency on this machine with the table's backend, threads and clock."""
        from detnas.evaluate.latency_table import measure_network_ms

        table = self.latency_table
        assert table is not None
        workdir = self.folder / "candidates" / genome.id / "latency"
        return measure_network_ms(
            genome,
            imgsz=self.imgsz_of(genome),
            backend=table.backend,
            threads=table.threads,
            warmup=5,
            runs=30,
            workdir=workdir,
            clock=table.clock,
        )

    def measure_front(self) -> dict[str, float]:
        """With a latency table: measure the front's predicted designs for real on this machine (the table's backend,
        threads and clock), kept in the store (meta ``measured_latency``) so the report shows both figures."""
        if self.latency_table is None:
            return {}
        from detnas.search.report import front_candidates

        measured = dict(self.store.get_meta("measured_latency", {}) or {})
        for c in front_candidates(self.store):
            if c.genome_id not in measured:
                measured[c.genome_id] = round(self._measure_like_table(ArchGenome.from_json(c.genome_json)), 4)
                self.store.set_meta("measured_latency", measured)
        return measured

    def _write_yaml(self, genome_id: str, text: str) -> Path:
        path = self.folder / "candidates" / genome_id / f"{genome_id}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def _submit(self, genome_id: str) -> None:
        candidate = self.store.get(genome_id)
        assert candidate is not None
        arch = self._write_yaml(genome_id, candidate.yaml)
        workdir = arch.parent / "eval"
        if workdir.exists():  # left by an interrupted attempt: start clean, never mix two attempts' files
            shutil.rmtree(workdir)
        self.store.mark_running(genome_id)
        self.executor.submit(Job(genome_id, arch, workdir))

    def _record(self, job: Job, evaluation: Evaluation) -> None:
        """Store the evaluation. Params and GFLOPs stay those of the unfused genome measured at proposal, the
        figures Ultralytics prints for a YAML; the fused deployment cost is kept inside the evaluation JSON."""
        metrics, latency, proxy = evaluation.metrics, evaluation.latency, evaluation.proxy
        latency_ms = latency.median_ms if latency else None
        if self.latency_table is not None:  # the latency predicted (or measured on a table miss) at proposal
            latency_ms = self.store.get(job.genome_id).latency_ms  # type: ignore[union-attr]
        ok = evaluation.ok and proxy is not None and latency_ms is not None
        error = None if ok else (evaluation.failure_reason or "evaluation returned no score or latency")
        over = self._deployed_over_limit(job.genome_id, latency_ms) if ok else None
        if over is not None:  # measured, so it counts as an evaluation, but stays off the front
            ok, error = False, over
        self.store.finish(
            job.genome_id,
            status="done" if ok else "failed",
            evaluation=evaluation.to_dict(),
            error=error,
            map=metrics.map50_95 if metrics else None,
            map50=metrics.map50 if metrics else None,
            score=proxy.score if proxy else None,
            latency_ms=latency_ms,
            weights=evaluation.weights_best or evaluation.weights_last,
        )

    def _deployed_over_limit(self, genome_id: str, latency_ms: float | None) -> str | None:
        """The --max-latency-ms violation of a deployed design, judged on its artifact's measured latency."""
        limit = self.config.constraints.max_latency_ms
        if limit is None or latency_ms is None or latency_ms <= limit:
            return None
        candidate = self.store.get(genome_id)  # only a candidate over the limit is looked up
        if candidate is None:
            return None
        genome = ArchGenome.from_json(candidate.genome_json)
        if genome.precision is None:
            return None
        return (
            f"latency {latency_ms:.1f} ms of its {genome.precision} {genome.runtime} artifact > max {limit:.1f} ms "
            "(--max-latency-ms)"
        )

    def best(self) -> tuple[float, float, str] | None:
        done = self.store.candidates("done")
        if not done:
            return None
        scored = [c for c in done if c.score is not None]
        if not scored:
            return None
        top = max(scored, key=lambda c: (c.score, -(c.latency_ms or 0.0)))
        return (float(top.score), top.latency_ms or 0.0, top.genome_id)


class Progress:
    """A one-line live progress bar on a terminal (a line per candidate elsewhere): done, ETA, best so far."""

    def __init__(self, total: int, stream: TextIO | None, *, already: int = 0) -> None:
        self.total, self.stream, self.done, self.start_done = total, stream, already, already
        self.started = time.monotonic()
        self.live = bool(stream is not None and stream.isatty())
        self._draw("starting")

    def note(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(("\n" if self.live else "") + text + "\n")
            self.stream.flush()

    def update(
        self,
        genome_id: str,
        evaluation: Evaluation,
        best: tuple[float, float, str] | None,
        latency_ms: float | None = None,
    ) -> None:
        self.done += 1
        if evaluation.ok and evaluation.proxy and latency_ms is not None:
            name = "mAP" if evaluation.proxy.proxy == "map" else evaluation.proxy.proxy
            last = f"{genome_id} {name} {evaluation.proxy.score:.4g} {latency_ms:.1f} ms"
        else:
            last = f"{genome_id} failed: {(evaluation.failure_reason or '')[:60]}"
        best_text = f"best {best[0]:.4g} @ {best[1]:.1f} ms ({best[2]})" if best else "best -"
        self._draw(f"{best_text} | last {last}")

    def _draw(self, text: str) -> None:
        if self.stream is None:
            return
        elapsed = time.monotonic() - self.started
        finished_here = self.done - self.start_done
        eta = elapsed / finished_here * (self.total - self.done) if finished_here else None
        width = 20
        filled = int(width * min(self.done, self.total) / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        eta_text = f"ETA {_duration(eta)}" if eta is not None else "ETA ?"
        line = f"[{bar}] {self.done}/{self.total} {eta_text} | {text}"
        if self.live:
            self.stream.write("\r\033[K" + line[: shutil.get_terminal_size().columns - 1])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live and self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )
