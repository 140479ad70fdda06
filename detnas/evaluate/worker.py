"""Child-process entry: ``python -m detnas.evaluate.worker REQUEST.json``.

Runs build -> train -> validate -> latency for one candidate and writes RESULT.json. Progress (current phase, phase
times) is rewritten after every phase, so that when the parent has to kill this process on a timeout, or the kernel
kills it for memory, the parent still knows where it died and what it had finished.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detnas.proxies import Measurements, Proxy

from .record import Metrics, ProxyScore
from .request import EvaluationRequest, WorkerResult

if TYPE_CHECKING:
    from .training import TrainResult


def _write_json(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first[:300]}" if first else type(error).__name__


class _Run:
    def __init__(self, request: EvaluationRequest) -> None:
        self.request = request
        self.result = WorkerResult()
        self.deployment: tuple[str, str] | None = None  # (precision, runtime) of a design with deploy genes
        self.artifact: Path | None = None  # its deployed artifact, once exported

    def save(self) -> None:
        _write_json(self.request.progress, self.result.to_json())

    def phase(self, name: str):
        run = self

        class _Phase:
            def __enter__(self):
                run.result.phase = name
                run.result.phase_started = time.time()  # lets the parent time a phase it had to kill
                run.save()
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                run.result.phase_seconds[name] = round(time.perf_counter() - self.t0, 4)
                run.save()
                return False

        return _Phase()


FREE_BATCH, FREE_BATCHES = 8, 4  # training-free scores: four batches of eight real training images


# BatchNorm re-estimation after inheriting: 32 real training images at the size the COCO checkpoints were trained at
# (statistics taken at 320 px cost the unchanged YOLO11n 0.08 mAP50-95 at 320; at 640, 0.02)
BN_BATCH, BN_BATCHES, BN_IMGSZ = 8, 4, 640
REC_IMAGES, REC_IMGSZ = 32, 416  # reconstruction: 32 images at 416 px kept 0.237 mAP where 640 px kept 0.241


def _inherit(state: _Run) -> Path:
    """Inherit from the parents (each checkpoint loaded once) by importance slicing / Net2Net growth from the one that
    covers most of the candidate; if any layer was sliced, refit the inherited convolutions to that parent's outputs
    on real training images (least-squares reconstruction, REC_IMAGES at REC_IMGSZ); if a layer starts fresh,
    re-estimate every BatchNorm's statistics on real images (BN_* below); when the recipe says so (by default: the
    data's classes are not the parent's), probe the class head on frozen features; save ``inherited.pt``."""
    request = state.request
    with state.phase("inherit"):
        from detnas.architecture import genome_from_yaml
        from detnas.inherit.candidate import inherit, reestimate_bn, save_checkpoint
        from detnas.inherit.checkpoint import load_parent
        from detnas.proxies.training_free import real_batches

        if not request.parents:
            raise ValueError(f"proxy {request.proxy!r} needs parent checkpoints (--parent)")
        parents = [load_parent(p) for p in request.parents]
        genome = genome_from_yaml(request.arch_yaml)
        seed = request.recipe.seed

        def images():
            return real_batches(request.data_yaml, imgsz=REC_IMGSZ, batch=REC_IMAGES, count=1, seed=seed)[0]["img"]

        names = request.names
        model, inheritance = inherit(genome, parents, nc=len(names), names=names, seed=seed, images=images)
        seen = 0
        # Layers no parent fills: real statistics. A reset class head alone needs none: its fresh final convolutions
        # have no BatchNorm, and statistics taken on a few images of a narrow task cost the body accuracy
        # (coco_indoor4, YOLO11n at 320 after the probe: 0.136 mAP50-95 with them, 0.162 without)
        if "fresh" in inheritance.methods:
            batches = real_batches(request.data_yaml, imgsz=BN_IMGSZ, batch=BN_BATCH, count=BN_BATCHES, seed=seed)
            seen = reestimate_bn(model, [b["img"] for b in batches])
        parent_paths = [str(p) for p in request.parents]
        state.result.inheritance = inheritance.to_dict() | {"bn_images": seen, "parents": parent_paths}
        out = request.workdir / "inherited.pt"
        sliced = inheritance.reconstruction is not None
        distills = request.recipe.distills(sliced, inheritance.head_reset)
        if not request.recipe.probes_head(inheritance.head_reset) and not distills:
            return save_checkpoint(model, out)
    if distills:
        with state.phase("distill"):  # the child learns its parent's class and box outputs on the training images
            from detnas.evaluate.distill import DistillSettings, distill

            teacher = next(p for p in parents if Path(p.path).name == inheritance.parent)
            settings = DistillSettings(epochs=request.recipe.distill_epochs, batch=request.recipe.batch, seed=seed)
            report = distill(
                model,
                teacher.model,
                request.data_yaml,
                imgsz=request.imgsz,
                settings=settings,
                distill_classes=not inheritance.head_reset,
                device=request.device,
            )
            state.result.inheritance = state.result.inheritance | {"distillation": report.to_dict()}
        if not request.recipe.probes_head(inheritance.head_reset):
            return save_checkpoint(model, out)
    with state.phase("probe"):  # the fresh class branches learn on cached features of the frozen network
        from detnas.evaluate.head_probe import ProbeSettings, probe_class_head

        recipe = request.recipe
        settings = ProbeSettings(epochs=recipe.probe_epochs, lr=recipe.probe_lr)
        report = probe_class_head(model, request.data_yaml, imgsz=request.imgsz, seed=seed, settings=settings)
        state.result.inheritance = state.result.inheritance | {"head_probe": report.to_dict()}
        return save_checkpoint(model, out)


def _deploy(state: _Run, weights: Path) -> Path:
    """Export the weights as the design is deployed (its runtime, at its precision; INT8 calibrated on seeded images
    of the candidate's training subset) once; returns the artifact."""
    if state.artifact is not None:
        return state.artifact
    assert state.deployment is not None
    request, (precision, runtime) = state.request, state.deployment
    with state.phase("deploy"):
        from .deployed import export_deployable

        deployed = export_deployable(
            weights,
            runtime=runtime,
            precision=precision,
            imgsz=request.imgsz,
            out=request.workdir / "deployed",
            data=request.data_yaml,
            seed=request.recipe.seed,
        )
        calibration = deployed.calibration
        state.result.deployment = {
            "runtime": runtime,
            "precision": precision,
            "artifact": str(deployed.path),
            "record": str(deployed.record),
            "source": deployed.source,
            "calibration": None
            if calibration is None
            else {k: calibration[k] for k in ("data", "split", "seed", "count", "chosen_by")},
        }
        state.artifact = deployed.path
        return deployed.path


def _validate(state: _Run, weights: Path) -> Metrics:
    """mAP of the weights; for a design with deploy genes, of its deployed artifact's own detections."""
    request = state.request
    artifact = _deploy(state, weights) if state.deployment is not None else None
    with state.phase("validate"):
        from .metrics import run_validation

        val_images = [Path(p) for p in request.val_list.read_text().splitlines() if p]
        settings = {
            "names": request.names,
            "val_images": val_images,
            "coco_annotations": list(request.coco_annotations),
            "save_dir": request.workdir / "val",
        }
        if artifact is not None:  # static batch 1, on CPU; OpenVINO in float32 inference precision
            from .deployed import validate_deployed

            metrics = validate_deployed(artifact, request.data_yaml, imgsz=request.imgsz, **settings)
        else:
            metrics = run_validation(
                weights,
                request.data_yaml,
                imgsz=request.imgsz,
                batch=request.recipe.val_batch,
                device=request.device,
                **settings,
            )
        state.result.metrics = metrics
        return metrics


def _inherited(state: _Run) -> dict[str, Any]:
    """The inheritance figures a score records (none when the candidate inherited nothing)."""
    inheritance = state.result.inheritance
    if inheritance is None:
        return {}
    return {"inherited_fraction": inheritance["fraction"], "parent": inheritance["parent"]}


def _score(state: _Run, proxy: Proxy, measurements: Measurements) -> None:
    scored = proxy.score(measurements)
    state.result.proxy = ProxyScore(proxy=proxy.name, score=scored.value, details=scored.details)


def _inherit_and_validate(state: _Run, proxy: Proxy) -> Path:
    """The zero-fine-tune score: inherit, validate; the inherited weights are the result."""
    weights = _inherit(state)
    metrics = _validate(state, weights)
    state.result.weights_last, state.result.weights_best, state.result.epochs = str(weights), None, []
    with state.phase("score"):
        _score(state, proxy, Measurements(map50_95=metrics.map50_95, **_inherited(state)))
    return weights


def _train_and_validate(state: _Run, proxy: Proxy) -> TrainResult:
    """The training proxies: (inherit ->) train -> validate (-> validation loss) -> score; returns the run."""
    from .training import first_non_finite, proxy_train

    request, result = state.request, state.result
    init_weights = _inherit(state) if proxy.inherits else None

    with state.phase("train"):
        trained = proxy_train(
            request.arch_yaml,
            request.data_yaml,
            request.recipe,
            project=request.workdir,
            device=request.device,
            init_weights=init_weights,
        )
        result.run_dir = str(trained.run_dir)
        result.weights_last = str(trained.last) if trained.last else None
        result.weights_best = str(trained.best) if trained.best else None
        result.epochs = list(trained.epochs)
        result.stopped_by_time_limit = trained.stopped_by_time_limit
        bad = first_non_finite(trained.epochs)
        if bad is not None:
            values = ", ".join(f"{k}={v}" for k, v in asdict(bad).items() if k in {"box", "cls", "dfl"})
            raise FloatingPointError(f"non-finite training loss in epoch {bad.epoch} ({values})")
        if trained.last is None:
            raise RuntimeError(f"training wrote no weights ({trained.run_dir / 'weights' / 'last.pt'} missing)")

    metrics = None
    if proxy.needs_map or request.measure_map:
        metrics = _validate(state, trained.last)

    with state.phase("score"):
        loss = None
        if proxy.needs_val_loss:
            from detnas.proxies.val_loss import validation_loss

            loss = validation_loss(trained.last, request.data_yaml, imgsz=request.imgsz, device=request.device)
        measurements = Measurements(
            epoch_losses=tuple(sum(e.values()) for e in trained.epochs),
            map50_95=None if metrics is None else metrics.map50_95,
            val_loss=loss,
            **_inherited(state),
        )
        _score(state, proxy, measurements)
    return trained


def _training_free(state: _Run, proxy: Proxy) -> None:
    request = state.request
    with state.phase("score"):
        from detnas.proxies.training_free import real_batches, training_free_score

        seed = request.recipe.seed
        batches = real_batches(request.data_yaml, imgsz=request.imgsz, batch=FREE_BATCH, count=FREE_BATCHES, seed=seed)
        score = training_free_score(proxy.name, request.arch_yaml, len(request.names), batches, seed=seed)
        _score(state, proxy, Measurements(training_free=score, free_batches=len(batches), free_batch=FREE_BATCH))


def run(request: EvaluationRequest) -> WorkerResult:
    """Evaluate one candidate as the request says; faults become status 'failed' with the phase and reason."""
    state = _Run(request)
    result = state.result
    try:
        import torch  # noqa: F401 - imported before the clock starts: interpreter start-up counts as 'other'
        import ultralytics  # noqa: F401

        with state.phase("build"):
            from detnas.architecture import build_model, load_arch_yaml
            from detnas.cost import model_cost

            from .deployed import design_deployment, require_runtime

            state.deployment = design_deployment(load_arch_yaml(request.arch_yaml), request.arch_yaml)
            if state.deployment is not None:  # before any training: a runtime not installed fails at once
                require_runtime(state.deployment[1], state.deployment[0])
            model = build_model(request.arch_yaml, len(request.names))
            result.cost = model_cost(model, imgsz=request.imgsz, fused=True)
            del model

        from detnas.proxies import get_proxy

        proxy = get_proxy(request.proxy)
        latency_source = request.arch_yaml
        if proxy.inherits and not proxy.trains:
            latency_source = _inherit_and_validate(state, proxy)
        elif proxy.training_free:
            _training_free(state, proxy)
        else:
            latency_source = _train_and_validate(state, proxy).last

        latency = request.latency
        if latency is not None:
            backend, device = latency.backend, latency.device
            if state.deployment is not None:  # the deployed artifact on its own runtime
                from .deployed import LATENCY_BACKEND

                if Path(latency_source).suffix != ".pt":
                    raise ValueError(f"proxy {proxy.name!r} trains no weights to deploy at a precision")
                latency_source = _deploy(state, Path(latency_source))
                backend, device = LATENCY_BACKEND[state.deployment[1]], "cpu"
            with state.phase("latency"):
                from .latency import measure_latency

                result.latency = measure_latency(
                    latency_source,
                    imgsz=request.imgsz,
                    backend=backend,
                    threads=latency.threads,
                    warmup=latency.warmup,
                    runs=latency.runs,
                    device=device,
                    workdir=request.workdir / "latency",
                    key=request.latency_key,
                    nc=len(request.names),
                )
        result.status = "ok"
    except Exception as error:  # noqa: BLE001 - every candidate fault must become a record, not a crash
        result.status = "failed"
        result.failure_phase = result.phase
        result.failure_reason = _reason(error)
        result.traceback = traceback.format_exc()
        traceback.print_exc()
    result.phase = None
    return result


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent dies: a search killed with kill -9 must not leave an orphan
    training run writing into the folder that ``--resume`` re-uses for the interrupted candidate."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    if len(argv) != 1:
        print("usage: python -m detnas.evaluate.worker REQUEST.json", file=sys.stderr)
        return 2
    request = EvaluationRequest.from_json(Path(argv[0]))
    result = run(request)
    _write_json(request.result, result.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
