"""Reconstruction of sliced layers, judged by detection quality on images the fit never saw (coco_mini val2017
images; the fit uses train2017 images): the class and box divergence from the parent (``detnas.inherit.divergence``)
and the share of the parent's detections kept (``detnas.inherit.retention``), not an L2 of decoded outputs, which
the boxes' pixel coordinates dominate."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from detnas.architecture import build_model
from detnas.designs import thinned
from detnas.inherit.candidate import inherit
from detnas.inherit.checkpoint import load_parent
from detnas.inherit.divergence import divergence
from detnas.inherit.reconstruct import reconstruct
from detnas.inherit.retention import retention
from detnas.inherit.transfer import transfer
from detnas.proxies.training_free import real_batches
from detnas.proxies.val_loss import letterboxed_dataset
from tests.helpers import shared_checkpoint

pytestmark = pytest.mark.slow
SIZE = 320


@pytest.fixture(scope="module")
def parent():
    return load_parent(shared_checkpoint("yolo11n.pt"))


@pytest.fixture(scope="module")
def fit(coco_mini):
    return real_batches(coco_mini, imgsz=SIZE, batch=32, count=1, seed=0)[0]["img"]


@pytest.fixture(scope="module")
def unseen(coco_mini):
    """24 val2017 images: no fit below ever sees them."""
    dataset = letterboxed_dataset(coco_mini, "val", imgsz=SIZE, batch=24)
    return dataset.collate_fn([dataset[i] for i in range(24)])["img"].float() / 255


def _p4_thinned(genome):
    """YOLO11n with its P4 stage 0.75 wide: one sliced stage, the rest copied."""
    stages = list(genome.backbone.stages)
    stages[2] = dataclasses.replace(
        stages[2], down_channels=96, block=dataclasses.replace(stages[2].block, channels=96)
    )
    return dataclasses.replace(genome, backbone=dataclasses.replace(genome.backbone, stages=tuple(stages)))


def _name(model, module) -> str:
    return next(n for n, m in model.named_modules() if m is module)


def test_one_sliced_stage_keeps_more_detections_after_reconstruction(parent, fit, unseen):
    child_genome = _p4_thinned(parent.genome)
    torch.manual_seed(0)
    sliced = build_model(child_genome, nc=80)
    tally = transfer(sliced, child_genome, parent.model, parent.genome)
    refitted = copy.deepcopy(sliced)
    pairs = [dataclasses.replace(p, child=dict(refitted.named_modules())[_name(sliced, p.child)]) for p in tally.pairs]
    report = reconstruct(refitted, parent.model, pairs, fit)
    assert report.layers > 20 and report.heldout_images == 8
    assert report.heldout_error_after < report.heldout_error_before  # measured on images the fit left out
    before, after = divergence(sliced, parent.model, unseen), divergence(refitted, parent.model, unseen)
    gap = lambda d: d["classes"] - d["classes_floor"]  # noqa: E731 - class error above the parent's own entropy
    assert gap(after) < 0.7 * gap(before), (before, after)
    assert after["boxes"] < before["boxes"], (before, after)
    kept_before, kept_after = retention(sliced, parent.model, unseen), retention(refitted, parent.model, unseen)
    assert kept_after.parent_detections >= 30
    assert kept_after.fraction > kept_before.fraction + 0.1, (kept_before, kept_after)


def test_unchanged_network_is_not_touched(parent, fit):
    model, inheritance = inherit(parent.genome, [parent], nc=80, images=lambda: fit)
    assert inheritance.reconstruction is None  # nothing sliced: the copy is the parent
    a, b = model.state_dict(), parent.model.state_dict()
    assert all(torch.equal(a[k].float(), b[k].float()) for k in a)


def test_thinned_yolo11n_class_scores_come_closer_not_further(parent, fit, unseen):
    """Width 0.75 everywhere: a reconstruction without held-apart ridge and intercept blew the class logits up on
    unseen images (divergence 938 where the plain slice read 6: thousands of false detections)."""
    slim = thinned(parent.genome, width=0.75)
    plain, _ = inherit(slim, [parent], nc=80)
    model, inheritance = inherit(slim, [parent], nc=80, images=lambda: fit)
    assert inheritance.reconstruction is not None and inheritance.reconstruction["layers"] > 50
    before, after = divergence(plain, parent.model, unseen), divergence(model, parent.model, unseen)
    gap = lambda d: d["classes"] - d["classes_floor"]  # noqa: E731 - class error above the parent's own entropy
    assert gap(after) < 0.75 * gap(before), (before, after)  # seen: 0.131 -> 0.081
    assert after["boxes"] < 0.5 * before["boxes"], (before, after)  # seen: 5.80 -> 1.49
    assert retention(model, parent.model, unseen).child_detections < 10 * 24  # no flood of false detections
