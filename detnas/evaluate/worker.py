"""Child-process entry: ``python -m detnas.evaluate.worker REQUEST.json``.

Runs build -> train -> validate -> latency for one candidate and writes RESULT.json. Progress (current phase, phase
times) is rewritten after every phase, so that when the parent has to kill this process on a timeout, or the kernel
kills it for memory, the parent still knows where it died and what it had finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from detnas.proxies import Measurements, Proxy


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first[:300]}" if first else type(error).__name__


class _Run:
    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        self.progress_path = Path(request["progress"])
        self.result: dict[str, Any] = {"status": "running", "phase": None, "phase_seconds": {}}

    def save(self) -> None:
        _write_json(self.progress_path, self.result)

    def phase(self, name: str):
        run = self

        class _Phase:
            def __enter__(self):
                run.result["phase"] = name
                run.result["phase_started"] = time.time()  # lets the parent time a phase it had to kill
                run.save()
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                run.result["phase_seconds"][name] = round(time.perf_counter() - self.t0, 4)
                run.save()
                return False

        return _Phase()


FREE_BATCH, FREE_BATCHES = 8, 4  # training-free scores: four batches of eight real training images


# BatchNorm re-estimation after inheriting: 32 real training images at the size the COCO checkpoints were trained at
# (statistics taken at 320 px cost the unchanged YOLO11n 0.08 mAP50-95 at 320; at 640, 0.02)
BN_BATCH, BN_BATCHES, BN_IMGSZ = 8, 4, 640
REC_IMAGES, REC_IMGSZ = 32, 416  # reconstruction: 32 images at 416 px kept 0.237 mAP where 640 px kept 0.241


def _inherit(state: _Run, request: dict[str, Any], recipe, spec: dict[str, Any], names: dict[int, str]) -> Path:
    """Inherit from the parents; refit sliced layers to the parent's outputs on real training images (and re-estimate
    BatchNorm where layers start fresh); save ``inherited.pt``."""
    with state.phase("inherit"):
        from detnas.architecture import genome_from_yaml
        from detnas.inherit.candidate import inherit, reestimate_bn, save_checkpoint
        from detnas.inherit.checkpoint import load_parent
        from detnas.proxies.training_free import real_batches

        paths = spec.get("parents") or ([spec["parent_weights"]] if spec.get("parent_weights") else [])
        if not paths:
            raise ValueError(f"proxy {spec['name']!r} needs parent checkpoints (--parent)")
        parents = [load_parent(p) for p in paths]
        genome = genome_from_yaml(request["arch_yaml"])
        data_yaml = Path(request["data_yaml"])

        def images():
            return real_batches(data_yaml, imgsz=REC_IMGSZ, batch=REC_IMAGES, count=1, seed=recipe.seed)[0]["img"]

        model, inheritance = inherit(genome, parents, nc=len(names), names=names, seed=recipe.seed, images=images)
        seen = 0
        if "fresh" in inheritance.methods or inheritance.head_reset:  # layers no parent fills: real statistics
            batches = real_batches(data_yaml, imgsz=BN_IMGSZ, batch=BN_BATCH, count=BN_BATCHES, seed=recipe.seed)
            seen = reestimate_bn(model, [b["img"] for b in batches])
        out = save_checkpoint(model, Path(request["workdir"]) / "inherited.pt")
        state.result["inheritance"] = inheritance.to_dict() | {"bn_images": seen, "parents": [str(p) for p in paths]}
        return out


def _validate(state: _Run, request: dict[str, Any], recipe, weights: Path, names: dict[int, str], device: str):
    with state.phase("validate"):
        from .metrics import run_validation

        workdir = Path(request["workdir"])
        val_images = [Path(p) for p in Path(request["val_list"]).read_text().splitlines() if p]
        metrics = run_validation(
            weights,
            Path(request["data_yaml"]),
            imgsz=recipe.imgsz,
            batch=recipe.val_batch,
            device=device,
            save_dir=workdir / "val",
            names=names,
            val_images=val_images,
            coco_annotations=[Path(p) for p in request.get("coco_annotations", [])],
        )
        state.result["metrics"] = asdict(metrics)
        return metrics


def _inherited(state: _Run) -> dict[str, Any]:
    """The inheritance figures a score records (none when the candidate inherited nothing)."""
    inheritance = state.result.get("inheritance")
    if inheritance is None:
        return {}
    return {"inherited_fraction": inheritance["fraction"], "parent": inheritance["parent"]}


def _score(state: _Run, proxy: Proxy, measurements: Measurements) -> None:
    """The proxy reads its score off the measurements (``detnas.proxies``)."""
    scored = proxy.score(measurements)
    state.result["proxy"] = {"proxy": proxy.name, "score": scored.value, "details": scored.details}


def _inherit_and_validate(state: _Run, request: dict[str, Any], recipe, proxy, spec, names, device: str) -> Path:
    """The zero-fine-tune score: inherit, validate; the inherited weights are the result."""
    weights = _inherit(state, request, recipe, spec, names)
    metrics = _validate(state, request, recipe, weights, names, device)
    state.result.update(weights_last=str(weights), weights_best=None, epochs=[])
    with state.phase("score"):
        _score(state, proxy, Measurements(map50_95=metrics.map50_95, **_inherited(state)))
    return weights


def _train_and_validate(state: _Run, request: dict[str, Any], recipe, proxy, spec, names, device: str):
    """The training proxies: (inherit ->) train -> validate (-> validation loss) -> score; returns the run."""
    from .training import first_non_finite, proxy_train

    result = state.result
    workdir = Path(request["workdir"])
    arch_yaml, data_yaml = Path(request["arch_yaml"]), Path(request["data_yaml"])
    init_weights = _inherit(state, request, recipe, spec, names) if proxy.inherits else None

    with state.phase("train"):
        trained = proxy_train(arch_yaml, data_yaml, recipe, project=workdir, device=device, init_weights=init_weights)
        result.update(
            run_dir=str(trained.run_dir),
            weights_last=str(trained.last) if trained.last else None,
            weights_best=str(trained.best) if trained.best else None,
            epochs=[asdict(e) for e in trained.epochs],
            stopped_by_time_limit=trained.stopped_by_time_limit,
        )
        bad = first_non_finite(trained.epochs)
        if bad is not None:
            values = ", ".join(f"{k}={v}" for k, v in asdict(bad).items() if k in {"box", "cls", "dfl"})
            raise FloatingPointError(f"non-finite training loss in epoch {bad.epoch} ({values})")
        if trained.last is None:
            raise RuntimeError(f"training wrote no weights ({trained.run_dir / 'weights' / 'last.pt'} missing)")

    metrics = None
    if proxy.needs_map or spec.get("measure_map"):
        metrics = _validate(state, request, recipe, trained.last, names, device)

    with state.phase("score"):
        loss = None
        if proxy.needs_val_loss:
            from detnas.proxies.val_loss import validation_loss

            loss = validation_loss(trained.last, data_yaml, imgsz=recipe.imgsz, device=device)
        measurements = Measurements(
            epoch_losses=tuple(sum(e.values()) for e in trained.epochs),
            map50_95=None if metrics is None else metrics.map50_95,
            val_loss=loss,
            **_inherited(state),
        )
        _score(state, proxy, measurements)
    return trained


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one candidate as the request says; faults become status 'failed' with the phase and reason."""
    from .recipe import Recipe

    recipe = Recipe.from_dict(request["recipe"])
    workdir = Path(request["workdir"])
    arch_yaml, data_yaml = Path(request["arch_yaml"]), Path(request["data_yaml"])
    names = {int(k): v for k, v in request["names"].items()}
    device = request.get("device", "cpu")
    state = _Run(request)
    result = state.result
    try:
        import torch  # noqa: F401 - imported before the clock starts: interpreter start-up counts as 'other'
        import ultralytics  # noqa: F401

        with state.phase("build"):
            from detnas.architecture import build_model
            from detnas.cost import model_cost

            model = build_model(arch_yaml, len(names))
            result["cost"] = asdict(model_cost(model, imgsz=recipe.imgsz, fused=True))
            del model

        from detnas.proxies import get_proxy

        spec = request.get("proxy") or {"name": "map"}
        proxy = get_proxy(spec["name"])
        latency_source = arch_yaml
        if proxy.inherits and not proxy.trains:
            latency_source = _inherit_and_validate(state, request, recipe, proxy, spec, names, device)
        elif proxy.training_free:
            with state.phase("score"):
                from detnas.proxies.training_free import real_batches, training_free_score

                batches = real_batches(
                    data_yaml, imgsz=recipe.imgsz, batch=FREE_BATCH, count=FREE_BATCHES, seed=recipe.seed
                )
                score = training_free_score(proxy.name, arch_yaml, len(names), batches, seed=recipe.seed)
                measurements = Measurements(training_free=score, free_batches=len(batches), free_batch=FREE_BATCH)
                _score(state, proxy, measurements)
        else:
            trained = _train_and_validate(state, request, recipe, proxy, spec, names, device)
            latency_source = trained.last

        latency = request.get("latency")
        if latency:
            with state.phase("latency"):
                from .latency import measure_latency

                record = measure_latency(
                    latency_source,
                    imgsz=recipe.imgsz,
                    backend=latency["backend"],
                    threads=latency["threads"],
                    warmup=latency["warmup"],
                    runs=latency["runs"],
                    device=latency.get("device", "cpu"),
                    workdir=workdir / "latency",
                    key=latency.get("key", ""),
                    nc=len(names),
                )
                result["latency"] = asdict(record)
        result["status"] = "ok"
    except Exception as error:  # noqa: BLE001 - every candidate fault must become a record, not a crash
        result.update(
            status="failed",
            failure_phase=result.get("phase"),
            failure_reason=_reason(error),
            traceback=traceback.format_exc(),
        )
        traceback.print_exc()
    result["phase"] = None
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
    request = json.loads(Path(argv[0]).read_text())
    result = run(request)
    _write_json(Path(request["result"]), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
