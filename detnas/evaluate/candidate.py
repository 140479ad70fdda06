"""evaluate_candidate: the one call a search makes per candidate.

Data is prepared and checked here (caller faults raise InputError); build, training, validation and latency run in
a child process in its own process group, so a crash, an out-of-memory kill, a NaN loss or a hang becomes a failed
Evaluation with its reason while the search process carries on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import detnas
from detnas.architecture import arch_sha256, load_arch_yaml
from detnas.errors import InputError
from detnas.genome import check_design_imgsz

from .data import prepare_data
from .deployed import design_deployment
from .environment import environment_info
from .latency import (
    BACKENDS,
    DEFAULT_RUNS,
    DEFAULT_THREADS,
    DEFAULT_WARMUP,
    LatencyCache,
    LatencySettings,
    cache_key,
    default_cache_path,
)
from .recipe import Recipe
from .record import PHASES, Evaluation, LatencyRecord
from .request import EvaluationRequest, WorkerResult
from .training import read_epoch_losses

KILL_GRACE_S = 5.0


def _at_design_size(recipe: Recipe, arch: dict[str, Any], path: Path) -> Recipe:
    """A design searched at its own input size (``imgsz:`` in its YAML) is trained, scored and timed at that size,
    which must be one the search space allows (``detnas.genome.check_design_imgsz``, as for the ``imgsz`` gene)."""
    size = arch.get("imgsz")
    if size is None:
        return recipe
    try:
        check_design_imgsz(size)
    except ValueError as exc:
        raise InputError(f"architecture YAML {path}: {exc}") from None
    return replace(recipe, imgsz=size)


def default_timeout(recipe: Recipe) -> float | None:
    """Hard timeout when none is given: generous over the recipe's own time limit, none without one."""
    return None if recipe.time_limit_s is None else 1.5 * recipe.time_limit_s + 600


def _signal_text(returncode: int) -> str:
    if returncode >= 0:
        return f"worker exited with code {returncode} without writing a result"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = " (often the out-of-memory killer)" if -returncode == signal.SIGKILL else ""
    return f"worker killed by {name}{hint}"


