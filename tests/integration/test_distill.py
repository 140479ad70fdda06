"""Distillation from the parent recovers detections a sliced network lost, on images it never trained on; `detnas
train --teacher` runs it end to end; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from detnas.designs import thinned
from detnas.evaluate.distill import DistillSettings, distill
from detnas.inherit.candidate import inherit, save_checkpoint
from detnas.inherit.checkpoint import load_parent
from detnas.inherit.divergence import divergence
from detnas.inherit.retention import retention
from detnas.proxies.training_free import real_batches
from detnas.proxies.val_loss import letterboxed_dataset
from tests.helpers import detnas, shared_checkpoint

pytestmark = pytest.mark.slow
SIZE = 320


@pytest.fixture(scope="module")
def parent():
    return load_parent(shared_checkpoint("yolo11n.pt"))


@pytest.fixture(scope="module")
def thinned_child(parent, coco_mini):
    """YOLO11n at width 0.75 after slicing and reconstruction (train2017 images of coco_mini)."""
    fit = real_batches(coco_mini, imgsz=SIZE, batch=32, count=1, seed=0)[0]["img"]
    slim = thinned(parent.genome, width=0.75)
    model, _ = inherit(slim, [parent], nc=80, names=parent.model.names, images=lambda: fit)
    return model


def test_distillation_brings_back_detections_on_unseen_images(parent, thinned_child, coco_mini):
    dataset = letterboxed_dataset(coco_mini, "val", imgsz=SIZE, batch=24)
    unseen = dataset.collate_fn([dataset[i] for i in range(24)])["img"].float() / 255  # val2017: never trained on
    before = retention(thinned_child, parent.model, unseen)
    gap_before = (lambda d: d["classes"] - d["classes_floor"])(divergence(thinned_child, parent.model, unseen))
    report = distill(thinned_child, parent.model, coco_mini, imgsz=SIZE, settings=DistillSettings(steps=60, batch=8))
    after = retention(thinned_child, parent.model, unseen)
    gap_after = (lambda d: d["classes"] - d["classes_floor"])(divergence(thinned_child, parent.model, unseen))
    assert report.steps == 60 and report.images == 480 and report.last_loss < report.first_loss
    assert after.parent_detections >= 30
    assert after.fraction >= 0.05 and after.fraction > before.fraction + 0.05, (before, after)  # seen: 0 -> 7 of 88
    assert gap_after < 0.85 * gap_before, (gap_before, gap_after)  # seen: 0.082 -> 0.059


def test_train_with_teacher_end_to_end(parent, thinned_child, coco8, tmp_path: Path):
    student = save_checkpoint(thinned_child, tmp_path / "w075.pt")
    teacher = shared_checkpoint("yolo11n.pt")
    run = detnas(
        "train",
        str(student),
        "--teacher",
        str(teacher),
        "--data",
        str(coco8),
        "--epochs",
        "1",
        "--imgsz",
        "160",
        "--batch",
        "4",
        "--project",
        str(tmp_path / "runs"),
        "--name",
        "kd",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    record = json.loads((tmp_path / "runs" / "kd" / "distill.json").read_text())
    assert record["report"]["steps"] == 1 and record["report"]["distilled_classes"] is True
    last = tmp_path / "runs" / "kd" / "weights" / "last.pt"
    trained = torch.load(last, weights_only=False)["model"]
    changed = [k for k, v in trained.state_dict().items() if not torch.equal(v, thinned_child.state_dict()[k])]
    assert changed, "distillation changed no weight"
    assert "mAP50-95 on --data's val" in run.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--label-weight", "0.5"], "--label-weight applies only with --teacher"),
        (["--teacher", "missing.pt"], "missing.pt"),
        (["--teacher", "yolo11n.pt", "--label-weight", "-1"], "--label-weight must be >= 0"),
    ],
)
def test_bad_teacher_options_are_one_line(coco8, tmp_path: Path, extra, message):
    student = shared_checkpoint("yolo11n.pt")
    if "yolo11n.pt" in extra:
        extra = [str(student) if e == "yolo11n.pt" else e for e in extra]
    run = detnas(
        "train", str(student), "--data", str(coco8), "--epochs", "1", "--project", str(tmp_path), *extra, timeout=300
    )
    assert run.returncode == 2, run.stderr[-1000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], run.stderr


def test_search_evaluation_distils_a_sliced_candidate(tmp_path: Path, coco_mini: Path):
    """``--distill auto`` in an evaluation: the sliced candidate is distilled from the parent it inherited from
    (a phase of its own, with its report in the inheritance record) before it is scored."""
    from detnas import designs
    from detnas.architecture import write_yaml
    from detnas.evaluate import Recipe, evaluate_candidate

    arch = write_yaml(thinned(designs.yolo11n(), width=0.75), tmp_path / "w075.yaml")
    evaluation = evaluate_candidate(
        arch,
        coco_mini,
        Recipe(imgsz=256, batch=16, distill="auto"),
        workdir=tmp_path / "eval",
        latency_backend=None,
        proxy="pretrained-zero",
        parents=[shared_checkpoint("yolo11n.pt")],
    )
    assert evaluation.status == "ok", evaluation.failure_reason
    assert evaluation.phase_seconds.get("distill", 0) > 0
    record = json.loads((tmp_path / "eval" / "result.json").read_text())["inheritance"]
    assert record["reconstruction"]["layers"] > 50
    report = record["distillation"]
    assert report["steps"] == 5 and report["images"] == 80 and report["distilled_classes"] is True  # 80 images / 16
