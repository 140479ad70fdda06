"""Proxy training with Ultralytics' own trainer (runs inside the worker process).

The trainer is Ultralytics' DetectionTrainer with two changes that only save time: no validation during or at the
end of training (we validate once, ourselves, with both metric sources), and a graceful wall-clock stop.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .recipe import Recipe
from .record import EpochLosses


@dataclass
class TrainResult:
    run_dir: Path
    last: Path | None
    best: Path | None
    epochs: list[EpochLosses] = field(default_factory=list)
    stopped_by_time_limit: bool = False


def read_epoch_losses(results_csv: Path) -> list[EpochLosses]:
    """Per-epoch mean training losses from Ultralytics' results.csv ('train/box_loss', ...); non-numbers become NaN."""
    if not results_csv.is_file():
        return []
    epochs = []
    with open(results_csv, newline="") as f:
        for row in csv.DictReader(f):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            losses = {}
            for key, value in row.items():
                if key.startswith("train/"):
                    try:
                        losses[key[len("train/") :].removesuffix("_loss")] = float(value)
                    except ValueError:
                        losses[key[len("train/") :].removesuffix("_loss")] = float("nan")
            epochs.append(
                EpochLosses(
                    epoch=int(float(row.get("epoch", len(epochs) + 1))),
                    box=losses.pop("box", None),
                    cls=losses.pop("cls", None),
                    dfl=losses.pop("dfl", None),
                    extra=losses,
                    elapsed_s=float(row["time"]) if row.get("time") else None,
                )
            )
    return epochs


def first_non_finite(epochs: list[EpochLosses]) -> EpochLosses | None:
    return next((e for e in epochs if not e.finite()), None)


def _proxy_trainer_class():
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.utils.torch_utils import strip_optimizer

    class ProxyTrainer(DetectionTrainer):
        """DetectionTrainer without validation passes; 'fitness' is minus the mean training loss."""

        def validate(self):
            loss = sum(float(v) for v in self.tloss.values()) if self.tloss else float("nan")
            fitness = -loss if math.isfinite(loss) else float("nan")
            if math.isfinite(fitness) and (self.best_fitness is None or fitness > self.best_fitness):
                self.best_fitness = fitness
            return {}, fitness

        def final_eval(self):
            for checkpoint in (self.last, self.best):
                if checkpoint.exists():
                    strip_optimizer(checkpoint)

    return ProxyTrainer


def proxy_train(
    arch_yaml: Path,
    data_yaml: Path,
    recipe: Recipe,
    *,
    project: Path,
    device: str = "cpu",
    name: str = "train",
    init_weights: Path | None = None,
    resume: Path | None = None,
    snapshot: Path | None = None,
) -> TrainResult:
    """Train ``arch_yaml`` on ``data_yaml`` with the recipe; raises on any training fault.

    From scratch by default; ``init_weights`` (a checkpoint of the same architecture, e.g. inherited from a parent)
    sets the starting weights; ``resume`` (an unfinished run's checkpoint) continues that run where it stopped.
    ``snapshot``: after every epoch's save, an atomic copy of last.pt goes there. Ultralytics writes last.pt in
    place, so a run killed during that write leaves it truncated; the snapshot is always a whole checkpoint.
    """
    from ultralytics import YOLO

    state = {"stopped": False}
    if resume is not None:
        model = YOLO(str(resume), task="detect")
    else:
        model = YOLO(str(arch_yaml), task="detect")
        if init_weights is not None:
            # The starting network itself, not the YAML with weights copied in: the YAML's Detect head is built for
            # its own class count, so on data with other classes Model.load would drop every class-branch weight
            # whose width depends on it (YOLO11n: hidden 80 for 80 classes, 64 for 4) and train those from random.
            model = YOLO(str(init_weights), task="detect")
    if recipe.time_limit_s is not None:
        limit = float(recipe.time_limit_s)

        def stop_when_time_is_up(trainer) -> None:
            if time.time() - trainer.train_time_start > limit and not trainer.stop:
                trainer.stop = True
                state["stopped"] = True

        model.add_callback("on_train_batch_end", stop_when_time_is_up)

    if snapshot is not None:

        def copy_checkpoint(trainer) -> None:
            partial = snapshot.with_name(snapshot.name + ".partial")
            shutil.copyfile(trainer.last, partial)
            os.replace(partial, snapshot)

        model.add_callback("on_model_save", copy_checkpoint)
    if resume is not None:
        model.train(trainer=_proxy_trainer_class(), resume=True)
    else:
        _train_new(model, data_yaml, recipe, project, device, name, pretrained=init_weights is not None)
    trainer = model.trainer
    run_dir = Path(trainer.save_dir)
    return TrainResult(
        run_dir=run_dir,
        last=Path(trainer.last) if Path(trainer.last).exists() else None,
        best=Path(trainer.best) if Path(trainer.best).exists() else None,
        epochs=read_epoch_losses(run_dir / "results.csv"),
        stopped_by_time_limit=state["stopped"],
    )


def _train_new(
    model, data_yaml: Path, recipe: Recipe, project: Path, device: str, name: str, *, pretrained: bool
) -> None:
    model.train(
        trainer=_proxy_trainer_class(),
        data=str(data_yaml),
        device=device,
        project=str(project),
        name=name,
        exist_ok=True,
        plots=False,
        val=False,
        verbose=False,
        amp=device != "cpu",
        patience=10**6,
        pretrained=pretrained,  # False makes Ultralytics drop weights loaded with Model.load
        fraction=1.0,
        **recipe.train_kwargs(),
    )