def _kill_group(proc: subprocess.Popen) -> None:
    """Terminate the worker and everything it started (dataloader workers, exporters), then kill what is left."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            if sig == signal.SIGKILL:
                return
        except subprocess.TimeoutExpired:
            continue
    # SIGTERM may have ended the leader while children linger: make sure the group is gone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _run_worker(request_path: Path, log_path: Path, timeout_s: float | None, cwd: Path) -> tuple[int | None, bool]:
    """Run the worker; return (returncode, timed_out)."""
    env = dict(os.environ)
    env.setdefault("YOLO_OFFLINE", "1")
    env.setdefault("YOLO_AUTOINSTALL", "false")
    env.setdefault("YOLO_VERBOSE", "false")
    env["PYTHONUNBUFFERED"] = "1"
    package_root = str(Path(detnas.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "detnas.evaluate.worker", str(request_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,  # own process group: a timeout kills the whole tree
        )
        try:
            return proc.wait(timeout=timeout_s), False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return proc.returncode, True
        except BaseException:  # KeyboardInterrupt in the search: do not leave an orphan training run
            _kill_group(proc)
            raise


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(line.strip()[:200] for line in text[-lines:])


def _parent_paths(parents: str | Path | Sequence[str | Path] | None) -> tuple[Path, ...]:
    """Resolved, each once (in the order given): the worker loads every parent it is handed."""
    if parents is None:
        return ()
    items = [parents] if isinstance(parents, str | Path) else list(parents)
    return tuple(dict.fromkeys(Path(p).expanduser().resolve() for p in items))


def evaluate_candidate(
    arch_yaml: str | Path,
    data: str | Path,
    recipe: Recipe,
    *,
    workdir: str | Path,
    device: str = "cpu",
    latency_backend: str | None = "torch",
    timeout_s: float | None = None,
    latency_threads: int = DEFAULT_THREADS,
    latency_warmup: int = DEFAULT_WARMUP,
    latency_runs: int = DEFAULT_RUNS,
    latency_cache: str | Path | None = None,
    genome_id: str | None = None,
    check_data: bool = True,
    proxy: str = "map",
    parents: str | Path | Sequence[str | Path] | None = None,
    measure_map: bool | None = None,
) -> Evaluation:
    """Train, validate and time one candidate architecture; never raises for faults of the candidate.

    Args:
        arch_yaml: Ultralytics model YAML of the candidate.
        data: Ultralytics detection data YAML (its train split is subset by ``recipe``).
        recipe: the proxy training recipe.
        workdir: folder for this candidate (derived data lists, Ultralytics run, weights, logs, evaluation.json).
        device: training/validation device ('cpu', '0', ...); latency runs on the same device (onnx: CPU only).
        latency_backend: 'torch', 'onnx', or None to skip latency.
        timeout_s: hard wall-clock limit of the child process; default from ``recipe.time_limit_s`` (else none).
        latency_cache: JSON cache file; default ``$DETNAS_LATENCY_CACHE`` or ``~/.cache/detnas/latency.json``.
        genome_id: optional id of the genome the YAML came from, stored in the record.
        check_data: scan image headers and label files of the chosen images up front.
        proxy: the score to compute (``detnas.proxies.PROXIES``); training-free proxies skip training.
        parents: checkpoint(s) or parent folder(s) the inheriting proxies start candidates from.
        measure_map: validate (mAP) after training even when the proxy does not read mAP (None: the proxy decides).

    Raises:
        InputError: the architecture file is missing/unparseable, or the data is bad (not the candidate's fault).
    """
    from detnas.proxies import get_proxy

    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    arch_yaml = Path(arch_yaml).expanduser().resolve()
    arch = load_arch_yaml(arch_yaml)
    recipe = _at_design_size(recipe, arch, arch_yaml)
    design_deployment(arch, arch_yaml)  # a bad precision/runtime pair is the YAML's fault, not the candidate's
    parents = _parent_paths(parents)
    if get_proxy(proxy).inherits:
        if not parents:
            raise InputError(
                f"proxy {proxy!r} needs parent checkpoints: pass --parent with COCO-trained .pt files "
                "(e.g. yolo11n.pt) or the folder of 'detnas parent train'"
            )
        missing = [str(p) for p in parents if not p.exists()]
        if missing:
            raise InputError(f"parent {missing[0]} does not exist: pass an existing checkpoint or parent folder")
    if latency_backend is not None and latency_backend not in BACKENDS:
        raise ValueError(f"latency_backend must be one of {BACKENDS} or None, got {latency_backend!r}")
    workdir = Path(workdir).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    sha = arch_sha256(arch_yaml)
    prepared = prepare_data(data, recipe, workdir / "data", check=check_data)

    evaluation = Evaluation(
        status="failed",
        arch_yaml=str(arch_yaml),
        arch_sha256=sha,
        data=str(prepared.source_yaml),
        recipe=recipe,
        device=device,
        genome_id=genome_id,
        train_images=len(prepared.train_images),
        val_images=len(prepared.val_images),
        subset_sha256=prepared.subset_sha256,
        workdir=str(workdir),
        log_file=str(workdir / "worker.log"),
        environment=environment_info(),
        started_at=started_at,
    )

    cache = None
    cached: LatencyRecord | None = None
    key = ""
    latency_device = "cpu" if latency_backend == "onnx" else device
    if latency_backend is not None:
        cache = LatencyCache(latency_cache or default_cache_path())
        key = cache_key(sha, prepared.nc, recipe.imgsz, latency_backend, latency_device, latency_threads)
        cached = cache.get(key)

    request = EvaluationRequest(
        arch_yaml=arch_yaml,
        data_yaml=prepared.data_yaml,
        recipe=recipe,
        imgsz=recipe.imgsz,
        workdir=workdir,
        names=dict(prepared.names),
        val_list=prepared.data_yaml.parent / "val.txt",
        progress=workdir / "progress.json",
        result=workdir / "result.json",
        device=device,
        coco_annotations=tuple(prepared.coco_annotations),
        latency=None
        if latency_backend is None or cached is not None
        else LatencySettings(latency_backend, latency_threads, latency_warmup, latency_runs, latency_device),
        latency_key=key,
        proxy=proxy,
        parents=parents,
        measure_map=measure_map,
    )
    for path in (request.progress, request.result):
        path.unlink(missing_ok=True)
    request_path = workdir / "request.json"
    request.to_json(request_path)

    timeout = timeout_s if timeout_s is not None else default_timeout(recipe)
    returncode, timed_out = _run_worker(request_path, workdir / "worker.log", timeout, workdir)
    result = WorkerResult.read(request.result)
    if result is None:  # killed or crashed hard: recover what the progress file and run folder say
        result = WorkerResult.read(request.progress) or WorkerResult()
        phase = result.phase or "startup"
        if result.phase and result.phase_started:  # time the unfinished phase up to its end
            result.phase_seconds[phase] = round(time.time() - float(result.phase_started), 4)
        if timed_out:
            reason = f"timeout: killed after {timeout:g} s (hard limit) during phase '{phase}'"
        else:
            tail = _log_tail(workdir / "worker.log")
            reason = f"{_signal_text(returncode if returncode is not None else -1)} during phase '{phase}'"
            reason += f"; log: {tail}" if tail else ""
        result.status, result.failure_phase, result.failure_reason = "failed", phase, reason
        if result.run_dir is None:
            result.run_dir = str(workdir / "train")
        if result.epochs is None:
            result.epochs = read_epoch_losses(workdir / "train" / "results.csv")

    evaluation.status = "ok" if result.status == "ok" else "failed"
    evaluation.failure_phase = result.failure_phase if evaluation.status == "failed" else None
    evaluation.failure_reason = result.failure_reason if evaluation.status == "failed" else None
    evaluation.epochs = list(result.epochs or [])
    evaluation.epochs_completed = len(evaluation.epochs)
    evaluation.stopped_by_time_limit = result.stopped_by_time_limit
    evaluation.metrics = result.metrics
    evaluation.proxy = result.proxy
    evaluation.cost = result.cost
    evaluation.deployment = result.deployment
    evaluation.run_dir = result.run_dir
    evaluation.weights_best = result.weights_best
    evaluation.weights_last = result.weights_last
    if evaluation.status == "ok" and latency_backend is not None:
        if cached is not None:
            evaluation.latency = cached
        elif result.latency is not None:
            evaluation.latency = result.latency
            if cache is not None:
                cache.put(evaluation.latency)

    phases = {p: float(result.phase_seconds.get(p, 0.0)) for p in PHASES if p != "other"}
    evaluation.total_seconds = round(time.perf_counter() - started, 4)
    phases["other"] = max(0.0, evaluation.total_seconds - sum(phases.values()))
    evaluation.phase_seconds = {k: round(v, 4) for k, v in phases.items()}
    evaluation.to_json(workdir / "evaluation.json")
    return evaluation
