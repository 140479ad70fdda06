"""The class-head probe on real data with its own classes: detections of the task's classes appear, body untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detnas.designs import yolo11n
from detnas.evaluate.data import load_data_yaml
from detnas.evaluate.head_probe import ProbeSettings, probe_class_head
from detnas.evaluate.metrics import run_validation
from detnas.inherit.candidate import inherit, save_checkpoint
from detnas.inherit.checkpoint import load_parent
from tests.helpers import shared_checkpoint

IMGSZ = 256


def _map(model, data: Path, spec, out: Path, tag: str) -> float:
    weights = save_checkpoint(model, out / f"{tag}.pt")
    metrics = run_validation(
        weights, data, imgsz=IMGSZ, batch=16, device="cpu", save_dir=out / tag, names=spec.names,
        val_images=spec.val_images,
    )  # fmt: skip
    return metrics.map50_95


@pytest.mark.slow
def test_probe_teaches_a_fresh_class_head_and_leaves_the_body(datasets: Path, tmp_path: Path) -> None:
    data = datasets / "coco_indoor4.yaml"
    if not data.is_file():
        pytest.skip(f"{data} is missing")
    spec = load_data_yaml(data)
    model, inheritance = inherit(yolo11n(), [load_parent(shared_checkpoint())], nc=spec.nc, names=spec.names)
    assert inheritance.head_reset
    before = _map(model, data, spec, tmp_path, "inherited")
    body = {k: v.clone() for k, v in model.state_dict().items() if ".cv3." not in k}

    report = probe_class_head(model, data, imgsz=IMGSZ, settings=ProbeSettings(max_images=64))

    after = _map(model, data, spec, tmp_path, "probed")
    assert report.images == 64 and report.cls_loss_last < 0.5 * report.cls_loss_first
    # a fresh head finds (nearly) nothing; the probed one detects the task's classes (0.005 -> 0.16 at 320 px, all
    # 169 images; this smaller run reaches less but far above chance)
    assert before < 0.02 and after > 0.06 and after > 5 * before, (before, after)
    changed = [k for k, v in model.state_dict().items() if k in body and not torch.equal(v, body[k])]
    assert not changed, f"the probe changed the frozen body: {changed[:3]}"


@pytest.mark.slow
def test_one_class_task_is_transferred_end_to_end(coco_mini: Path, tmp_path: Path) -> None:
    """A data set with a single class (coco_mini's people, every other box dropped): the candidate inherits, its fresh
    one-class head is probed, fine-tuned and scored like any other."""
    from detnas.architecture import write_yaml
    from detnas.evaluate.candidate import evaluate_candidate
    from detnas.evaluate.recipe import fine_tune_recipe
    from detnas.evaluate.request import WorkerResult
    from tests.helpers import recast

    data = recast(coco_mini, tmp_path / "data", {0: 0}, ["person"])  # 36 of its 80 train images hold people
    arch = write_yaml(yolo11n().with_imgsz(320), tmp_path / "yolo11n-one-class.yaml")
    evaluation = evaluate_candidate(
        arch, data, fine_tune_recipe(imgsz=320), workdir=tmp_path / "eval", proxy="pretrained",
        parents=[shared_checkpoint()], latency_backend=None,
    )  # fmt: skip
    assert evaluation.status == "ok", evaluation.failure_reason
    inheritance = WorkerResult.from_json(tmp_path / "eval" / "result.json").inheritance
    probe = inheritance["head_probe"]
    assert inheritance["head_reset"] and probe["steps"] >= 200  # 80 images: 5 batches, 40 passes
    assert evaluation.metrics.map50_95 > 0.1, evaluation.metrics  # people are found on the val images
